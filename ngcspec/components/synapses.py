"""Dense synapses: a weight matrix between two populations, optionally Hebbian-plastic.

Kinds: :class:`DenseSynapse`, :class:`StaticSynapse` (the same, named for fixed weights such as
feedback paths) and :class:`HebbianSynapse` (two-factor Hebbian plasticity with a soft bound,
a weight prior and an sgd/adam optimizer whose state lives in the synapse's compartments).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, PositiveInt, model_validator)

from ngcspec.components import connectivity, initializers, optimizers
from ngcspec.components.initializers import UniformInit, WeightInit
from ngcspec.lazy import jnp, random
from ngcspec.params import Static
from ngcspec.registry import (Component, ComponentParams, In, Out, State, Weight, register)


def _default_weight_init():
    return UniformInit(dist="uniform", low=0.025, high=0.8)


def _schema_lists_alias(schema: dict) -> None:
    # validation_alias only puts the first name in the JSON Schema; editors should accept the
    # alias too, as validation does.
    props = schema.get("properties", {})
    if "resist_scale" in props:
        props["g_conduct_factor"] = {**props["resist_scale"], "title": "G Conduct Factor",
                                     "description": "alias of resist_scale (give one of them)"}


class DenseParams(ComponentParams):
    model_config = ConfigDict(json_schema_extra=_schema_lists_alias)

    shape: tuple[PositiveInt, PositiveInt] = Field(
        description="(n_in, n_out): numbers of pre-synaptic (input) and post-synaptic (output) "
                    "units")
    weight_init: WeightInit = Field(
        default_factory=_default_weight_init,
        description="initialiser of the weights, e.g. {dist: gaussian, std: 0.05} "
                    "(default uniform on [0.025, 0.8))")
    bias_init: WeightInit | None = Field(
        None, description="initialiser of the biases; null means no bias (zeros, never learned)")
    resist_scale: float = Field(
        1.0, validation_alias=AliasChoices("resist_scale", "g_conduct_factor"),
        description="scale of the matrix product, out = (in @ W) * resist_scale + b; "
                    "ngc-learn 3.x's name g_conduct_factor is accepted as an alias")
    p_conn: Annotated[float, Static] = Field(
        1.0, gt=0.0, le=1.0,
        description="probability that a connection exists; each entry of W is kept with this "
                    "probability by a mask drawn once at init (1 = all connected)")


class _DenseBase(Component):
    family = "synapses"
    Params = DenseParams
    compartments = {
        "inputs": In("shape[0]", "pre-synaptic signal, (B, n_in)"),
        "outputs": Out("shape[1]", "(inputs @ (weights * mask)) * resist_scale + biases"),
        "weights": Weight("shape[0], shape[1]", "synaptic efficacies W, (n_in, n_out)"),
        "biases": Weight("shape[1]", "bias b, (n_out,); zeros when bias_init is null"),
        "mask": Weight("shape[0], shape[1]",
                       "connectivity, 1 = connected; Bernoulli(p_conn) drawn once at init"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        out = [("weight_init", msg) for msg in initializers.problems(p.weight_init, p.shape)]
        if p.bias_init is not None:
            out += [("bias_init", msg)
                    for msg in initializers.problems(p.bias_init, (p.shape[1],))]
        return out

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        n_in, n_out = p.shape
        k_w, k_b, k_mask = random.split(key, 3)
        if p.p_conn < 1.0:
            # row by row, from the streams the connection-list synapses draw from (one network)
            mask = connectivity.draw_mask(k_mask, p.p_conn, (n_in, n_out), dtype)
        else:
            mask = jnp.ones((n_in, n_out), dtype)
        weights = initializers.draw(p.weight_init, (n_in, n_out), k_w, dtype) * mask
        if p.bias_init is None:
            biases = jnp.zeros((n_out,), dtype)
        else:
            biases = initializers.draw(p.bias_init, (n_out,), k_b, dtype)
        return {"weights": weights, "biases": biases, "mask": mask}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        w = s["weights"]
        if p.p_conn < 1.0:
            # Keeps pruned entries silent even if something outside the synapse (a tie, a
            # loaded checkpoint) wrote into them; with full connectivity this is skipped.
            w = w * s["mask"]
        return {"outputs": (s["inputs"] @ w) * p.resist_scale + s["biases"]}


_DENSE_DEVIATIONS = """
    Deviations from ngc-learn:

    - ``p_conn`` is a persistent ``mask`` compartment drawn once at init (Bernoulli(p_conn)),
      multiplied into the weights at init and, when p_conn < 1, at every advance. In
      ngc-learn many subclasses pass ``p_conn`` positionally into the slot of
      ``p_release_mean``, so ``p_conn < 1`` switches on a stochastic-release path that crashes
      and ``p_conn`` itself does nothing.
    - The parameter is called ``resist_scale`` as in the seed documentation;
      ``g_conduct_factor`` (ngc-learn 3.x's name) is accepted as an alias.
    - ``batch_size`` is not a parameter: the batch size is fixed by the data at run time.
    - ``biases`` has shape (n_out,) and is zeros when ``bias_init`` is null (ngc-learn keeps a
      scalar 0 or a (1, n_out) row).
    - ``inputs`` is a read-only view of its wire; reset never writes into the source.
    - The 3.x extras ``gate``, ``p_release_mean`` and ``max_delay_steps`` are not provided.
"""


@register
class DenseSynapse(_DenseBase):
    __doc__ = """A dense synaptic cable without plasticity.

    outputs = (inputs @ (W * mask)) * resist_scale + b

    Compartments: inputs (B, n_in), outputs (B, n_out); persistent weights (n_in, n_out),
    biases (n_out,) and mask (n_in, n_out).
    """ + _DENSE_DEVIATIONS


@register
class StaticSynapse(_DenseBase):
    __doc__ = """A dense synaptic cable with fixed weights (DenseSynapse under another name).

    outputs = (inputs @ (W * mask)) * resist_scale + b

    Used for paths that never learn, e.g. feedback weights tied to the transpose of a forward
    synapse. Compartments as DenseSynapse.
    """ + _DENSE_DEVIATIONS


# ---------------------------------------------------------------------------------------------
# HebbianSynapse

_PRIOR_FAMILY = {
    "l1": "l1", "lasso": "l1", "laplacian": "l1",
    "l2": "l2", "ridge": "l2", "gaussian": "l2",
    "l1l2": "elastic_net", "elastic_net": "elastic_net",
    "constant": "none", "none": "none",
}
PriorName = Literal["l1", "lasso", "laplacian", "l2", "ridge", "gaussian", "l1l2", "elastic_net",
                    "constant", "none"]


class WeightPrior(BaseModel):
    """A weight prior; its gradient R is added to the Hebbian product before sign_value.

    Written ``[l1, 0.01]``, ``[elastic_net, 0.01, 0.5]``, ``[elastic_net, [0.01, 0.5]]`` or
    ``{name: elastic_net, lmbda: 0.01, l1_ratio: 0.5}``; null means no prior.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PriorName = Field(
        "none", description="l1/lasso/laplacian, l2/ridge/gaussian, l1l2/elastic_net, "
                            "constant/none")
    lmbda: float = Field(0.0, ge=0.0, description="strength of the prior")
    l1_ratio: float = Field(0.5, ge=0.0, le=1.0,
                            description="elastic net only: weight of the L1 part")

    @model_validator(mode="before")
    @classmethod
    def _from_short_forms(cls, data: Any) -> Any:
        if data is None:
            return {"name": "none"}
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, (list, tuple)):
            if not 1 <= len(data) <= 3:
                raise ValueError("a prior is written [name], [name, lmbda] or "
                                 "[name, lmbda, l1_ratio]")
            out: dict[str, Any] = {"name": data[0]}
            rest = list(data[1:])
            if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
                rest = list(rest[0])  # ngc-learn's ("l1l2", (scale, l1_ratio))
            if len(rest) > 2:
                raise ValueError("a prior takes at most lmbda and l1_ratio")
            out.update(zip(("lmbda", "l1_ratio"), rest))
            return out
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        # The schema editors see must also allow the short forms the validator accepts.
        full = handler(core_schema)
        short = {"type": "array", "minItems": 1, "maxItems": 3,
                 "prefixItems": [{"enum": list(_PRIOR_FAMILY)}],
                 "description": "[name], [name, lmbda], [name, lmbda, l1_ratio] or "
                                "[name, [lmbda, l1_ratio]]"}
        return {"anyOf": [full, short, {"enum": list(_PRIOR_FAMILY)}, {"type": "null"}]}

    @property
    def family(self) -> str:
        """Canonical name: "l1", "l2", "elastic_net" or "none"."""
        return _PRIOR_FAMILY[self.name]


