"""Plastic spiking synapses: trace, exponential and event-driven STDP, BCM and reward-modulated
STDP with an eligibility trace (components.md §3.5-§3.9).

All are dense synapses (``shape: [n_in, n_out]``, weights (n_in, n_out)) built on the dense
base of :mod:`ngcspec.components.synapses`: the same ``weight_init``, ``resist_scale``
(alias ``g_conduct_factor``), ``bias_init`` (default null: no bias, never learned) and
``p_conn`` mask. What plasticity reads (spikes, traces, times of last spike, rates, the
modulator) are *evolve-only* inputs: wiring them does not order the step, and ``evolve``
reads them fresh. Updates sum over the batch (no 1/B), like every Hebbian rule here.

Masks. ``mask`` is a persistent compartment: Bernoulli(p_conn) drawn once at init, or an
arbitrary mask given with ``init: {mask: {file: mask.npy}}`` (ngc-learn's ``weight_mask``;
a file replaces the draw). Weights are zeroed where the mask is 0 at init, at every reset
(so a mask or weights loaded from files agree before the first step) and after every
evolve, so pruned connections never regrow.

Transmission, ``outputs = transmit(inputs, W) * resist_scale + b``, goes through
:func:`transmit`. With ``event_driven: true`` (trace, exponential, event and reward-modulated
STDP) it sums only the rows of the pre-synaptic units that spiked, and the trace, exponential
and event STDP rules rewrite only the rows and columns of the units that spiked
(:mod:`ngcspec.components.events`); ``max_spikes`` bounds the spiking units per step on each
side, beyond which a step takes the dense path. Results equal the dense path's to float
rounding.

Typical step of an STDP circuit (reference §1.5): synapses read the previous step's spikes
(``pre.s ~> W.inputs``), cells integrate, traces follow this step's spikes, then
``evolve: [W]`` in the same ``repeat`` block reads spikes and traces of this step.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt

from ngcspec import native
from ngcspec.components import events
from ngcspec.components.spiking import TIME_TOL
from ngcspec.components.synapses import DenseParams, _DenseBase
from ngcspec.lazy import jnp
from ngcspec.registry import In, State, Weight, register

FAMILY = "synapses"


def transmit(inputs, weights, bound: int | None = None):
    """Synaptic transmission, (B, n_in) @ (n_in, n_out) -> (B, n_out).

    Every spike-driven synapse of this module transmits through here. ``bound`` None: the
    dense product; an int: the event-driven sum of the rows of ``weights`` of the units that
    are nonzero in some sample, falling back to the dense product when more than ``bound``
    units are (:func:`ngcspec.components.events.event_matmul`)."""
    if bound is None:
        return inputs @ weights
    return events.event_matmul(inputs, weights, bound)


class SpikeSynapseParams(DenseParams):
    """Dense parameters plus the choice of the event-driven path (spike inputs)."""

    event_driven: bool = Field(
        False, description="transmit (and, for trace/exp/event STDP, learn) only through the "
                           "rows and columns of units that spiked; same results as the dense "
                           "path, cost in proportion to the spikes")
    max_spikes: PositiveInt | None = Field(
        None, description="event_driven, XLA path only (the native CPU kernels need no "
                          "bound): most units (pre- or post-synaptic, over the batch) that "
                          "may spike in a step before that step takes the dense path; null = "
                          "max(32, batch * units / 32)")


def event_bound(p, n: int, ctx) -> int | None:
    """The event-driven bound for ``n`` units, or None when the synapse runs dense."""
    if not getattr(p, "event_driven", False):
        return None
    return events.spike_bound(p.max_spikes, n, ctx.batch_size)


def apply_mask(w, mask):
    """Zero the weights of absent connections (mask == 0)."""
    return jnp.where(mask != 0, w, 0.0)


def weight_decay(w, tau_w):
    """The per-evolve decay w / tau_w, or 0 when tau_w <= 0."""
    on = tau_w > 0
    return jnp.where(on, w / jnp.where(on, tau_w, 1.0), 0.0)



class _PlasticDense(_DenseBase):
    """Dense base of the plastic synapses: masked weights, a dWeights record, transmit()."""

    family = FAMILY
    plastic = True
    compartments = {
        **_DenseBase.compartments,
        "mask": Weight("shape[0], shape[1]",
                       "connectivity, 1 = connected: Bernoulli(p_conn) drawn at init, or "
                       "ngc-learn's weight_mask given with init: {mask: {file: ...}}"),
        "dWeights": State("shape[0], shape[1]", "last weight update dW (before eta)",
                          batched=False),
    }

    #: Event-driven plasticity: (pre factors, post factors, pre events, post events), the
    #: names of the inputs a rule reads per row / per column and of the spikes that gate it;
    #: None where the rule changes every weight (it then runs dense).
    EVENT_SIDES: tuple | None = None

    @classmethod
    def bounds(cls, p) -> tuple:
        """(lowest, highest) weight the rule's clip allows."""
        return 0.0, p.w_bound

    @classmethod
    def reset(cls, p, s, ctx) -> dict:
        w = s["weights"]
        if getattr(p, "event_driven", False):
            # the event path leaves weights no spike touches alone; the dense one clips them
            # all at every evolve, so start from weights inside the rule's bounds
            w = jnp.clip(w, *cls.bounds(p))
        return {"weights": apply_mask(w, s["mask"])}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        bound = event_bound(p, p.shape[0], ctx)
        return {"outputs": transmit(s["inputs"], s["weights"], bound) * p.resist_scale
                + s["biases"]}

    @classmethod
    def rule(cls, p, s, ctx) -> tuple:
        """(new masked weights, dW) from the weights, mask and factors in ``s``."""
        raise NotImplementedError(f"{cls.__name__} has its own evolve")

    @classmethod
    def touches_every_weight(cls, p):
        """True (traced) when this evolve changes weights no spike touched (decay)."""
        return p.tau_w > 0

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        bound = event_bound(p, p.shape[0], ctx)
        if bound is None or cls.EVENT_SIDES is None:
            w, dw = cls.rule(p, s, ctx)
            return {"weights": w, "dWeights": dw}
        pre_keys, post_keys, pre_events, post_events = cls.EVENT_SIDES

        def rule(mats, pre, post):
            return cls.rule(p, {**mats, **pre, **post}, ctx)[0]

        def twin(mats, pre, post, coef):
            return events.event_update(
                rule, mats, pre, post, None if pre_events is None else pre[pre_events],
                post[post_events], bound, event_bound(p, p.shape[1], ctx),
                dense=cls.touches_every_weight(p))

        # Returns the mask too (unchanged): a matrix the event loops only read would be
        # copied into them. dWeights is not written: that would cost the whole matrix.
        args = ({"weights": s["weights"], "mask": s["mask"]},
                {k: s[k] for k in pre_keys}, {k: s[k] for k in post_keys})
        native_rule = cls.native_rule(p, ctx)
        if native_rule is None:
            return twin(*args, None)
        kernel, coef, factors = native_rule

        def native_update(mats, pre, post, coef):
            return {**mats, "weights": native.stdp(kernel, mats["weights"], mats["mask"],
                                                   *factors(pre, post), coef)}

        coef = native.stdp_coefficients(kernel, **coef)
        return native.on_cpu(native_update, twin, *args, coef, differentiable=False)

    @classmethod
    def native_rule(cls, p, ctx) -> tuple | None:
        """The native CPU kernel of this rule's event-driven update (``ngcspec.native.stdp``):
        its name, its coefficients by name (``native.STDP_COEFFICIENTS``), and
        ``factors(pre, post)``, which gives (pre spikes, pre factor, post spikes, post
        factor) from the evolve-only inputs of EVENT_SIDES; None
        when the rule has no kernel (its XLA event path then runs everywhere)."""
        return None


