"""Spiking neurons, spike encoders and spike traces.

The kinds of ngc-learn's ``neurons.spiking`` and ``input_encoders`` packages and its VarTrace,
following the reference sheet (components.md §5.1, §5.2, §5.4, §5.5). Every compartment has
one value per unit and a leading batch axis; any batch size works (ngc-learn's spiking cells
are fixed at a batch of 1). Given ``shape: [H, W, C]`` a cell holds its units as an image,
(B, H, W, C), to wire convolutional synapses such as TraceSTDPConvSynapse (an ngcspec
addition; the dynamics are the same unit by unit).

Conventions shared by the family (and by the STDP synapses that read these cells):

- Spikes are 0/1 values of the float dtype.
- ``tols`` (time of last spike) holds, per unit, the time since the last reset at which the
  unit last spiked, taken at the *end* of the step that emitted it (``t + dt``, where ``t``
  is the step's start). 0 therefore always means "no spike since the reset": a spike in the
  very first step is recorded as ``dt``. (ngc-learn records the step's start ``t``, so a
  spike at t = 0 cannot be told from no spike.) An evolve that runs after the step reads
  ``ctx.t`` = the same end-of-step time, so a spike of the step just taken has age 0.
- Times are compared with a tolerance of ``TIME_TOL`` of a step (refractory periods, spike
  windows), so float rounding of accumulated times never adds or drops a step.

In a spiking circuit the usual step order (reference §1.5) is: synapses first, reading the
previous step's spikes through ``~>`` wires, then cells, then traces; plasticity after the
step in the same ``repeat`` block.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from ngcspec.components.integrators import integrate
from ngcspec.components.population import ImageShape, Population, image_shape_field, unit_shape
from ngcspec.lazy import jnp, random
from ngcspec.registry import ComponentParams, In, Out, State, register

FAMILY = "spiking neurons"

#: Fraction of a step within which two times count as equal (see the module docstring).
TIME_TOL = 0.01

#: Integrators a spiking cell accepts (ngc-learn's LIF and IF offer Euler and midpoint only).
SpikingIntegration = Literal["euler", "rk1", "midpoint", "rk2"]

#: Steepness of ngc-learn's arctan surrogate as LIFCell uses it.
ARCTAN_ALPHA = 0.2


def spike_times(s, tols, ctx):
    """tols after a step that emitted ``s``: the end-of-step time where a unit spiked."""
    return jnp.where(s > 0, ctx.t + ctx.dt, tols)


def refractory_over(rfr, refract_time, dt):
    """1 where the refractory period is over (rfr >= refract_time, up to TIME_TOL * dt)."""
    return (rfr + TIME_TOL * dt >= refract_time).astype(rfr.dtype)


def arctan_surrogate(x, alpha=ARCTAN_ALPHA):
    """Derivative of ngc-learn's arctan spike surrogate, (1/pi) / (1 + (alpha pi x / 2)^2)."""
    return (1.0 / math.pi) / (1.0 + jnp.square(alpha * math.pi * x / 2.0))