class HebbianParams(DenseParams):
    eta: float = Field(0.0, description="learning rate of the optimizer")
    w_bound: float = Field(
        1.0, description="weight bound: when > 0, the soft bound (w_bound - |W|) scales the "
                         "Hebbian product and W is clipped to [-w_bound, w_bound] "
                         "([0, w_bound] if is_nonnegative); 0 turns both off")
    is_nonnegative: bool = Field(
        False, description="clip W to [0, w_bound] instead of [-w_bound, w_bound] "
                           "(no effect when w_bound = 0)")
    prior: WeightPrior = Field(
        default_factory=WeightPrior,
        description="weight prior, e.g. [l1, 0.01] or {name: elastic_net, lmbda: 0.01, "
                    "l1_ratio: 0.5}; null for none")
    w_decay: Annotated[float, Static] = Field(
        0.0, ge=0.0, description="deprecated: w_decay > 0 means prior [l2, w_decay]")
    sign_value: float = Field(
        1.0, description="multiplies the update before the optimizer subtracts it; -1 turns "
                         "the subtracted Hebbian product into ascent (PC and regression usage)")
    optim_type: optimizers.Name = Field(
        "sgd", description=f"optimizer: {' or '.join(optimizers.NAMES)}")
    pre_wght: float = Field(1.0, description="scale of the pre-synaptic factor")
    post_wght: float = Field(1.0, description="scale of the post-synaptic factor")

    @model_validator(mode="before")
    @classmethod
    def _w_decay_is_l2(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("w_decay"):
            return data
        l2 = WeightPrior(name="l2", lmbda=data["w_decay"])
        prior = data.get("prior")
        if prior is not None:
            given = WeightPrior.model_validate(prior)
            # Re-validating an already resolved model sees its own l2 prior again: fine.
            if given.family != "none" and (given.family, given.lmbda) != ("l2", l2.lmbda):
                raise ValueError("give either prior or the deprecated w_decay, not both")
        return {**data, "prior": l2}


@register
class HebbianSynapse(_DenseBase):
    """A dense synaptic cable with two-factor Hebbian plasticity.

    advance:  outputs = (inputs @ (W * mask)) * resist_scale + b
    evolve (once per call, dt unused):

        H  = (pre * pre_wght)^T @ (post * post_wght)          summed over the batch
        db = sum_batch(post * post_wght)
        H  = H * (w_bound - |W|)                              if w_bound > 0 (soft bound)
        R  = -lmbda W                                         l2 / ridge / gaussian
             -lmbda sign(W)                                   l1 / lasso / laplacian
             -lmbda (l1_ratio sign(W) + (1 - l1_ratio)/2 W)   elastic_net / l1l2
             0                                                none / constant
        dW = (H + R) * sign_value,   dB = db * sign_value
        W, b <- optimizer step subtracting eta * step(dW, dB)  (b only with a bias_init)
        W <- clip(W, 0 or -w_bound, w_bound)                  if w_bound > 0
        W <- W * mask

    With sgd, W <- W - eta * sign_value * [(pre^T post) (w_bound - |W|) + R]: sign_value = -1
    is ascent on the Hebbian product with a decaying prior, the form PC circuits and the
    regression modules use. With sign_value = +1 the prior makes weights grow (kept as in
    ngc-learn). Updates are summed over the batch, not averaged (kept as in ngc-learn).

    Compartments: inputs (B, n_in), outputs (B, n_out), pre (B, n_in), post (B, n_out) are
    batched inputs/outputs; dWeights (n_in, n_out) and dBiases (n_out,) hold the last update
    (zeroed by reset); weights, biases, mask and the optimizer state (opt_count, opt_mW,
    opt_vW, opt_mb, opt_vb; the moments stay zero under sgd) are persistent.

    Deviations from ngc-learn:

    - ``p_conn`` is a persistent ``mask`` compartment, re-applied after every evolve, so
      pruned connections stay pruned. ngc-learn multiplies the mask in once at init without
      keeping it, so Hebbian updates regrow pruned weights.
    - The optimizer state lives in persistent compartments of the synapse: it survives reset
      (as in ngc-learn), is carried across batches, and is saved with the other persistent
      compartments (ngc-learn does not save it).
    - ``eta``, ``w_bound``, ``sign_value``, the prior strength and the factor weights are
      traced parameters: changing them does not recompile (ngc-learn freezes them when it
      compiles).
    - Reset zeroes pre/post/inputs in the synapse only; it never writes into the wired
      sources (ngc-learn's compiled reset does).
    - ``resist_scale``/``g_conduct_factor``, ``batch_size`` and ``biases`` as DenseSynapse.
    """

    Params = HebbianParams
    plastic = True
    compartments = {
        **_DenseBase.compartments,
        "pre": In("shape[0]", "pre-synaptic factor of the Hebbian product, (B, n_in)",
                  evolve_only=True),
        "post": In("shape[1]", "post-synaptic factor of the Hebbian product, (B, n_out)",
                   evolve_only=True),
        "dWeights": State("shape[0], shape[1]", "last weight update dW (before eta)",
                          batched=False),
        "dBiases": State("shape[1]", "last bias update dB (before eta)", batched=False),
        **optimizers.compartments({"W": ("shape[0], shape[1]", "W"), "b": ("shape[1]", "b")}),
    }

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        out = super().init(p, key, dtype)
        n_in, n_out = p.shape
        return {**out, **optimizers.initial_state({"W": (n_in, n_out), "b": (n_out,)}, dtype)}

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        w = s["weights"]
        pre = s["pre"] * p.pre_wght
        post = s["post"] * p.post_wght
        hebb = pre.T @ post
        db = jnp.sum(post, axis=0)
        w_bound = p.w_bound
        hebb = jnp.where(w_bound > 0, hebb * (w_bound - jnp.abs(w)), hebb)

        prior = p.prior
        family = _PRIOR_FAMILY[prior.name]
        if family == "l2":
            reg = -prior.lmbda * w
        elif family == "l1":
            reg = -prior.lmbda * jnp.sign(w)
        elif family == "elastic_net":
            reg = -prior.lmbda * (prior.l1_ratio * jnp.sign(w) + (1 - prior.l1_ratio) / 2 * w)
        else:
            reg = 0.0
        d_w = (hebb + reg) * p.sign_value
        d_b = db * p.sign_value

        out = optimizer_step(p, s, w, d_w, d_b)
        out["weights"] = out["weights"] * s["mask"]
        return out


def optimizer_step(p, s, w, d_w, d_b) -> dict:
    """One step of ``p.optim_type`` on the weights ``w`` (and the biases when a bias_init was
    given) with updates ``d_w``, ``d_b``, then the w_bound clip; returns the compartments it
    changes: weights, biases, dWeights, dBiases and the optimizer state. Shared by every
    Hebbian-style synapse (dense, patched, convolutional)."""
    learn_bias = p.bias_init is not None
    params, grads = {"W": w}, {"W": d_w}
    if learn_bias:
        params["b"], grads["b"] = s["biases"], d_b
    new, state = optimizers.apply(p.optim_type, s, params, grads, p.eta)

    w_bound = p.w_bound
    lower = 0.0 if p.is_nonnegative else -w_bound
    out = {"weights": jnp.where(w_bound > 0, jnp.clip(new["W"], lower, w_bound), new["W"]),
           "dWeights": d_w, "dBiases": d_b, **state}
    if learn_bias:
        out["biases"] = new["b"]
    return out