def _spike_inputs() -> dict:
    return {
        "preSpike": In("shape[0]", "pre-synaptic spikes s_pre, (B, n_in)", evolve_only=True),
        "postSpike": In("shape[1]", "post-synaptic spikes s_post, (B, n_out)", evolve_only=True),
        "preTrace": In("shape[0]", "pre-synaptic trace x_pre, (B, n_in)", evolve_only=True),
        "postTrace": In("shape[1]", "post-synaptic trace x_post, (B, n_out)", evolve_only=True),
    }


def _trace_factors(pre, post) -> tuple:
    """The native STDP kernels' factors of the trace rules: spikes and traces."""
    return pre["preSpike"], pre["preTrace"], post["postSpike"], post["postTrace"]


# Appended to each kind's docstring, right after its own deviations.
_COMMON_DEVIATIONS = """- ``p_conn`` is a persistent ``mask``, applied at init, at reset and after
      every evolve. ngc-learn passes ``p_conn`` positionally into DenseSynapse's
      ``p_release_mean`` slot, so there ``p_conn < 1`` switches on a stochastic-release
      path that crashes and ``p_conn`` itself does nothing.
    - ``weight_mask`` is the ``mask`` compartment, given from a file with ``init:``.
    - ``eta`` and every other float are traced: a new value does not recompile (ngc-learn
      freezes them when it compiles, hence its ``eta`` compartments).
    - Any batch size works; updates sum over the batch.
    - Reset clears only the synapse's own compartments; it never writes into the wired
      cells and traces (ngc-learn's compiled reset zeroes them).
    - ``resist_scale``/``g_conduct_factor``, ``bias_init`` and ``batch_size`` as DenseSynapse.
    - ``event_driven`` / ``max_spikes`` (not in ngc-learn) choose the event-driven path.
"""

