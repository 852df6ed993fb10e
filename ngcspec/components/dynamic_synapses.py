"""Dynamic synapses: short-term plasticity and conductance-based synapses.

Kinds: :class:`STPDenseSynapse` (Tsodyks-Markram facilitation and depression of a dense
cable), and the conductance synapses :class:`ExponentialSynapse`, :class:`AlphaSynapse` and
:class:`DoubleExpSynapse`, whose current ``i_syn = -g (v - syn_rest)`` depends on the
post-synaptic voltage wired into their ``v`` input (reference sections 3.3 and 3.4).

All of them build on the dense synapse's parameters (``shape``, ``weight_init``,
``resist_scale``/``g_conduct_factor``, ``p_conn`` as a persistent mask) and reuse its
initialisation; their state is per sample, so the batch is free at run time.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field

from ngcspec.components import initializers
from ngcspec.components.initializers import UniformInit, WeightInit
from ngcspec.components.synapses import DenseParams, _DenseBase
from ngcspec.lazy import jnp, random
from ngcspec.registry import Component, In, Out, State, Weight, register

FAMILY = "synapses"


# ---------------------------------------------------------------------------------------------
# STPDenseSynapse

def _default_resources_init():
    return UniformInit(dist="uniform", low=0.125, high=0.175)


class STPParams(DenseParams):
    tau_f: float = Field(
        750.0, ge=0.0,
        description="short-term facilitation time constant (ms, or steps: see scale_by_dt); "
                    "0 disables facilitation (u = U at every step)")
    tau_d: float = Field(
        50.0, ge=0.0,
        description="short-term depression time constant (ms, or steps: see scale_by_dt); "
                    "0 disables depression (x stays at 1)")
    resources_init: WeightInit = Field(
        default_factory=_default_resources_init,
        validation_alias=AliasChoices("resources_init", "resources_int"),
        description="initialiser of the resources matrix U (baseline release probability per "
                    "synapse; default uniform on [0.125, 0.175)); the seed docs' name "
                    "resources_int is accepted as an alias")
    scale_by_dt: bool = Field(
        False,
        description="false (ngc-learn): the recoveries are u/tau_f and (1 - x)/tau_d per step "
                    "whatever dt, so tau_f and tau_d count steps; true: dt*u/tau_f and "
                    "dt*(1 - x)/tau_d (Euler with tau in ms). Identical when dt = 1")


@register
class STPDenseSynapse(_DenseBase):
    """A dense cable whose efficacies follow Tsodyks-Markram short-term plasticity.

    Every synapse (i, j) has a release probability u, a fraction of available resources x
    and a baseline release probability U (the ``resources`` matrix). With s = inputs (spikes
    or graded values in [0, 1]) broadcast along the output axis, and k = 1 per step
    (default) or k = dt (``scale_by_dt``), one step is

        u    <- u - k u / tau_f + U (1 - u) s          (tau_f > 0; u = U when tau_f = 0)
        Wdyn <- W u x s + Wdyn (1 - s)                  W = weights * mask
        x    <- x + k (1 - x) / tau_d - u x s           (tau_d > 0, with the new u)
        outputs[n, j] = sum_i s[n, i] Wdyn[n, i, j] * resist_scale + biases[j]   (sample n)

    u, x and Wdyn are per sample and per synapse, (B, n_in, n_out); reset sets u = 0,
    x = 1, Wdyn = 0. Hand check (ngc-learn's): U = 1, W = 1, s = 0.425 gives u = 0.425,
    Wdyn = 0.180625, outputs = 0.0767656. Large U and tau_d >> tau_f make the synapse
    depressing; small U and tau_f >> tau_d make it facilitating.

    How dt enters: ngc-learn has no dt factor, so its time constants count steps. That is
    the default here (``scale_by_dt: false``), for compatibility; with ``scale_by_dt: true``
    the recoveries are Euler steps of du/dt = -u/tau_f and dx/dt = (1 - x)/tau_d with tau
    in ms, which converge to the exponential recoveries between spikes as dt -> 0 (needs
    dt < tau). The spike-triggered jumps U (1 - u) s and u x s never scale with dt. The
    two forms coincide at dt = 1.

    Compartments: inputs (B, n_in), outputs (B, n_out), u, x, Wdyn (B, n_in, n_out);
    persistent weights, mask, resources (n_in, n_out) and biases (n_out,).

    Deviations from ngc-learn:

    - Any shape works: u, x and Wdyn are per synapse and per sample (B, n_in, n_out).
      ngc-learn keeps u and x as (B, n_in) and Wdyn as (n_in, n_out), and its broadcasts of
      (B, n_in) against (n_in, n_out) only work for square or 1x1 shapes.
    - ``scale_by_dt`` (off by default) adds the dt-consistent form described above.
    - tau_f and tau_d are traced: changing either, including to or from 0, does not
      recompile.
    - ``resources_init`` is the code's name; the seed docs' ``resources_int`` is an alias.
    - ``p_conn``, ``resist_scale``/``g_conduct_factor``, ``batch_size`` and ``biases`` as
      DenseSynapse.
    """

    family = FAMILY
    Params = STPParams
    compartments = {
        **_DenseBase.compartments,
        "outputs": Out("shape[1]", "inputs @ Wdyn per sample, * resist_scale + b"),
        "resources": Weight("shape[0], shape[1]",
                            "U, baseline release probability of each synapse, (n_in, n_out)"),
        "u": State("shape[0], shape[1]", "release probability (facilitation), per synapse"),
        "x": State("shape[0], shape[1]", "available resources (depression), per synapse",
                   reset=1.0),
        "Wdyn": State("shape[0], shape[1]", "dynamic efficacy W u x at the last input"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        return super().check(p) + [
            ("resources_init", msg) for msg in initializers.problems(p.resources_init, p.shape)]

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        k_dense, k_res = random.split(key)
        out = super().init(p, k_dense, dtype)
        out["resources"] = initializers.draw(p.resources_init, p.shape, k_res, dtype)
        return out

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        inputs = s["inputs"]
        spikes = inputs[:, :, None]                     # (B, n_in, 1): one value per row
        w = s["weights"] * s["mask"] if p.p_conn < 1.0 else s["weights"]
        big_u, u, x = s["resources"], s["u"], s["x"]
        k = ctx.dt if p.scale_by_dt else 1.0
        # tau = 0 switches a mechanism off; the division sees 1 there so nothing is NaN.
        has_f, has_d = p.tau_f > 0, p.tau_d > 0
        rate_f = k / jnp.where(has_f, p.tau_f, 1.0)
        rate_d = k / jnp.where(has_d, p.tau_d, 1.0)
        u = jnp.where(has_f, u - rate_f * u + big_u * (1.0 - u) * spikes,
                      jnp.broadcast_to(big_u, u.shape))
        w_dyn = w * u * x * spikes + s["Wdyn"] * (1.0 - spikes)
        x = jnp.where(has_d, x + rate_d * (1.0 - x) - u * x * spikes, x)
        out = jnp.einsum("bi,bij->bj", inputs, w_dyn) * p.resist_scale + s["biases"]
        return {"u": u, "x": x, "Wdyn": w_dyn, "outputs": out}


# ---------------------------------------------------------------------------------------------
# Conductance synapses

class ConductanceParams(DenseParams):
    tau_decay: float = Field(..., gt=0.0, description="synaptic decay time constant (ms)")
    g_syn_bar: float = Field(
        ..., description="conductance added per unit of summed input S = inputs @ W "
                         "(the 'synaptic weight' of each incoming spike)")
    syn_rest: float | None = Field(
        ..., description="synaptic reversal potential E; null makes the synapse "
                         "voltage-independent (i_syn = -g * resist_scale, v is ignored)")
    is_nonplastic: bool = Field(
        True, description="true (default): W = 1 (times the p_conn mask), so every spike adds "
                          "g_syn_bar; false: W is drawn from weight_init")


class DoubleExpParams(ConductanceParams):
    tau_rise: float = Field(..., gt=0.0,
                            description="synaptic rise time constant (ms), below tau_decay")


_CONDUCTANCE_DEVIATIONS = """
    Deviations from ngc-learn:

    - ``v`` is a read-only view of its wire: reset zeroes the synapse's copy and never writes
      into the post-synaptic cell (ngc-learn's reset writes zeros through to it).
    - ``p_conn`` is a persistent mask (ngc-learn passes it into ``p_release_mean``, a
      stochastic-release path that crashes); ``resist_scale`` is the documented name,
      ``g_conduct_factor`` (the code's) an alias. ``batch_size`` is not a parameter.
    - ``bias_init`` is rejected if given (ngc-learn accepts it and ignores it); there is no
      ``biases`` compartment.
    - tau_decay, tau_rise, g_syn_bar and syn_rest are traced: new values do not recompile.
"""


class _ConductanceBase(Component):
    """Shared parameters, compartments and current of the conductance synapses."""

    family = FAMILY
    Params = ConductanceParams
    compartments = {
        "inputs": In("shape[0]", "pre-synaptic spikes (or rates), (B, n_in)"),
        "v": In("shape[1]", "post-synaptic voltage, (B, n_out); wire it from the "
                            "post-synaptic cell (usually delayed, '~>')"),
        "g_syn": State("shape[1]", "synaptic conductance g"),
        "i_syn": Out("shape[1]", "synaptic current -g * resist_scale * (v - syn_rest)"),
        "outputs": Out("shape[1]", "= i_syn"),
        "weights": Weight("shape[0], shape[1]",
                          "W, (n_in, n_out): ones when is_nonplastic, else from weight_init"),
        "mask": Weight("shape[0], shape[1]",
                       "connectivity, 1 = connected; Bernoulli(p_conn) drawn once at init"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        out = []
        if p.bias_init is not None:
            out.append(("bias_init", "conductance synapses have no bias (ngc-learn accepts "
                                     "bias_init and ignores it); remove it"))
        return out + [("weight_init", m) for m in initializers.problems(p.weight_init, p.shape)]

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        out = _DenseBase.init(p.model_copy(update={"bias_init": None}), key, dtype)
        del out["biases"]
        if p.is_nonplastic:
            out["weights"] = out["mask"]                # W = 1 on every existing connection
        return out

    @classmethod
    def conductance(cls, p, s, drive, ctx) -> dict:
        """New g_syn (and h_syn) given this step's drive = g_syn_bar * inputs @ W."""
        raise NotImplementedError

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        w = s["weights"] * s["mask"] if p.p_conn < 1.0 else s["weights"]
        drive = p.g_syn_bar * (s["inputs"] @ w)
        new = cls.conductance(p, s, drive, ctx)
        g = new["g_syn"] * p.resist_scale
        i_syn = -g if p.syn_rest is None else -g * (s["v"] - p.syn_rest)
        return {**new, "i_syn": i_syn, "outputs": i_syn}


@register
class ExponentialSynapse(_ConductanceBase):
    __doc__ = """A conductance synapse with a single-exponential kernel.

        S = inputs @ (W * mask)                      (summed spikes this step)
        g <- g - (dt / tau_decay) g + g_syn_bar S    (dg/dt = -g/tau + g_bar sum_k delta(t - t_k))
        i_syn = outputs = -g * resist_scale * (v - syn_rest)
                          (-g * resist_scale if syn_rest is null)

    A spike adds g_syn_bar whatever dt; as dt -> 0 the response to one spike at t = 0 tends
    to g(t) = g_syn_bar exp(-t / tau_decay). (g_syn_bar = 2, tau = 5, dt = 1: 2, 1.6, 1.28.)

    Compartments: inputs (B, n_in); v, g_syn, i_syn, outputs (B, n_out); persistent
    weights and mask (n_in, n_out). Reset zeroes every batched compartment.
    """ + _CONDUCTANCE_DEVIATIONS

    @classmethod
    def conductance(cls, p, s, drive, ctx) -> dict:
        g = s["g_syn"]
        return {"g_syn": g - (ctx.dt / p.tau_decay) * g + drive}


@register
class AlphaSynapse(_ConductanceBase):
    __doc__ = """A conductance synapse with an alpha-function kernel.

        S = inputs @ (W * mask)
        h <- h - (dt / tau_decay) h + g_syn_bar S    (dh/dt = -h/tau + g_bar sum_k delta(t - t_k))
        g <- g - (dt / tau_decay) g + (dt / tau_decay) h     (dg/dt = (h - g)/tau, new h)
        i_syn = outputs = -g * resist_scale * (v - syn_rest)
                          (-g * resist_scale if syn_rest is null)

    As dt -> 0 the response to one spike at t = 0 tends to the alpha function
    g(t) = g_syn_bar (t / tau_decay) exp(-t / tau_decay), which peaks at t = tau_decay with
    g = g_syn_bar / e.

    Compartments: inputs (B, n_in); v, h_syn, g_syn, i_syn, outputs (B, n_out); persistent
    weights and mask (n_in, n_out).
    """ + _CONDUCTANCE_DEVIATIONS + """\
    - It compiles: ngc-learn 3.2.3 reads an attribute ``resist_scale`` that is never set.
    - The equations are the documented ODEs, stepped with dt. ngc-learn's code adds h (not
      (dt/tau) h) to g at every step, which scales g by tau/dt and makes the response
      depend on dt; its own comment gives the form used here.
"""

    compartments = {
        **_ConductanceBase.compartments,
        "h_syn": State("shape[1]", "intermediate conductance h (the spike-driven trace)"),
    }

    @classmethod
    def conductance(cls, p, s, drive, ctx) -> dict:
        rate = ctx.dt / p.tau_decay
        h = s["h_syn"] - rate * s["h_syn"] + drive
        g = s["g_syn"] - rate * s["g_syn"] + rate * h
        return {"h_syn": h, "g_syn": g}


@register
class DoubleExpSynapse(_ConductanceBase):
    __doc__ = """A conductance synapse with a difference-of-exponentials kernel.

        S = inputs @ (W * mask)
        h <- h - (dt / tau_rise) h + g_syn_bar S (1/tau_rise - 1/tau_decay)
        g <- g - (dt / tau_decay) g + dt h           (dg/dt = -g/tau_decay + h, with the new h)
        i_syn = outputs = -g * resist_scale * (v - syn_rest)
                          (-g * resist_scale if syn_rest is null)

    As dt -> 0 the response to one spike at t = 0 tends to
    g(t) = g_syn_bar (exp(-t / tau_decay) - exp(-t / tau_rise)), which peaks at
    t* = ln(tau_decay / tau_rise) tau_decay tau_rise / (tau_decay - tau_rise). The kernel is
    not normalised to peak at g_syn_bar (ngc-learn's scale factor A = 1 is kept).
    tau_rise must be below tau_decay.

    Compartments: inputs (B, n_in); v, h_syn, g_syn, i_syn, outputs (B, n_out); persistent
    weights and mask (n_in, n_out).
    """ + _CONDUCTANCE_DEVIATIONS + """\
    - It compiles: ngc-learn 3.2.3 reads an attribute ``resist_scale`` that is never set.
    - g gains dt h per step (Euler of the documented ODE); ngc-learn's code adds h, which is
      the same at dt = 1 but makes the response scale with 1/dt otherwise.
    - tau_rise >= tau_decay is a validation error (the kernel would be zero or negative).
"""

    Params = DoubleExpParams
    compartments = {
        **_ConductanceBase.compartments,
        "h_syn": State("shape[1]", "intermediate conductance h (the spike-driven trace)"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        out = super().check(p)
        if p.tau_rise >= p.tau_decay:
            out.append(("tau_rise", f"tau_rise ({p.tau_rise}) must be below tau_decay "
                                    f"({p.tau_decay}): the kernel g_bar (exp(-t/tau_decay) - "
                                    "exp(-t/tau_rise)) is zero or negative otherwise"))
        return out

    @classmethod
    def conductance(cls, p, s, drive, ctx) -> dict:
        h = (s["h_syn"] - (ctx.dt / p.tau_rise) * s["h_syn"]
             + drive * (1.0 / p.tau_rise - 1.0 / p.tau_decay))
        g = s["g_syn"] - (ctx.dt / p.tau_decay) * s["g_syn"] + ctx.dt * h
        return {"h_syn": h, "g_syn": g}
