"""Graded (real-valued, non-spiking) neurons: rate cells, error cells, noisy and reward cells.

The kinds of ngc-learn's ``neurons.graded`` package, following the reference sheet
(components.md §4). Population compartments have one value per unit (``n_units``, or the
``shape`` (H, W, C) of an image-shaped cell) and a leading batch axis; losses are unbatched
scalars summed over the batch and the units, as in ngc-learn.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from ngcspec.components import activations
from ngcspec.components.activations import ActFx
from ngcspec.components.integrators import IntegrationType, integrate
from ngcspec.components.population import ImageShape, Population, image_shape_field
from ngcspec.lazy import jnp, lax, random
from ngcspec.registry import ComponentParams, In, Out, State, register

FAMILY = "graded neurons"

#: Probabilities are clipped to [P_EPS, 1 - P_EPS] before taking logs (as in ngc-learn).
P_EPS = 1e-4

# ---------------------------------------------------------------------------------------------
# Pair-valued parameters: ``prior: [laplacian, 0.001]`` or ``{name: laplacian, leak: 0.001}``.
# A nested model keeps the number traced while the name stays structural.

def _pair_validator(first: str, second: str):
    def parse(cls, value):
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"expected [{first}, {second}], got {len(value)} items")
            return {first: value[0], second: value[1]}
        return value
    return model_validator(mode="before")(classmethod(parse))


def _pair_json_schema(first: str, second: str):
    def schema(cls, core_schema, handler):
        as_object = handler(core_schema)
        as_object = handler.resolve_ref_schema(as_object)
        names = as_object["properties"][first]
        as_list = {"type": "array", "minItems": 2, "maxItems": 2,
                   "prefixItems": [{k: v for k, v in names.items() if k != "default"},
                                   {"type": "number"}],
                   "items": False}
        return {"anyOf": [dict(as_object), as_list],
                "description": as_object.get("description", "")}
    return classmethod(schema)


class ActivityPrior(ComponentParams):
    """Centred prior over z, as a [name, leak] pair; its score -leak * psi(z) enters dz/dt."""

    name: Literal["gaussian", "laplacian", "cauchy", "exp"] = Field(
        "gaussian", description="psi(z): gaussian z, laplacian sign(z), cauchy 2z/(1+z^2), "
                                "exp 2z*exp(-z^2)")
    leak: float = Field(0.0, description="gamma, the weight of the prior's pull on z")

    _parse = _pair_validator("name", "leak")
    __get_pydantic_json_schema__ = _pair_json_schema("name", "leak")


class Threshold(ComponentParams):
    """Thresholding of z after each integration step, as a [name, lmbda] pair."""

    name: Literal["none", "soft_threshold", "cauchy_threshold"] = Field(
        "none", description="none; soft_threshold sign(z)*max(|z|-lmbda, 0); cauchy_threshold "
                            "sign(z)*(|z|+sqrt(z^2-lmbda))/2 where z^2 >= lmbda, else 0")
    lmbda: float = Field(0.0, description="threshold strength lambda")

    _parse = _pair_validator("name", "lmbda")
    __get_pydantic_json_schema__ = _pair_json_schema("name", "lmbda")


_PRIOR_SCORE = {
    "gaussian": lambda z: z,
    "laplacian": lambda z: jnp.sign(z),
    "cauchy": lambda z: 2.0 * z / (1.0 + z * z),
    "exp": lambda z: 2.0 * z * jnp.exp(-z * z),
}


def soft_threshold(z, lmbda):
    return jnp.sign(z) * jnp.maximum(jnp.abs(z) - lmbda, 0.0)


def cauchy_threshold(z, lmbda):
    # Larger root of u^2 - |z| u + lmbda/4 = 0 (the non-zero stationary point of
    # (u - z)^2 / 2 + (lmbda / 4) ln|u|); where it is not real the unit is set to 0.
    # The sqrt sees 1 where the root is not used, so gradients stay finite there.
    gap = z * z - lmbda
    real = gap >= 0
    root = 0.5 * (jnp.abs(z) + jnp.sqrt(jnp.where(real, gap, 1.0)))
    return jnp.where(real, jnp.sign(z) * root, 0.0)


_THRESHOLD = {
    "none": lambda z, lmbda: z,
    "soft_threshold": soft_threshold,
    "cauchy_threshold": cauchy_threshold,
}


# ---------------------------------------------------------------------------------------------

@register
class RateCell(Population):
    """Rate-coded state z driven by input pressures, the workhorse of predictive coding.

    Stateful (tau_m > 0): with j_mod = j * f'(z) * resist_scale taken at the current z and
    held, like j_td, constant across integrator stages,

        tau_m dz/dt = -gamma * psi(z) + j_mod + j_td

    is stepped by ``integration_type``, then the optional threshold is applied, and
    zF = f(z) * output_scale. The prior's score psi is z (gaussian), sign(z) (laplacian),
    2z/(1+z^2) (cauchy) or 2z exp(-z^2) (exp), weighted by gamma = prior[1].
    Only the bottom-up ``j`` is modulated by f'(z), not ``j_td`` (as in ngc-learn's code,
    whatever its help text says). Stateless (tau_m <= 0 or is_stateful false):
    z = j + j_td and zF = f(z) * output_scale, with no modulation, prior or threshold.
    softmax and bkwta act on the last axis (the units, or the channels of an image cell).

    Deviations from ngc-learn: every integration_type runs the scheme it names (ngc-learn
    runs Euler for "rk4" and RK4 for "heun"); any tau_m <= 0, integer or float, selects the
    stateless mode (ngc-learn keeps an integer 0 stateful and divides by zero); the
    modulated j is not written back into ``j`` (inputs are read-only views, so the upstream
    synapse's output is left intact); cauchy_threshold works (ngc-learn crashes) and is
    gated at z^2 >= lambda, where its square root is real, instead of |z| >= lambda;
    ``sine`` uses ``omega_0`` (ngc-learn requires it, then uses 30); softmax is rejected in
    the stateful mode, whose f'(z) would be a Jacobian; unknown prior, threshold,
    activation or integrator names are errors instead of silent fallbacks to gaussian,
    none or Euler; ``shape`` must hold n_units units; the lateral-inhibition options are
    left out: wire a synapse from zF back to j instead.
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        tau_m: float = Field(..., description="membrane/state time constant (ms); <= 0 makes "
                                              "the cell stateless")
        prior: ActivityPrior = Field(ActivityPrior(), description="[name, leak]: centred prior over z and its "
                                                  "weight gamma")
        act_fx: ActFx = Field("identity", description="activation f giving zF = f(z)")
        output_scale: float = Field(1.0, description="factor applied to f(z)")
        threshold: Threshold = Field(Threshold(), description="[name, lambda]: thresholding "
                                                              "applied to z after each step")
        integration_type: IntegrationType = Field("euler", description="ODE integrator")
        resist_scale: float = Field(1.0, description="factor applied to the modulated j")
        shape: ImageShape | None = image_shape_field()
        is_stateful: bool = Field(True, description="false forces the stateless mode")
        omega_0: float = Field(30.0, description="frequency of the sine activation")

    compartments = {
        "j": In("n_units", "bottom-up pressure, modulated by f'(z)"),
        "j_td": In("n_units", "top-down pressure, added unmodulated"),
        "z": State("n_units", "rate activity"),
        "zF": Out("n_units", "f(z) * output_scale"),
    }

    @classmethod
    def structure(cls, p) -> tuple:
        return (("stateless", float(p.tau_m) <= 0 or not p.is_stateful),)

    @classmethod
    def _stateless(cls, p) -> bool:
        return cls.structural(p, "stateless")

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        problems = super().check(p)
        if p.act_fx not in activations.ELEMENTWISE_DERIVATIVE and not cls._stateless(p):
            problems.append(("act_fx", f"{p.act_fx}'s derivative is a Jacobian, not an "
                                       "elementwise factor, so it cannot modulate j in a stateful "
                                       "cell; use it with tau_m <= 0 (stateless) or pick another"))
        return problems

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        f, df = activations.get(p.act_fx, omega_0=p.omega_0)
        j, j_td = s["j"], s["j_td"]
        if cls._stateless(p):
            z = j + j_td
        else:
            z = s["z"]
            j_mod = j * df(z) * p.resist_scale
            score, gamma, tau_m = _PRIOR_SCORE[p.prior.name], p.prior.leak, p.tau_m

            def dz_dt(z):
                return (-gamma * score(z) + j_mod + j_td) / tau_m

            z = integrate(p.integration_type, dz_dt, z, ctx.dt)
            z = _THRESHOLD[p.threshold.name](z, p.threshold.lmbda)
        return {"z": z, "zF": f(z) * p.output_scale}


# ---------------------------------------------------------------------------------------------
# Error cells: fixed-point mismatch signals. The derivatives they emit are scaled by
# modulator * mask; the loss is not. A mask lasts one step: after a step it reads 1 again.

def _gate(s):
    return s["modulator"] * s["mask"]


def _gate_compartments() -> dict:
    return {
        "modulator": In("n_units", "multiplies the emitted derivatives", reset=1.0),
        # consumed: the step that reads the mask sets it back to 1 (the one input a step
        # writes), so a gate set by a clamp or a wire lasts exactly one step
        "mask": In("n_units", "gates the emitted derivatives for one step, then reads 1",
                   reset=1.0, consumed=True),
    }


@register
class GaussianErrorCell(Population):
    """Gaussian mismatch between a target and a prediction mu with variance Sigma.

        e = target - mu,  dmu = e / Sigma,  dtarget = -dmu,
        L = -1/2 * sum_{b,i} e^2 / Sigma,  dSigma = dL/dSigma = 1/2 * sum_{b,i} e^2 / Sigma^2

    dmu and dtarget are then multiplied by modulator * mask; L and dSigma are not. Sigma is
    an input holding ``sigma`` unless something drives it, and ``sigma`` is used as the
    variance itself (not squared), as in ngc-learn. The mask is consumed by a step: it
    reads 1 afterwards unless driven again.

    Deviations from ngc-learn: dSigma is the derivative of L with respect to Sigma
    (ngc-learn emits a constant 1 there); reset does not write zeros into the sources wired
    to mu and target (inputs are read-only views); Sigma is a scalar.
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        sigma: float = Field(1.0, gt=0, description="fixed variance used while nothing drives "
                                                    "Sigma (a variance, not squared)")
        shape: ImageShape | None = image_shape_field()

    compartments = {
        "mu": In("n_units", "prediction"),
        "target": In("n_units", "desired value"),
        "Sigma": In("", "variance (scalar)", reset="sigma", batched=False),
        **_gate_compartments(),
        "dmu": Out("n_units", "dL/dmu = (target - mu) / Sigma, gated"),
        "dtarget": Out("n_units", "dL/dtarget = -dmu, gated"),
        "dSigma": Out("", "dL/dSigma", batched=False),
        "L": Out("", "log-likelihood up to constants, summed over batch and units",
                 batched=False),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        e = s["target"] - s["mu"]
        var = s["Sigma"]
        dmu = e / var
        gate = _gate(s)
        sq = jnp.sum(e * e)
        return {"dmu": dmu * gate, "dtarget": -dmu * gate, "L": -0.5 * sq / var,
                "dSigma": 0.5 * sq / (var * var), "mask": jnp.ones_like(s["mask"])}


@register
class LaplacianErrorCell(Population):
    """Laplacian mismatch between a target and a predicted shift with scale Scale.

        e = target - shift,  dshift = sign(e) / Scale,  dtarget = -dshift,
        L = -sum_{b,i} |e| / Scale,  dScale = dL/dScale = sum_{b,i} |e| / Scale^2

    dshift and dtarget are multiplied by modulator * mask; L and dScale are not. Scale holds
    ``scale`` unless driven; the mask reads 1 again after each step.

    Deviations from ngc-learn: L is the L1 mismatch -sum|target - shift| / Scale (ngc-learn
    sums |sign(e)|, counting mismatched units instead); dScale is the derivative of L
    (ngc-learn emits 1); reset leaves the wired sources alone; Scale is a scalar.
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        scale: float = Field(1.0, gt=0, description="fixed scale used while nothing drives "
                                                    "Scale")

    compartments = {
        "shift": In("n_units", "prediction (location)"),
        "target": In("n_units", "desired value"),
        "Scale": In("", "scale (scalar)", reset="scale", batched=False),
        **_gate_compartments(),
        "dshift": Out("n_units", "dL/dshift = sign(target - shift) / Scale, gated"),
        "dtarget": Out("n_units", "dL/dtarget = -dshift, gated"),
        "dScale": Out("", "dL/dScale", batched=False),
        "L": Out("", "log-likelihood up to constants, summed over batch and units",
                 batched=False),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        e = s["target"] - s["shift"]
        scale = s["Scale"]
        dshift = jnp.sign(e) / scale
        gate = _gate(s)
        l1 = jnp.sum(jnp.abs(e))
        return {"dshift": dshift * gate, "dtarget": -dshift * gate, "L": -l1 / scale,
                "dScale": l1 / (scale * scale), "mask": jnp.ones_like(s["mask"])}


@register
class BernoulliErrorCell(Population):
    """Bernoulli mismatch between binary targets x and predicted probabilities.

        q = clip(sigmoid(p) if input_logits else p, 1e-4, 1 - 1e-4)
        L = sum_{b,i} x ln q + (1 - x) ln(1 - q)
        dp = x - q                       (input_logits: dL/dlogit)
        dp = x / q - (1 - x) / (1 - q)   (probabilities: dL/dq)
        dtarget = ln q - ln(1 - q)

    dp and dtarget are multiplied by modulator * mask; L is not. The mask reads 1 again
    after each step.

    Deviations from ngc-learn: with probabilities as input, dp is dL/dq; ngc-learn also
    multiplies it by sigmoid'(p), the derivative of a sigmoid that was never applied.
    Reset leaves the wired sources alone.
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        input_logits: bool = Field(False, description="p holds logits: q = sigmoid(p)")

    compartments = {
        "p": In("n_units", "predicted probability of 1 (or its logit)"),
        "target": In("n_units", "observed value in [0, 1]"),
        **_gate_compartments(),
        "dp": Out("n_units", "dL/dp, gated"),
        "dtarget": Out("n_units", "dL/dtarget = ln q - ln(1 - q), gated"),
        "L": Out("", "log-likelihood summed over batch and units", batched=False),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        x = s["target"]
        q = lax.logistic(s["p"]) if p.input_logits else s["p"]
        q = jnp.clip(q, P_EPS, 1.0 - P_EPS)
        log_q, log_not_q = jnp.log(q), jnp.log1p(-q)
        if p.input_logits:
            dp = x - q
        else:
            dp = x / q - (1.0 - x) / (1.0 - q)
        gate = _gate(s)
        return {"dp": dp * gate, "dtarget": (log_q - log_not_q) * gate,
                "L": jnp.sum(x * log_q + (1.0 - x) * log_not_q),
                "mask": jnp.ones_like(s["mask"])}


# ---------------------------------------------------------------------------------------------

@register
class LeakyNoiseCell(Population):
    """Noisy leaky rate unit in the style of Song, Yang & Wang (2016).

        tau_x dx/dt = -leak_scale * x + j_recurrent + j_input + sqrt(2 tau_x sigma_pre^2) eps_pre
        r = f(x) + sigma_post * eps_post,   r_prime = f'(x)

    with eps_pre, eps_post ~ N(0, 1) independent, drawn once per step (held across
    integrator stages). As in ngc-learn, the noise is not scaled by sqrt(dt): with Euler
    the per-step standard deviation of x's noise is dt * sqrt(2 / tau_x) * sigma_pre.

    Deviations from ngc-learn: eps_pre and eps_post are independent draws (ngc-learn draws
    both from one subkey, so they are identical); every integration_type works (ngc-learn
    raises KeyError for ralston and rk4); ``sigma_rec`` of the older docs is
    ``sigma_pre``/``sigma_post``, as in ngc-learn's code; softmax is rejected because
    r_prime must be elementwise.
    """

    family = FAMILY
    stochastic = True

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        tau_x: float = Field(..., gt=0, description="state time constant (ms)")
        act_fx: ActFx = Field("relu", description="rectification f giving r = f(x) + noise")
        integration_type: IntegrationType = Field("euler", description="ODE integrator")
        sigma_pre: float = Field(0.1, description="std of the noise injected into dx/dt")
        sigma_post: float = Field(0.1, description="std of the noise added to the output r")
        leak_scale: float = Field(1.0, description="factor of the leak -x")

    compartments = {
        "j_input": In("n_units", "input (bottom-up) current"),
        "j_recurrent": In("n_units", "recurrent current"),
        "x": State("n_units", "noisy rate state"),
        "r": Out("n_units", "f(x) + sigma_post * eps_post"),
        "r_prime": Out("n_units", "f'(x)"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        if p.act_fx not in activations.ELEMENTWISE_DERIVATIVE:
            return [("act_fx", f"{p.act_fx}'s derivative is a Jacobian, but r_prime is "
                               "elementwise; pick another activation")]
        return []

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        f, df = activations.get(p.act_fx)
        k_pre, k_post = random.split(ctx.key)
        x = s["x"]
        eps_pre = random.normal(k_pre, x.shape, x.dtype)
        eps_post = random.normal(k_post, x.shape, x.dtype)
        drive = (s["j_input"] + s["j_recurrent"]
                 + jnp.sqrt(2.0 * p.tau_x * p.sigma_pre ** 2) * eps_pre)
        leak, tau_x = p.leak_scale, p.tau_x

        def dx_dt(x):
            return (-leak * x + drive) / tau_x

        x = integrate(p.integration_type, dx_dt, x, ctx.dt)
        return {"x": x, "r": f(x) + p.sigma_post * eps_post, "r_prime": df(x)}


@register
class RewardErrorCell(Population):
    """Reward prediction error against a moving-average prediction of the reward.

    advance:  rpe = reward - mu (the prediction before this step),
              accum_reward += reward,  n_ep_steps += 1,
              and with use_online_predictor: mu <- (1 - alpha) mu + alpha * reward.
    evolve:   without use_online_predictor:
              mu <- (1 - 1/L) mu + (1/L) * accum_reward / n_ep_steps,  L = ema_window_len;
              with it, evolve changes nothing.

    reset zeroes mu, rpe, accum_reward and n_ep_steps (as in ngc-learn the prediction lasts
    until the next reset).

    Deviations from ngc-learn: evolve updates the prediction when the online predictor is
    off, as ngc-learn's documentation says ("reward prediction will only occur upon a call
    to evolve"); ngc-learn's code inverts the condition, so the episodic update runs on top
    of the online one and never runs on its own. Before any step, evolve divides by
    max(n_ep_steps, 1) rather than by 0.
    """

    family = FAMILY
    plastic = True

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of units")
        alpha: float = Field(..., ge=0, le=1, description="weight of the new reward in the "
                                                          "online moving average")
        ema_window_len: PositiveInt = Field(10, description="window L of the episodic moving "
                                                            "average applied by evolve")
        use_online_predictor: bool = Field(True, description="update mu every step (true) or "
                                                             "once per evolve from the episode's "
                                                             "mean reward (false)")

    compartments = {
        "reward": In("n_units", "reward at this step"),
        "mu": Out("n_units", "predicted reward"),
        "rpe": Out("n_units", "reward prediction error reward - mu"),
        "accum_reward": Out("n_units", "reward accumulated since the last reset"),
        "n_ep_steps": State("1", "steps since the last reset"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        r, mu = s["reward"], s["mu"]
        out = {"rpe": r - mu, "accum_reward": s["accum_reward"] + r,
               "n_ep_steps": s["n_ep_steps"] + 1.0}
        if p.use_online_predictor:
            out["mu"] = (1.0 - p.alpha) * mu + p.alpha * r
        return out

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        if p.use_online_predictor:
            return {}
        w = 1.0 / p.ema_window_len
        mean_reward = s["accum_reward"] / jnp.maximum(s["n_ep_steps"], 1.0)
        return {"mu": (1.0 - w) * s["mu"] + w * mean_reward}