# Appended to the docstrings of the kinds with event-driven plasticity.
_EVENT_DOC = """
    Event-driven (``event_driven: true``): transmission sums the rows of W of the units
    that spiked, and evolve rewrites only the rows of pre-synaptic spikes and the columns of
    post-synaptic spikes, each with the rule above, so the cost follows the spikes (a weight
    decay tau_w > 0 touches every weight). On the CPU native kernels do it; elsewhere XLA
    does, and a step with more than ``max_spikes`` spiking units on a side runs dense. The
    results are the dense path's up to float rounding, with two differences: dWeights is
    not written (it stays 0; writing it would cost the whole matrix), and reset clips the
    weights into the rule's bounds (the dense path clips them at the first evolve).
"""


# ---------------------------------------------------------------------------------------------
# TraceSTDPSynapse

class TraceSTDPParams(SpikeSynapseParams):
    A_plus: float = Field(..., description="strength of long-term potentiation (LTP)")
    A_minus: float = Field(..., description="strength of long-term depression (LTD); "
                                            "<= 0 leaves LTD out")
    eta: float = Field(1.0, description="global learning rate")
    mu: float = Field(0.0, ge=0, description="power of the weight dependence; > 0 scales LTP "
                                             "by (w_bound - W)^mu and LTD by W^mu")
    pretrace_target: float = Field(0.0, description="x_tar, subtracted from the pre-synaptic "
                                                    "trace in LTP (higher: weaker weights)")
    w_bound: float = Field(1.0, gt=0, description="upper bound: W is clipped to [0, w_bound]")
    tau_w: float = Field(0.0, ge=0, description="weight decay: W -= W / tau_w per evolve when "
                                                "> 0")


def trace_stdp_update(p, s, power_law: bool):
    """dW of the trace STDP rule (reference §3.5), summed over the batch, before eta."""
    w = s["weights"]
    ltp = (s["preTrace"] - p.pretrace_target).T @ (s["postSpike"] * p.A_plus)
    ltd = s["preSpike"].T @ (s["postTrace"] * jnp.maximum(p.A_minus, 0.0))
    if power_law:
        ltp = ltp * jnp.power(jnp.maximum(p.w_bound - w, 0.0), p.mu)
        ltd = ltd * jnp.power(jnp.maximum(w, 0.0), p.mu)
    return ltp - ltd