def _fmix32(h):
    """murmur3's 32-bit finaliser: a bijection of uint32 with full avalanche."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def counter_uniform(key, shape, dtype):
    """Uniform numbers in [0, 1) of ``shape``, one per element, for the spike encoders.

    Two 32-bit words are drawn from ``key`` (JAX's threefry); each element's number is a hash
    of its flat index keyed by them (murmur3's finaliser applied twice), i.e. a counter-based
    generator. Same key, same numbers; a fresh key per step and cell (as the circuit derives
    them) gives fresh, uncorrelated numbers. It costs a few integer operations per element,
    where threefry costs ~100 (the encoders draw one number per unit and step, which made
    threefry the largest cost of a batched spiking step on CPU). float32 numbers carry 24
    random bits, float64 ones 53.
    """
    words = random.bits(key, (2,), jnp.uint32)
    index = jnp.arange(math.prod(shape), dtype=jnp.uint32).reshape(shape)
    h = _fmix32(index * jnp.uint32(0x9E3779B9) + words[0])
    h = _fmix32(h ^ words[1])
    if jnp.dtype(dtype) == jnp.float64:
        low = _fmix32(h + jnp.uint32(0x6A09E667)) >> 11
        return (h.astype(dtype) * 2.0 ** 21 + low.astype(dtype)) * 2.0 ** -53
    return (h >> 8).astype(dtype) * (1.0 / (1 << 24))


def keep_one(s, score):
    """Keep, in each sample of ``s`` (B, ...), only the spike of the unit with the highest
    ``score`` (the first such unit in row-major order on a tie, as argmax).

    Two plain reductions (max, then the lowest index holding it) rather than ``argmax``:
    XLA:CPU runs argmax's paired (value, index) reduction element by element, which made it
    the costliest operation of a batched LIF step."""
    shape = s.shape
    s, score = s.reshape(shape[0], -1), score.reshape(shape[0], -1)
    n = s.shape[-1]
    masked = jnp.where(s > 0, score, -jnp.inf)
    best = jnp.max(masked, axis=-1, keepdims=True)
    units = jnp.arange(n)
    first = jnp.min(jnp.where(masked == best, units, n), axis=-1, keepdims=True)
    return (s * (units == first).astype(s.dtype)).reshape(shape)


def _broadcast_batch(x, batch_size: int, unit: tuple[int, ...]):
    """A persistent per-unit value given per sample (``unit``) or with another batch size,
    spread over the batch (as its batch mean).

    Registry ``init`` (and files given with ``init:``) know no batch size; reset does."""
    if x.shape == unit or x.shape[0] != batch_size:
        per_unit = x if x.shape == unit else jnp.mean(x, axis=0)
        x = jnp.broadcast_to(per_unit, (batch_size, *unit))
    return x


# ---------------------------------------------------------------------------------------------

@register
class LIFCell(Population):
    """Leaky integrate-and-fire neurons with an adaptive (homeostatic) threshold.

    One step, with the threshold of the previous step theta = thr + thr_theta:

        m = 1[rfr >= refract_time]                       (drive gated while refractory)
        tau_m dv/dt = conduct_leak (v_rest - v) + resist_m j m
        v' = one Euler or midpoint step of that ODE (the leak stays on while refractory)
        s_raw = 1[v' > theta]                            (strict >)
        rfr = (rfr + dt)(1 - s_raw);   v = v_reset where s_raw else v'
        s = s_raw, or one spike per sample (one_spike: chosen at random; max_one_spike: the
            unit with the highest v'), spike-reset and adaptation still use s_raw
        thr_theta = thr_theta exp(-dt/tau_theta) + theta_plus s_raw     (if tau_theta > 0)
        v_thr = thr + thr_theta;   tols = t + dt where s;   v = max(v, v_min) if v_min
        surrogate = arctan'(v' - theta) resist_m dt / tau_m,
                    arctan'(x) = (1/pi) / (1 + (0.2 pi x / 2)^2)

    With constant drive I above threshold (conduct_leak 1) the interspike interval tends,
    as dt -> 0, to refract_time + tau_m ln((R I - (v_e - v_rest)) / (R I - (thr - v_rest))),
    v_e - v_rest = (v_reset - v_rest) exp(-refract_time / tau_m) being where the leak has
    taken v by the end of the refractory period.

    thr_theta is persistent: reset leaves it alone, so the homeostatic threshold carries
    over between samples (Diehl & Cook). The default tau_theta = 1e7 keeps adaptation on
    (+0.05 mV per spike, almost no decay); set tau_theta: 0 for a plain LIF.

    Compartments (all (B, n_units)): input j; state v (reset v_rest), rfr (reset
    refract_time), thr_theta (persistent), v_thr (reset thr + thr_theta); outputs s, s_raw,
    tols, surrogate (reset 1).

    Deviations from ngc-learn:

    - Any batch size works (ngc-learn's LIFCell is fixed at 1); one_spike and max_one_spike
      pick one spike per sample. With several samples thr_theta is per sample; when the batch
      size changes (a partial batch, another phase) it is carried as its batch mean.
    - max_one_spike keeps the spike of the spiking unit with the highest integrated
      voltage v'. ngc-learn takes the argmax of the voltage *before* the step over all
      units, so when that unit does not spike every spike of the row is dropped.
    - one_spike draws from the key the circuit's seed derives for this cell and step
      (ngc-learn keeps its own key compartment).
    - tols is the end-of-step time t + dt (0 = no spike since reset), see the module notes.
    - The refractory test tolerates 1% of a step of rounding in the accumulated rfr, so a
      refractory period that is a whole number of steps never lasts a step longer.
    - surrogate_type accepts only "arctan", the one ngc-learn computes whatever the name.
    - Reset sets v_thr to thr + thr_theta (the threshold the next step uses); reset never
      writes into the source wired to j.
    - tau_m, the voltages, tau_theta, theta_plus and the rest of the floats are traced:
      changing them does not recompile (ngc-learn freezes them when it compiles), except
      tau_theta crossing 0, which switches adaptation (and its per-step update) on or off.
    """

    family = FAMILY
    stochastic = True   # one_spike draws; the key is unused otherwise

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of neurons")
        shape: ImageShape | None = image_shape_field()
        tau_m: float = Field(..., gt=0, description="membrane time constant (ms)")
        resist_m: float = Field(1.0, gt=0, description="membrane resistance R: the drive is "
                                                        "R * j")
        thr: float = Field(-52.0, description="base spike threshold (mV)")
        v_rest: float = Field(-65.0, description="resting potential (mV)")
        v_reset: float = Field(-60.0, description="potential right after a spike (mV)")
        conduct_leak: float = Field(1.0, ge=0, description="leak conductance g_L (1: LIF, "
                                                           "0: no leak, an IF neuron)")
        tau_theta: float = Field(1e7, ge=0, description="time constant of the adaptive "
                                                        "threshold (ms); 0 turns adaptation off")
        theta_plus: float = Field(0.05, description="threshold increment per spike (mV)")
        refract_time: float = Field(5.0, ge=0, description="refractory period (ms): the drive "
                                                           "is off for this long after a spike")
        one_spike: bool = Field(False, description="keep at most one spike per sample and "
                                                   "step, chosen at random among the spiking "
                                                   "units")
        integration_type: SpikingIntegration = Field(
            "euler", description="ODE integrator: euler (rk1) or midpoint (rk2)")
        surrogate_type: Literal["arctan"] = Field(
            "arctan", description="surrogate derivative of the spike (only arctan)")
        v_min: float | None = Field(None, description="lower bound of v after each step; null "
                                                      "for none")
        max_one_spike: bool = Field(False, description="keep at most one spike per sample and "
                                                       "step: the unit with the highest voltage "
                                                       "(takes precedence over one_spike)")

    compartments = {
        "j": In("n_units", "input current"),
        "v": State("n_units", "membrane potential (mV)", reset="v_rest"),
        "rfr": State("n_units", "time since the last spike (ms), up to refract_time counts",
                     reset="refract_time"),
        "thr_theta": State("n_units", "adaptive threshold shift (mV); kept across reset",
                           reset=None),
        "v_thr": State("n_units", "current threshold thr + thr_theta (mV)", reset="thr"),
        "s": Out("n_units", "spikes (after one_spike / max_one_spike)"),
        "s_raw": Out("n_units", "spikes before one_spike / max_one_spike"),
        "tols": Out("n_units", "time of the last spike since reset (ms, end of its step); "
                               "0 = none"),
        "surrogate": Out("n_units", "surrogate derivative of the spike w.r.t. the current",
                         reset=1.0),
    }

    @classmethod
    def reset(cls, p, s, ctx) -> dict:
        theta = _broadcast_batch(s["thr_theta"], ctx.batch_size, unit_shape(p))
        return {"thr_theta": theta, "v_thr": jnp.broadcast_to(p.thr + theta, s["v_thr"].shape)}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        dt = ctx.dt
        v, rfr, thr_theta = s["v"], s["rfr"], s["thr_theta"]
        theta = p.thr + thr_theta
        drive = s["j"] * p.resist_m * refractory_over(rfr, p.refract_time, dt)
        leak, v_rest, tau_m = p.conduct_leak, p.v_rest, p.tau_m

        def dv_dt(v):
            return (leak * (v_rest - v) + drive) / tau_m

        v_int = integrate(p.integration_type, dv_dt, v, dt)
        s_raw = (v_int > theta).astype(v.dtype)
        rfr = (rfr + dt) * (1.0 - s_raw)
        v = jnp.where(s_raw > 0, p.v_reset, v_int)

        spikes = s_raw
        if p.max_one_spike:
            spikes = keep_one(s_raw, v_int)
        elif p.one_spike:
            spikes = keep_one(s_raw, counter_uniform(ctx.key, s_raw.shape, v.dtype))

        adapt = cls._adapts(p)
        if adapt:
            thr_theta = thr_theta * jnp.exp(-dt / p.tau_theta) + p.theta_plus * s_raw
        if p.v_min is not None:
            v = jnp.maximum(v, p.v_min)
        surrogate = arctan_surrogate(v_int - theta) * p.resist_m * dt / tau_m
        out = {"v": v, "rfr": rfr, "s": spikes, "s_raw": s_raw,
               "tols": spike_times(spikes, s["tols"], ctx), "surrogate": surrogate}
        if adapt:   # without adaptation the thresholds never change: nothing to carry
            out.update(thr_theta=thr_theta, v_thr=p.thr + thr_theta)
        return out

    @classmethod
    def structure(cls, p) -> tuple:
        return (("adapt", float(p.tau_theta) > 0),)

    @classmethod
    def _adapts(cls, p) -> bool:
        return cls.structural(p, "adapt")


@register
class IFCell(Population):
    """Integrate-and-fire neurons (no leak).

        m = 1[rfr >= refract_time]
        tau_m dv/dt = resist_m j m          (one Euler or midpoint step: v')
        s = 1[v' > thr];  rfr = (rfr + dt)(1 - s);  v = v_reset where s else v'
        v = max(v, v_rest)                  if lower_clamp_voltage
        tols = t + dt where s

    Compartments (all (B, n_units)): input j; state v (reset v_rest), rfr (reset
    refract_time); outputs s, tols.

    Deviations from ngc-learn:

    - With lower_clamp_voltage false the spike reset happens. ngc-learn stores the
      voltage from before the reset in that case, so a spiking unit stays above threshold
      and fires at every step.
    - Any batch size works (ngc-learn's IFCell is fixed at 1).
    - tols is the end-of-step time t + dt (0 = no spike since reset), see the module notes;
      the refractory test tolerates 1% of a step of rounding.
    - surrogate_type is not a parameter: ngc-learn accepts it and computes no surrogate.
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of neurons")
        shape: ImageShape | None = image_shape_field()
        tau_m: float = Field(..., gt=0, description="membrane time constant (ms)")
        resist_m: float = Field(1.0, gt=0, description="membrane resistance R: the drive is "
                                                        "R * j")
        thr: float = Field(-52.0, description="spike threshold (mV)")
        v_rest: float = Field(-65.0, description="resting potential and initial v (mV)")
        v_reset: float = Field(-60.0, description="potential right after a spike (mV)")
        refract_time: float = Field(0.0, ge=0, description="refractory period (ms)")
        integration_type: SpikingIntegration = Field(
            "euler", description="ODE integrator: euler (rk1) or midpoint (rk2)")
        lower_clamp_voltage: bool = Field(True, description="keep v >= v_rest")

    compartments = {
        "j": In("n_units", "input current"),
        "v": State("n_units", "membrane potential (mV)", reset="v_rest"),
        "rfr": State("n_units", "time since the last spike (ms)", reset="refract_time"),
        "s": Out("n_units", "spikes"),
        "tols": Out("n_units", "time of the last spike since reset (ms, end of its step); "
                               "0 = none"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        dt = ctx.dt
        drive = s["j"] * p.resist_m * refractory_over(s["rfr"], p.refract_time, dt)
        tau_m = p.tau_m

        def dv_dt(v):
            return drive / tau_m

        v_int = integrate(p.integration_type, dv_dt, s["v"], dt)
        spikes = (v_int > p.thr).astype(v_int.dtype)
        v = jnp.where(spikes > 0, p.v_reset, v_int)
        if p.lower_clamp_voltage:
            v = jnp.maximum(v, p.v_rest)
        return {"v": v, "rfr": (s["rfr"] + dt) * (1.0 - spikes), "s": spikes,
                "tols": spike_times(spikes, s["tols"], ctx)}


# ---------------------------------------------------------------------------------------------
# Encoders

@register
class PoissonCell(Population):
    """Poisson spike encoder: intensities in [0, 1] become spike trains.

        outputs = 1[u < inputs * (dt / 1000) * target_freq],  u ~ U(0, 1) per unit and step
        tols = t + dt where outputs

    An intensity of 1 fires at target_freq Hz (dt in ms) while inputs * dt * target_freq
    stays below 1000. Compartments (all (B, n_units)): input inputs; outputs outputs, tols.

    Deviations from ngc-learn: random numbers come from the key the circuit's seed derives
    for this cell and step (ngc-learn keeps a key compartment), through the counter-based
    generator counter_uniform (a hash of each unit's index keyed by that key; a few integer
    operations per number, where threefry costs ~100); any batch size works;
    reset clears outputs and tols and never writes into the source wired to inputs;
    target_freq is traced (no recompile when it changes).
    """

    family = FAMILY
    stochastic = True

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of encoding units")
        shape: ImageShape | None = image_shape_field()
        target_freq: float = Field(63.75, ge=0, description="firing rate (Hz) of a unit whose "
                                                             "intensity is 1")

    compartments = {
        "inputs": In("n_units", "intensities in [0, 1]"),
        "outputs": Out("n_units", "spikes"),
        "tols": Out("n_units", "time of the last spike since reset (ms, end of its step); "
                               "0 = none"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        x = s["inputs"]
        u = counter_uniform(ctx.key, x.shape, x.dtype)
        spikes = (u < x * (ctx.dt / 1000.0) * p.target_freq).astype(x.dtype)
        return {"outputs": spikes, "tols": spike_times(spikes, s["tols"], ctx)}


@register
class BernoulliCell(Population):
    """Bernoulli spike encoder: each unit spikes with the probability held in its input.

        outputs = 1[u < inputs],  u ~ U(0, 1) per unit and step;  tols = t + dt where outputs

    Inputs of exactly 0 and 1 give deterministic trains, which makes the cell a spike
    source for a stimulus clamp. Compartments (all (B, n_units)): input inputs; outputs
    outputs, tols.

    Deviations from ngc-learn: random numbers come from the key the circuit's seed derives
    for this cell and step, through counter_uniform (see PoissonCell); any batch size
    works; reset clears outputs and tols and never
    writes into the source wired to inputs.
    """

    family = FAMILY
    stochastic = True

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of encoding units")
        shape: ImageShape | None = image_shape_field()

    compartments = {
        "inputs": In("n_units", "spike probabilities in [0, 1]"),
        "outputs": Out("n_units", "spikes"),
        "tols": Out("n_units", "time of the last spike since reset (ms, end of its step); "
                               "0 = none"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        x = s["inputs"]
        u = counter_uniform(ctx.key, x.shape, x.dtype)
        spikes = (u < x).astype(x.dtype)
        return {"outputs": spikes, "tols": spike_times(spikes, s["tols"], ctx)}


# ---------------------------------------------------------------------------------------------

@register
class VarTrace(Population):
    """A spike trace: a low-pass filter of a spike train (pre/post traces for STDP).

    With s = inputs and the decay d = exp(-dt/tau_tr) (exp), 1 - dt/tau_tr (lin) or 0
    (step), x~ = gamma_tr d x and, in this order of precedence:

        n_nearest_spikes > 0:  x = x~ + s (a_delta - x / n_nearest_spikes)  (old x)
        a_delta > 0:           x = x~ + a_delta s                           (additive)
        otherwise:             x = x~ (1 - s) + P_scale s                   (snaps to P_scale)

    outputs = trace = x. Example: tau_tr 10, a_delta 0.5, dt 1, two spikes in a row give
    0.5 then 0.5 e^-0.1 + 0.5 = 0.9524. Compartments (all (B, n_units)): input inputs;
    state trace; output outputs.

    Deviations from ngc-learn: decay_type must be exp, lin or step (ngc-learn matches a
    substring and treats any other name as a step trace); any batch size works; reset
    clears trace and outputs and never writes into the source wired to inputs; the floats
    are traced (no recompile when they change).
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of traced units")
        shape: ImageShape | None = image_shape_field()
        tau_tr: float = Field(..., gt=0, description="trace time constant (ms)")
        a_delta: float = Field(..., description="increment per spike; 0 selects the snap mode "
                                                "(the trace jumps to P_scale on a spike)")
        P_scale: float = Field(1.0, description="value the trace snaps to on a spike "
                                                "(a_delta = 0)")
        gamma_tr: float = Field(1.0, description="extra factor applied with the decay")
        decay_type: Literal["exp", "lin", "step"] = Field(
            "exp", description="exp: x exp(-dt/tau_tr); lin: x (1 - dt/tau_tr); step: 0 "
                               "(the trace lasts one step)")
        n_nearest_spikes: NonNegativeInt = Field(
            0, description="> 0: nearest-spike trace, x += s (a_delta - x / n_nearest_spikes)")

    compartments = {
        "inputs": In("n_units", "spikes"),
        "trace": State("n_units", "trace value x"),
        "outputs": Out("n_units", "trace value x"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        x, spikes = s["trace"], s["inputs"]
        if p.decay_type == "exp":
            d = jnp.exp(-ctx.dt / p.tau_tr)
        elif p.decay_type == "lin":
            d = 1.0 - ctx.dt / p.tau_tr
        else:
            d = 0.0
        decayed = p.gamma_tr * d * x
        if p.n_nearest_spikes > 0:
            new = decayed + spikes * (p.a_delta - x / p.n_nearest_spikes)
        else:
            new = jnp.where(p.a_delta > 0, decayed + p.a_delta * spikes,
                            decayed * (1.0 - spikes) + p.P_scale * spikes)
        return {"trace": new, "outputs": new}


@register
class SpikeCounter(Population):
    """Counts the spikes of each unit since the last reset (a firing-rate read-out).

        counts = counts + inputs            (reset to 0)

    Wire a cell's spikes in (``z.s -> c.inputs``); after a presentation of T ms the counts
    are spikes per unit, counts / (T / 1000) the rates in Hz. Record ``counts`` per batch to
    get one row per sample (e.g. to label neurons by their responses), or take a metric
    ``mean: c.counts``. Compartments (all (B, n_units)): input inputs; output counts.
    (Not an ngc-learn component.)
    """

    family = FAMILY

    class Params(ComponentParams):
        n_units: PositiveInt = Field(..., description="number of counted units")
        shape: ImageShape | None = image_shape_field()

    compartments = {
        "inputs": In("n_units", "spikes (or any values to accumulate)"),
        "counts": Out("n_units", "sum of the inputs since the last reset"),
    }

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        return {"counts": s["counts"] + s["inputs"]}