@register
class TraceSTDPSynapse(_PlasticDense):
    __doc__ = """Dense synapse with trace-based STDP (Morrison et al. 2007; Diehl & Cook 2015).

    advance:  outputs = (inputs @ W) * resist_scale + b
    evolve (once per call, dt unused), sums over the batch:

        LTP = (x_pre - x_tar)^T @ (A_plus s_post)           [* (w_bound - W)^mu  if mu > 0]
        LTD = s_pre^T @ (A_minus x_post)   if A_minus > 0   [* W^mu              if mu > 0]
        dW  = LTP - LTD
        W  <- clip(W + eta dW - W / tau_w [if tau_w > 0], 0, w_bound),  then masked

    A pre spike followed Δ later by a post spike potentiates by eta A_plus x_pre(Δ), the
    pre trace left at the post spike (A_plus e^(-Δ/tau) with additive traces of step 1);
    the reverse order depresses by eta A_minus x_post(Δ): the classic exponential window.
    The rule acts per evolve call (no dt), as in ngc-learn, decay W / tau_w included.

    Compartments: inputs (B, n_in), outputs (B, n_out); evolve-only inputs preSpike,
    preTrace (B, n_in) and postSpike, postTrace (B, n_out); dWeights (n_in, n_out) holds
    the last dW (zeroed by reset); weights, biases and mask are persistent.

    Deviations from ngc-learn:

    - With mu > 0 the bases w_bound - W and W are floored at 0, so weights outside
      [0, w_bound] before their first clip give no NaN. Switching mu between 0 and a
      positive value changes the compiled program; other values of mu do not.
    """ + _COMMON_DEVIATIONS + _EVENT_DOC

    Params = TraceSTDPParams
    compartments = {**_PlasticDense.compartments, **_spike_inputs()}

    @classmethod
    def structure(cls, p) -> tuple:
        return (("power_law", float(p.mu) > 0),)

    @classmethod
    def _power_law(cls, p) -> bool:
        return cls.structural(p, "power_law")

    EVENT_SIDES = (("preSpike", "preTrace"), ("postSpike", "postTrace"), "preSpike", "postSpike")

    @classmethod
    def native_rule(cls, p, ctx) -> tuple:
        return "trace_stdp", dict(A_plus=p.A_plus, A_minus=jnp.maximum(p.A_minus, 0.0),
                                  eta=p.eta, mu=p.mu, x_tar=p.pretrace_target,
                                  w_bound=p.w_bound, tau_w=p.tau_w,
                                  power_law=float(cls._power_law(p))), _trace_factors

    @classmethod
    def rule(cls, p, s, ctx) -> tuple:
        w = s["weights"]
        dw = trace_stdp_update(p, s, cls._power_law(p))
        w = jnp.clip(w + p.eta * dw - weight_decay(w, p.tau_w), 0.0, p.w_bound)
        return apply_mask(w, s["mask"]), dw


# ---------------------------------------------------------------------------------------------
# ExpSTDPSynapse

#: ExpSTDPSynapse keeps weights within [EXP_W_EPS, w_bound - EXP_W_EPS] (as ngc-learn).
EXP_W_EPS = 0.01


class ExpSTDPParams(SpikeSynapseParams):
    A_plus: float = Field(..., description="strength of long-term potentiation (LTP)")
    A_minus: float = Field(..., description="strength of long-term depression (LTD); "
                                            "<= 0 leaves LTD out")
    exp_beta: float = Field(..., description="beta, strength of the exponential weight "
                                             "dependence exp(-beta W)")
    eta: float = Field(1.0, description="global learning rate")
    pretrace_target: float = Field(0.0, description="x_tar, the pre-synaptic trace target of "
                                                    "the depressing LTP term")
    w_bound: float = Field(1.0, gt=2 * EXP_W_EPS,
                           description="upper bound: W is clipped to [0.01, w_bound - 0.01]")
    tau_w: float = Field(0.0, ge=0, description="weight decay: W -= W / tau_w per evolve when "
                                                "> 0 (ngc-learn ignores it; 0 matches it)")


@register
class ExpSTDPSynapse(_PlasticDense):
    __doc__ = """Dense synapse with trace STDP and an exponential weight dependence (seed 003;
    Nessler et al. 2013, Diehl & Cook 2015 eq. 4).

    advance:  outputs = (inputs @ W) * resist_scale + b
    evolve (once per call, dt unused), sums over the batch:

        dW = A_plus [exp(-beta W) * (x_pre^T @ s_post)
                     - exp(-beta (w_bound - W)) * (x_tar^T @ s_post)]
             - A_minus exp(-beta W) * (s_pre^T @ x_post)        (if A_minus > 0)
        W <- clip(W + eta dW - W / tau_w [if tau_w > 0], 0.01, w_bound - 0.01),  then masked

    with x_tar the matrix of x_pre's shape filled with pretrace_target; masked entries are
    set to 0 after the clip, below its 0.01 floor (as ngc-learn's weight_mask). In rate form:
    dW_ij/dt = A_plus [z_j e^(-beta w) - x_tar e^(-beta (w_max - w))] s_i
    - A_minus s_j z_i e^(-beta w).

    Compartments as TraceSTDPSynapse.

    tau_w: ngc-learn accepts tau_w and ignores it (its decay term is commented out).
    Here tau_w > 0 applies the decay of TraceSTDPSynapse, W -= W / tau_w per evolve;
    the default 0 is exactly ngc-learn's update.

    Deviations from ngc-learn:

    - tau_w acts when > 0 (above).
    """ + _COMMON_DEVIATIONS + _EVENT_DOC

    Params = ExpSTDPParams
    compartments = {**_PlasticDense.compartments, **_spike_inputs()}

    EVENT_SIDES = (("preSpike", "preTrace"), ("postSpike", "postTrace"), "preSpike", "postSpike")

    @classmethod
    def bounds(cls, p) -> tuple:
        return EXP_W_EPS, p.w_bound - EXP_W_EPS

    @classmethod
    def native_rule(cls, p, ctx) -> tuple:
        return "exp_stdp", dict(A_plus=p.A_plus, A_minus=jnp.maximum(p.A_minus, 0.0),
                                eta=p.eta, beta=p.exp_beta, x_tar=p.pretrace_target,
                                w_bound=p.w_bound, tau_w=p.tau_w), _trace_factors

    @classmethod
    def rule(cls, p, s, ctx) -> tuple:
        w = s["weights"]
        post = s["postSpike"]
        beta = p.exp_beta
        soft = jnp.exp(-beta * w)
        ltp = soft * (s["preTrace"].T @ post) \
            - jnp.exp(-beta * (p.w_bound - w)) * (p.pretrace_target * jnp.sum(post, axis=0))
        ltd = soft * (s["preSpike"].T @ s["postTrace"])
        dw = p.A_plus * ltp - jnp.maximum(p.A_minus, 0.0) * ltd
        w = w + p.eta * dw - weight_decay(w, p.tau_w)
        w = jnp.clip(w, EXP_W_EPS, p.w_bound - EXP_W_EPS)
        return apply_mask(w, s["mask"]), dw


# ---------------------------------------------------------------------------------------------
# EventSTDPSynapse

#: EventSTDPSynapse's lower weight bound (as ngc-learn).
EVENT_W_MIN = 0.01


class EventSTDPParams(SpikeSynapseParams):
    eta: float = Field(..., description="global learning rate")
    lmbda: float = Field(0.01, description="lambda, degree of synaptic disconnect: both "
                                           "shifts use W (1 + lmbda)")
    A_plus: float = Field(1.0, description="strength of long-term potentiation (LTP)")
    A_minus: float = Field(1.0, description="strength of long-term depression (LTD)")
    presyn_win_len: float = Field(2.0, ge=0, description="window (ms): a pre-synaptic spike "
                                                         "less than this long before a post "
                                                         "spike potentiates; 0 = same step only")
    w_bound: float = Field(1.0, gt=EVENT_W_MIN,
                           description="upper bound: W is clipped to [0.01, w_bound]")


@register
class EventSTDPSynapse(_PlasticDense):
    __doc__ = """Dense synapse with event-driven, post-synaptic STDP (Tavanaei et al. 2018).

    advance:  outputs = (inputs @ W) * resist_scale + b
    evolve at time t (end of the last step), sums over the batch:

        age    = t - pre_tols
        recent = pre_tols > 0 and age < presyn_win_len      (presyn_win_len 0: age = 0,
                                                             a spike of the last step)
        dW_ij  = sum_b s_post,bj [ A_plus (w_bound - (1 + lmbda) W_ij)   if recent_bi
                                   -A_minus (1 + lmbda) W_ij             otherwise ]
        W     <- clip(W + eta dW, 0.01, w_bound),  then masked

    Only post-synaptic spikes trigger updates: synapses from recently active inputs grow
    towards w_bound / (1 + lmbda), the others decay. Wire the pre cell's ``tols`` to
    ``pre_tols``. Example: t = 5, pre_tols = (4, 1), window 2, W = 0.5, one post spike:
    dW = (+0.495, -0.505) in that column.

    Compartments: inputs (B, n_in), outputs (B, n_out); evolve-only inputs pre_tols
    (B, n_in), postSpike (B, n_out); dWeights; persistent weights, biases, mask.

    Deviations from ngc-learn:

    - Any batch size (ngc-learn's rule only broadcasts for a batch of 1): each sample's
      post spikes gate its own pre-synaptic window, summed over the batch.
    - Times follow the family convention (tols = end of the spiking step, 0 = none; evolve
      reads the end of the last step), so a pre spike in the very first step after a reset
      counts (ngc-learn records it as time 0, which reads as "no spike"). Times are
      compared to 1% of a step, so rounding never moves a spike across the window edge.
    """ + _COMMON_DEVIATIONS + _EVENT_DOC

    Params = EventSTDPParams
    compartments = {
        **_PlasticDense.compartments,
        "pre_tols": In("shape[0]", "pre-synaptic time of last spike (ms), (B, n_in); 0 = none",
                       evolve_only=True),
        "postSpike": In("shape[1]", "post-synaptic spikes s_post, (B, n_out)", evolve_only=True),
    }

    EVENT_SIDES = (("pre_tols",), ("postSpike",), None, "postSpike")

    @classmethod
    def bounds(cls, p) -> tuple:
        return EVENT_W_MIN, p.w_bound

    @classmethod
    def touches_every_weight(cls, p):
        return False

    @classmethod
    def recent(cls, p, tols, ctx):
        """1 where the pre-synaptic unit spiked within the window before ``ctx.t``."""
        window = jnp.maximum(p.presyn_win_len, 2 * TIME_TOL * ctx.dt) - TIME_TOL * ctx.dt
        return ((tols > 0) & (ctx.t - tols < window)).astype(tols.dtype)

    @classmethod
    def native_rule(cls, p, ctx) -> tuple:
        def factors(pre, post):
            tols, spikes = pre["pre_tols"], post["postSpike"]
            return (jnp.zeros_like(tols), cls.recent(p, tols, ctx), spikes,
                    jnp.zeros_like(spikes))
        return "event_stdp", dict(A_plus=p.A_plus, A_minus=p.A_minus, eta=p.eta,
                                  lmbda=p.lmbda, w_bound=p.w_bound), factors

    @classmethod
    def rule(cls, p, s, ctx) -> tuple:
        w = s["weights"]
        tols, post = s["pre_tols"], s["postSpike"]
        recent = cls.recent(p, tols, ctx).astype(w.dtype)
        n_recent = recent.T @ post                      # post spikes with a recent pre spike
        n_other = (1.0 - recent).T @ post               # post spikes without one
        shrink = (1.0 + p.lmbda) * w
        dw = p.A_plus * (p.w_bound - shrink) * n_recent - p.A_minus * shrink * n_other
        w = jnp.clip(w + p.eta * dw, EVENT_W_MIN, p.w_bound)
        return apply_mask(w, s["mask"]), dw


# ---------------------------------------------------------------------------------------------
# BCMSynapse

#: Keeps BCM's division by theta finite at theta = 0 (as ngc-learn).
BCM_EPS = 1e-7


class BCMParams(DenseParams):
    tau_w: float = Field(..., gt=0, description="time constant of the weights (ms)")
    tau_theta: float = Field(..., gt=0, description="time constant of the sliding threshold "
                                                    "theta (ms)")
    theta0: float = Field(-1.0, description="initial value of theta")
    w_bound: float = Field(0.0, ge=0, description="when > 0, dW is scaled by the soft bound "
                                                  "(w_bound - |W|)")
    w_decay: float = Field(0.0, description="weight decay: -w_decay W is added to dW")


@register
class BCMSynapse(_PlasticDense):
    __doc__ = """Dense synapse with BCM plasticity (Bienenstock, Cooper & Munro 1982).

    advance:  outputs = (inputs @ (W * mask)) * resist_scale + b   (a dense product: BCM
              reads rates, not spikes)
    evolve (dt = the step), with x = pre (B, n_in), y = post (B, n_out):

        phi   = y (y - theta) / (theta + 1e-7)                 (post_term, (B, n_out))
        dW    = x^T @ phi   [* (w_bound - |W|)  if w_bound > 0]  - w_decay W
        W    <- W + dW dt / tau_w,  then masked
        theta <- theta + (dt / tau_theta)(-theta + mean_b(y^2))  (using the old theta in dW)

    theta is a persistent per-unit threshold (initialised to theta0, kept across resets):
    it slides towards the mean squared post activity, turning potentiation into depression
    for units that are too active. No clip is applied: w_bound only acts as the soft bound
    (as in ngc-learn). Example: x = (1, 2), y = (1, 0.2), theta0 = 0.5, W = 0.5,
    tau_w = 10, tau_theta = 5, dt = 1 give W = [[.6, .488], [.7, .476]], theta = (.6, .408).

    Compartments: inputs (B, n_in), outputs (B, n_out); evolve-only inputs pre (B, n_in),
    post (B, n_out); post_term (B, n_out) and dWeights hold the last phi and dW (zeroed by
    reset); weights, biases, mask and theta (n_out,) are persistent.

    Deviations from ngc-learn:

    - theta has shape (n_out,): it is updated with the batch mean, so it is one value per
      unit (ngc-learn keeps (batch, n_out) and broadcasts a (1, n_out) update).
    """ + _COMMON_DEVIATIONS

    Params = BCMParams
    compartments = {
        **_PlasticDense.compartments,
        "pre": In("shape[0]", "pre-synaptic activity x, (B, n_in)", evolve_only=True),
        "post": In("shape[1]", "post-synaptic activity y, (B, n_out)", evolve_only=True),
        "post_term": State("shape[1]", "last phi = y (y - theta) / theta"),
        "theta": State("shape[1]", "sliding modification threshold; kept across reset",
                       reset=None, batched=False),
    }

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        out = super().init(p, key, dtype)
        out["theta"] = jnp.full((p.shape[1],), p.theta0, dtype)
        return out

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        return _DenseBase.advance(p, s, ctx)

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        w, theta = s["weights"], s["theta"]
        x, y = s["pre"], s["post"]
        phi = y * (y - theta) / (theta + BCM_EPS)
        dw = x.T @ phi
        dw = jnp.where(p.w_bound > 0, dw * (p.w_bound - jnp.abs(w)), dw)
        dw = dw - p.w_decay * w
        w = w + dw * ctx.dt / p.tau_w
        theta = theta + (ctx.dt / p.tau_theta) * (jnp.mean(y * y, axis=0) - theta)
        return {"weights": apply_mask(w, s["mask"]), "theta": theta, "dWeights": dw,
                "post_term": phi}


# ---------------------------------------------------------------------------------------------
# MSTDPETSynapse

class MSTDPETParams(TraceSTDPParams):
    tau_elg: float = Field(0.0, ge=0, description="eligibility trace time constant (ms); 0 "
                                                  "turns the trace off (plain MSTDP)")
    elg_decay: float = Field(1.0, description="extra decay factor of the eligibility trace")


@register
class MSTDPETSynapse(TraceSTDPSynapse):
    __doc__ = """Dense synapse with reward-modulated STDP, with or without an eligibility trace
    (MSTDP / MSTDP-ET, Florian 2007).

    advance:  outputs = (inputs @ W) * resist_scale + b
    evolve (dt = the step):

        D  = the TraceSTDPSynapse dW of this call's spikes and traces (mu included)
        E <- E exp(-dt/tau_elg) elg_decay + D / tau_elg       if tau_elg > 0  (MSTDP-ET)
        E  = D                                                otherwise       (MSTDP)
        g  = mean_b(modulator_b * outmask_b)                  (n_out,)
        W <- clip(W + eta E * g - W / tau_w [if tau_w > 0], 0, w_bound),  then masked

    The modulator (e.g. a reward or reward prediction error, (B, 1)) scales the whole
    update; without one (modulator 0) nothing is learned. outmask (B, n_out, reset 1) can
    restrict learning to some post units (e.g. the action taken). With the trace, STDP
    events are remembered for about tau_elg, so a later reward still credits them.

    Compartments: the TraceSTDPSynapse ones, plus evolve-only inputs modulator (B, 1) and
    outmask (B, n_out), and eligibility (n_in, n_out), zeroed by reset; dWeights holds D.

    No one-call lag: the eligibility trace takes this call's STDP D. ngc-learn feeds E with
    the D computed at the *previous* evolve (then computes the new one), so a reward
    modulates STDP one step old and, without the trace, the first call learns nothing.
    Pairing a reward with the STDP of the step that earned it is the rule of Florian's
    paper; with a long tau_elg the two differ by one step's contribution.

    Deviations from ngc-learn:

    - No one-call lag (above).
    - No outmask that is zero until the first reset: ngc-learn initialises its outmask
      to zeros and only reset sets it to ones, so nothing is learned before a reset. Here
      outmask is an optional input that reads 1 unless driven.
    - With a batch, the modulator times outmask is averaged over the samples (one
      eligibility trace for the batch); a batch of 1 is ngc-learn's update.
    - The weight mask (p_conn / weight_mask) is applied after every evolve (ngc-learn's
      MSTDPET applies none).
    """ + _COMMON_DEVIATIONS + """
    Event-driven (``event_driven: true``): transmission sums the rows of W of the units
    that spiked (the dense product when more than ``max_spikes`` do); evolve stays dense,
    since the eligibility trace decays every weight. Reset clips the weights into [0, w_bound].
"""

    Params = MSTDPETParams
    compartments = {
        **TraceSTDPSynapse.compartments,
        "modulator": In("1", "modulatory signal r (reward, RPE), (B, 1)", evolve_only=True),
        "outmask": In("shape[1]", "post units allowed to learn, (B, n_out); reads 1 unless "
                                  "driven", reset=1.0, evolve_only=True),
        "eligibility": State("shape[0], shape[1]", "eligibility trace E", batched=False),
    }

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        w = s["weights"]
        d = trace_stdp_update(p, s, cls._power_law(p))
        with_trace = p.tau_elg > 0
        tau_elg = jnp.where(with_trace, p.tau_elg, 1.0)
        traced = s["eligibility"] * jnp.exp(-ctx.dt / tau_elg) * p.elg_decay + d / tau_elg
        elig = jnp.where(with_trace, traced, d)
        gate = jnp.mean(s["modulator"] * s["outmask"], axis=0)
        w = w + p.eta * elig * gate - weight_decay(w, p.tau_w)
        w = jnp.clip(w, 0.0, p.w_bound)
        return {"weights": apply_mask(w, s["mask"]), "dWeights": d, "eligibility": elig}
