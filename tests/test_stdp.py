"""Plastic spiking synapses against the reference equations (components.md §3.5-§3.9).

Expected values come from numpy restatements of the rules written here, from the
reference's verified numbers, and from the closed-form learning windows of a pairing
protocol. Circuits run through ``ngcspec.load`` where the wiring matters: the committed
pairing protocol (circuits/stdp_pairing.yaml) and a small Poisson -> STDP -> LIF network
whose per-step records are replayed in numpy.
"""

import importlib.util
import math
from pathlib import Path

import jax
import numpy as np
import pytest

import ngcspec
from ngcspec.params import numeric_leaves
from ngcspec.registry import StepContext, get_kind
from ngcspec.single import Single

jnp = jax.numpy
ROOT = Path(__file__).resolve().parents[1]
PLASTIC = ["TraceSTDPSynapse", "ExpSTDPSynapse", "EventSTDPSynapse", "BCMSynapse",
           "MSTDPETSynapse"]
EVOLVE_ONLY = {
    "TraceSTDPSynapse": {"preSpike", "postSpike", "preTrace", "postTrace"},
    "ExpSTDPSynapse": {"preSpike", "postSpike", "preTrace", "postTrace"},
    "EventSTDPSynapse": {"pre_tols", "postSpike"},
    "BCMSynapse": {"pre", "post"},
    "MSTDPETSynapse": {"preSpike", "postSpike", "preTrace", "postTrace", "modulator",
                       "outmask"},
}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def a(x):
    return np.asarray(x, np.float64)


def syn(kind, w, *, mask=None, **kw) -> Single:
    """A synapse with weights ``w`` (and a mask), whose advance and evolve run jitted.

    ``w`` None keeps the weights drawn at init (then ``shape`` is a keyword)."""
    kw.setdefault("dtype", "float64")
    if w is None:
        c = Single(kind, **kw)
    else:
        w = a(w)
        c = Single(kind, shape=list(w.shape), **kw)
        c.set(weights=w, **({} if mask is None else {"mask": mask}))
    for name in ("advance", "evolve"):
        fn = getattr(c.kind, name)
        jitted = jax.jit(lambda s, dt, t, fn=fn: fn(c.p, s, StepContext(dt, t, None,
                                                                           c.batch_size)))

        def call(*, _jitted=jitted, _name=name, **inputs):
            c.set(**inputs)
            ctx = c._ctx()
            c.state = {**c.state, **_jitted(c.state, ctx.dt, ctx.t)}
            if _name == "advance":
                c.t += c.dt
            return c.state

        setattr(c, name, call)
    return c


# ---------------------------------------------------------------------------------------------
# The registry contract

@pytest.mark.parametrize("kind", PLASTIC)
def test_kind_is_registered_and_documented(kind):
    cls = get_kind(kind)
    assert cls is not None and cls.family == "synapses" and cls.plastic
    assert "Deviations from ngc-learn" in cls.__doc__
    fields = cls.Params.model_fields
    assert "batch_size" not in fields
    assert all(f.description for f in fields.values()), kind
    assert {n for n, c in cls.compartments.items() if c.evolve_only} == EVOLVE_ONLY[kind]
    assert cls.compartments["mask"].persistent and cls.compartments["weights"].persistent
    cls.Params.model_json_schema()


def test_parameter_names_and_defaults_follow_the_reference():
    P = get_kind("TraceSTDPSynapse").Params(shape=[2, 3], A_plus=1.0, A_minus=0.5)
    assert (P.eta, P.mu, P.pretrace_target, P.w_bound, P.tau_w, P.p_conn) == \
        (1.0, 0.0, 0.0, 1.0, 0.0, 1.0)
    E = get_kind("ExpSTDPSynapse").Params(shape=[2, 3], A_plus=1.0, A_minus=0.5, exp_beta=1.0)
    assert (E.eta, E.pretrace_target, E.w_bound, E.tau_w) == (1.0, 0.0, 1.0, 0.0)
    V = get_kind("EventSTDPSynapse").Params(shape=[2, 3], eta=0.1)
    assert (V.lmbda, V.A_plus, V.A_minus, V.presyn_win_len, V.w_bound) == (0.01, 1, 1, 2, 1)
    B = get_kind("BCMSynapse").Params(shape=[2, 3], tau_w=10.0, tau_theta=5.0)
    assert (B.theta0, B.w_bound, B.w_decay) == (-1.0, 0.0, 0.0)
    M = get_kind("MSTDPETSynapse").Params(shape=[2, 3], A_plus=1.0, A_minus=0.5)
    assert (M.tau_elg, M.elg_decay, M.tau_w, M.w_bound) == (0.0, 1.0, 0.0, 1.0)
    # ngc-learn 3.x's name of the transmission scale is accepted too
    assert get_kind("TraceSTDPSynapse").Params(shape=[2, 3], A_plus=1, A_minus=1,
                                               g_conduct_factor=2.0).resist_scale == 2.0


def test_learning_rates_are_traced_and_only_the_power_law_switch_is_structure():
    cls = get_kind("MSTDPETSynapse")
    model = cls.Params(shape=[2, 3], A_plus=1.0, A_minus=0.5)
    assert {"eta", "A_plus", "A_minus", "mu", "pretrace_target", "w_bound", "tau_w",
            "tau_elg", "elg_decay"} <= set(numeric_leaves(model))

    def structure(mu):
        return cls.structure(cls.Params(shape=[2, 3], A_plus=1, A_minus=1, mu=mu))

    assert structure(0.0) != structure(0.5) and structure(0.5) == structure(2.0)
    others = {"ExpSTDPSynapse": (dict(A_plus=1, A_minus=1, exp_beta=1), {"eta", "exp_beta"}),
              "EventSTDPSynapse": (dict(eta=0.1), {"eta", "lmbda", "presyn_win_len"}),
              "BCMSynapse": (dict(tau_w=1, tau_theta=1), {"tau_w", "tau_theta", "w_decay"})}
    for kind, (kw, names) in others.items():
        assert names <= set(numeric_leaves(get_kind(kind).Params(shape=[1, 1], **kw))), kind


# ---------------------------------------------------------------------------------------------
# Transmission and masks

def test_transmission_is_the_dense_product(x64):
    w = np.array([[0.5, -1.0, 0.25], [2.0, 0.0, 1.0]])
    c = syn("TraceSTDPSynapse", w, A_plus=1.0, A_minus=1.0, resist_scale=2.0, batch_size=2,
            bias_init={"dist": "constant", "value": 0.1})
    x = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(c.advance(inputs=x)["outputs"], x @ w * 2.0 + 0.1)


@pytest.mark.slow
def test_p_conn_mask_keeps_pruned_weights_at_zero():
    c = syn("TraceSTDPSynapse", None, shape=[40, 30], A_plus=1.0, A_minus=0.0, p_conn=0.5,
            seed=4, dtype="float32")
    mask = np.asarray(c["mask"])
    assert 0.4 < mask.mean() < 0.6 and set(np.unique(mask)) == {0.0, 1.0}
    assert np.all(np.asarray(c["weights"])[mask == 0] == 0)
    # strong LTP everywhere: present weights go to the bound, absent ones stay 0
    st = c.evolve(preTrace=np.ones((1, 40)), postSpike=np.ones((1, 30)))
    w = np.asarray(st["weights"])
    np.testing.assert_array_equal(w, mask * 1.0)


# ---------------------------------------------------------------------------------------------
# TraceSTDPSynapse (reference §3.5)

def ref_trace_stdp(w, pre, post, xpre, xpost, A_plus, A_minus, eta=1.0, mu=0.0, x_tar=0.0,
                   w_bound=1.0, tau_w=0.0, mask=None):
    """Numpy trace STDP; returns (new W, dW)."""
    w, pre, post, xpre, xpost = map(a, (w, pre, post, xpre, xpost))
    ltp = (xpre - x_tar).T @ post * A_plus
    ltd = pre.T @ xpost * A_minus if A_minus > 0 else np.zeros_like(w)
    if mu > 0:
        ltp = ltp * (w_bound - w) ** mu
        ltd = ltd * w ** mu
    dw = ltp - ltd
    new = w + eta * dw - (w / tau_w if tau_w > 0 else 0.0)
    new = np.clip(new, 0.0, w_bound)
    if mask is not None:
        new = np.where(mask != 0, new, 0.0)
    return new, dw


@pytest.mark.slow
@pytest.mark.parametrize("lag", [1.0, 5.0, 20.0])
def test_trace_stdp_single_pairings_give_the_classic_window(x64, lag):
    tau, A_plus, A_minus, eta = 10.0, 0.01, 0.012, 2.0
    decay = math.exp(-lag / tau)
    # pre then post: at the post spike the pre trace is e^(-lag/tau) -> potentiation
    c = syn("TraceSTDPSynapse", [[0.5]], A_plus=A_plus, A_minus=A_minus, eta=eta)
    st = c.evolve(preSpike=0.0, preTrace=decay, postSpike=1.0, postTrace=1.0)
    np.testing.assert_allclose(st["weights"], 0.5 + eta * A_plus * decay, rtol=1e-12)
    np.testing.assert_allclose(st["dWeights"], A_plus * decay, rtol=1e-12)
    # post then pre: at the pre spike the post trace is e^(-lag/tau) -> depression
    c = syn("TraceSTDPSynapse", [[0.5]], A_plus=A_plus, A_minus=A_minus, eta=eta)
    st = c.evolve(preSpike=1.0, preTrace=1.0, postSpike=0.0, postTrace=decay)
    np.testing.assert_allclose(st["weights"], 0.5 - eta * A_minus * decay, rtol=1e-12)


CASES = {
    "plain": dict(A_plus=0.3, A_minus=0.2),
    "power_law_decay_target": dict(A_plus=0.4, A_minus=0.3, mu=0.7, tau_w=25.0,
                                   pretrace_target=0.2, eta=0.5, w_bound=0.8),
    "no_ltd": dict(A_plus=0.3, A_minus=-1.0, mu=1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_trace_stdp_matches_numpy_over_several_batched_evolves(x64, case):
    kw = CASES[case]
    rng = np.random.default_rng(7)
    n_in, n_out, B = 5, 4, 3
    w0 = rng.uniform(0.0, kw.get("w_bound", 1.0), (n_in, n_out))
    mask = (rng.random((n_in, n_out)) < 0.7).astype(float)
    w0 = w0 * mask
    c = syn("TraceSTDPSynapse", w0, mask=mask, batch_size=B, **kw)
    ref_kw = dict(A_plus=kw["A_plus"], A_minus=kw["A_minus"], eta=kw.get("eta", 1.0),
                  mu=kw.get("mu", 0.0), x_tar=kw.get("pretrace_target", 0.0),
                  w_bound=kw.get("w_bound", 1.0), tau_w=kw.get("tau_w", 0.0), mask=mask)
    w = w0
    for _ in range(6):
        pre = (rng.random((B, n_in)) < 0.4).astype(float)
        post = (rng.random((B, n_out)) < 0.4).astype(float)
        xpre, xpost = rng.random((B, n_in)), rng.random((B, n_out))
        st = c.evolve(preSpike=pre, postSpike=post, preTrace=xpre, postTrace=xpost)
        w, dw = ref_trace_stdp(w, pre, post, xpre, xpost, **ref_kw)
        np.testing.assert_allclose(st["weights"], w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(st["dWeights"], dw, rtol=1e-12, atol=1e-14)
    assert w.min() >= 0 and w.max() <= kw.get("w_bound", 1.0)


@pytest.mark.slow
def test_trace_stdp_reset_clears_inputs_and_dweights_but_keeps_weights(x64):
    c = syn("TraceSTDPSynapse", [[0.5, 0.5]], A_plus=0.1, A_minus=0.1)
    st = c.evolve(preTrace=1.0, postSpike=[[1.0, 0.0]])
    w = np.asarray(st["weights"]).copy()
    st = c.reset()
    np.testing.assert_array_equal(st["weights"], w)
    assert float(np.abs(st["dWeights"]).max()) == 0 and float(st["postSpike"].max()) == 0


# ---------------------------------------------------------------------------------------------
# ExpSTDPSynapse (reference §3.6, seed 003)

def ref_exp_stdp(w, pre, post, xpre, xpost, A_plus, A_minus, beta, eta=1.0, x_tar=0.0,
                 w_bound=1.0, tau_w=0.0):
    w, pre, post, xpre, xpost = map(a, (w, pre, post, xpre, xpost))
    x_tar_vec = xpre * 0 + x_tar
    term1 = np.exp(-beta * w) * (xpre.T @ post)
    term2 = np.exp(-beta * (w_bound - w)) * (x_tar_vec.T @ post)
    dw = (term1 - term2) * A_plus
    if A_minus > 0:
        dw = dw - np.exp(-beta * w) * (pre.T @ xpost) * A_minus
    new = w + dw * eta - (w / tau_w if tau_w > 0 else 0.0)
    return np.clip(new, 0.01, w_bound - 0.01), dw


@pytest.mark.slow
@pytest.mark.parametrize("tau_w", [0.0, 20.0])
def test_exp_stdp_matches_the_seed_equation(x64, tau_w):
    rng = np.random.default_rng(3)
    n_in, n_out, B = 4, 3, 2
    kw = dict(A_plus=0.5, A_minus=0.4, exp_beta=2.0, eta=0.3, pretrace_target=0.25,
              w_bound=0.9, tau_w=tau_w)
    w = rng.uniform(0.05, 0.85, (n_in, n_out))
    c = syn("ExpSTDPSynapse", w, batch_size=B, **kw)
    for _ in range(5):
        pre = (rng.random((B, n_in)) < 0.5).astype(float)
        post = (rng.random((B, n_out)) < 0.5).astype(float)
        xpre, xpost = rng.random((B, n_in)), rng.random((B, n_out))
        st = c.evolve(preSpike=pre, postSpike=post, preTrace=xpre, postTrace=xpost)
        w, dw = ref_exp_stdp(w, pre, post, xpre, xpost, 0.5, 0.4, 2.0, eta=0.3, x_tar=0.25,
                             w_bound=0.9, tau_w=tau_w)
        np.testing.assert_allclose(st["weights"], w, rtol=1e-12)
        np.testing.assert_allclose(st["dWeights"], dw, rtol=1e-12)


def test_exp_stdp_pairing_sign_and_magnitude(x64):
    # W = 0.3, beta 1: pre-then-post adds A+ e^-0.3 x_pre; clipped to [0.01, w_bound - 0.01]
    c = syn("ExpSTDPSynapse", [[0.3]], A_plus=0.1, A_minus=0.1, exp_beta=1.0)
    st = c.evolve(preTrace=0.5, postSpike=1.0, postTrace=1.0)
    np.testing.assert_allclose(st["weights"], 0.3 + 0.1 * math.exp(-0.3) * 0.5, rtol=1e-12)
    c = syn("ExpSTDPSynapse", [[0.3]], A_plus=0.1, A_minus=10.0, exp_beta=1.0)
    st = c.evolve(preSpike=1.0, preTrace=1.0, postTrace=0.5)
    np.testing.assert_allclose(st["weights"], 0.01)                   # floor of the clip
    c = syn("ExpSTDPSynapse", [[0.3]], A_plus=10.0, A_minus=0.0, exp_beta=1.0, w_bound=0.5)
    np.testing.assert_allclose(c.evolve(preTrace=1.0, postSpike=1.0)["weights"], 0.49)


# ---------------------------------------------------------------------------------------------
# EventSTDPSynapse (reference §3.7)

@pytest.mark.slow
def test_event_stdp_verified_numbers(x64):
    # t = 5, pre tols = (4, 1), window 2, W = 0.5, lambda 0.01, A+- = 1: a post spike gives
    # dW = (1 - 1.01 * 0.5, -1.01 * 0.5) = (+0.495, -0.505) in its column
    c = syn("EventSTDPSynapse", np.full((2, 2), 0.5), eta=0.1)
    c.t = 5.0
    st = c.evolve(pre_tols=[[4.0, 1.0]], postSpike=[[1.0, 0.0]])
    np.testing.assert_allclose(st["dWeights"], [[0.495, 0.0], [-0.505, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(st["weights"], [[0.5495, 0.5], [0.4495, 0.5]], rtol=1e-12)


@pytest.mark.slow
def test_event_stdp_window_edges_and_no_spike_yet(x64):
    # ages 0, 1, 2 with window 2: only ages 0 and 1 are recent; tols 0 (never) is not
    c = syn("EventSTDPSynapse", np.full((4, 1), 0.5), eta=1.0, A_minus=0.5, lmbda=0.0)
    c.t = 10.0
    st = c.evolve(pre_tols=[[10.0, 9.0, 8.0, 0.0]], postSpike=1.0)
    np.testing.assert_allclose(st["dWeights"][:, 0], [0.5, 0.5, -0.25, -0.25])
    # window 0: only a spike of the last step (age 0) counts
    c = syn("EventSTDPSynapse", np.full((2, 1), 0.5), eta=1.0, presyn_win_len=0.0, lmbda=0.0)
    c.t = 0.3
    st = c.evolve(pre_tols=[[0.1 + 0.2, 0.2]], postSpike=1.0)        # rounding-safe equality
    np.testing.assert_allclose(st["dWeights"][:, 0], [0.5, -0.5])
    # clip to [0.01, w_bound]
    c = syn("EventSTDPSynapse", np.full((2, 1), 0.5), eta=10.0)
    c.t = 1.0
    st = c.evolve(pre_tols=[[1.0, 0.0]], postSpike=1.0)
    np.testing.assert_allclose(st["weights"][:, 0], [1.0, 0.01])


@pytest.mark.slow
def test_event_stdp_batch_sums_per_sample_windows(x64):
    rng = np.random.default_rng(5)
    B, n_in, n_out, t = 4, 6, 3, 7.0
    w = rng.uniform(0.2, 0.8, (n_in, n_out))
    tols = rng.choice([0.0, 2.0, 5.0, 6.0, 7.0], size=(B, n_in))
    post = (rng.random((B, n_out)) < 0.5).astype(float)
    c = syn("EventSTDPSynapse", w, batch_size=B, eta=0.05, lmbda=0.02, A_plus=0.8,
            A_minus=0.6, presyn_win_len=2.0)
    c.t = t
    st = c.evolve(pre_tols=tols, postSpike=post)
    dw = np.zeros_like(w)
    for b in range(B):                                   # ngc-learn's rule, one sample at a time
        recent = (tols[b] > 0) & (t - 2.0 < tols[b])
        pos = 0.8 * (1.0 - w * 1.02)
        neg = -0.6 * w * 1.02
        dw += np.where(recent[:, None], pos, neg) * post[b][None, :]
    np.testing.assert_allclose(st["dWeights"], dw, rtol=1e-12)
    np.testing.assert_allclose(st["weights"], np.clip(w + 0.05 * dw, 0.01, 1.0), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# BCMSynapse (reference §3.8)

def test_bcm_verified_numbers_and_persistent_threshold(x64):
    c = syn("BCMSynapse", np.full((2, 2), 0.5), tau_w=10.0, tau_theta=5.0, theta0=0.5)
    np.testing.assert_allclose(c["theta"], [0.5, 0.5])
    st = c.evolve(pre=[[1.0, 2.0]], post=[[1.0, 0.2]])
    # (the 1e-7 added to theta in the denominator shifts W by about 1e-8)
    np.testing.assert_allclose(st["weights"], [[0.6, 0.488], [0.7, 0.476]], rtol=1e-6)
    np.testing.assert_allclose(st["theta"], [0.6, 0.408], rtol=1e-12)
    np.testing.assert_allclose(st["post_term"], [[1.0, 0.2 * (0.2 - 0.5) / 0.5]], rtol=1e-6)
    st = c.reset()
    np.testing.assert_allclose(st["theta"], [0.6, 0.408], rtol=1e-12)     # not reset
    assert float(np.abs(st["post_term"]).max()) == 0


@pytest.mark.slow
def test_bcm_soft_bound_decay_and_batch_mean(x64):
    rng = np.random.default_rng(9)
    B, n_in, n_out, dt = 3, 4, 2, 0.5
    w = rng.uniform(-0.5, 0.5, (n_in, n_out))
    theta = np.array([0.3, 0.8])
    c = syn("BCMSynapse", w, batch_size=B, dt=dt, tau_w=4.0, tau_theta=3.0, theta0=0.3,
            w_bound=1.5, w_decay=0.2)
    c.set(theta=theta)
    for _ in range(3):
        x, y = rng.random((B, n_in)), rng.random((B, n_out))
        st = c.evolve(pre=x, post=y)
        phi = y * (y - theta) / (theta + 1e-7)
        dw = (x.T @ phi) * (1.5 - np.abs(w)) - 0.2 * w
        w = w + dw * dt / 4.0
        theta = theta + dt / 3.0 * (-theta + (y ** 2).mean(axis=0))
        np.testing.assert_allclose(st["weights"], w, rtol=1e-10)
        np.testing.assert_allclose(st["theta"], theta, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# MSTDPETSynapse (reference §3.9)

def spikes_and_traces(rng, B, n_in, n_out):
    return dict(preSpike=(rng.random((B, n_in)) < 0.5).astype(float),
                postSpike=(rng.random((B, n_out)) < 0.5).astype(float),
                preTrace=rng.random((B, n_in)), postTrace=rng.random((B, n_out)))


@pytest.mark.slow
def test_mstdp_without_trace_modulates_this_calls_stdp(x64):
    rng = np.random.default_rng(1)
    w0 = rng.uniform(0.2, 0.8, (3, 2))
    kw = dict(A_plus=0.3, A_minus=0.2)
    c = syn("MSTDPETSynapse", w0, eta=0.5, **kw)
    io = spikes_and_traces(rng, 1, 3, 2)
    st = c.evolve(modulator=2.0, **io)                # no reset needed, no one-call lag
    _, d = ref_trace_stdp(w0, io["preSpike"], io["postSpike"], io["preTrace"],
                          io["postTrace"], **kw)
    np.testing.assert_allclose(st["dWeights"], d, rtol=1e-12)
    np.testing.assert_allclose(st["weights"], np.clip(w0 + 0.5 * 2.0 * d, 0, 1), rtol=1e-12)
    # no modulator (it reads 0 unless driven): nothing is learned
    c = syn("MSTDPETSynapse", w0, eta=0.5, **kw)
    np.testing.assert_array_equal(c.evolve(**io)["weights"], w0)


def test_mstdp_et_eligibility_recursion(x64):
    rng = np.random.default_rng(2)
    n_in, n_out, dt, tau_e, decay = 3, 2, 0.5, 4.0, 0.9
    w = rng.uniform(0.3, 0.7, (n_in, n_out))
    kw = dict(A_plus=0.2, A_minus=0.25, mu=0.5, tau_w=50.0)
    c = syn("MSTDPETSynapse", w, eta=0.8, tau_elg=tau_e, elg_decay=decay, dt=dt, **kw)
    e = np.zeros((n_in, n_out))
    for k in range(6):
        io = spikes_and_traces(rng, 1, n_in, n_out)
        r = [0.0, 0.0, 1.0, -0.5, 0.0, 2.0][k]        # reward arrives after the events
        st = c.evolve(modulator=r, **io)
        _, d = ref_trace_stdp(w, io["preSpike"], io["postSpike"], io["preTrace"],
                              io["postTrace"], mu=0.5, **{k2: kw[k2] for k2 in
                                                          ("A_plus", "A_minus")})
        e = e * math.exp(-dt / tau_e) * decay + d / tau_e
        w = np.clip(w + 0.8 * e * r - w / 50.0, 0.0, 1.0)
        np.testing.assert_allclose(st["eligibility"], e, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(st["weights"], w, rtol=1e-10, atol=1e-14)
    st = c.reset()
    assert float(np.abs(st["eligibility"]).max()) == 0                 # reset clears E


@pytest.mark.slow
def test_mstdp_outmask_and_batch_mean_modulator(x64):
    rng = np.random.default_rng(4)
    B, n_in, n_out = 2, 3, 3
    w0 = np.full((n_in, n_out), 0.5)
    c = syn("MSTDPETSynapse", w0, batch_size=B, A_plus=0.1, A_minus=0.1, eta=1.0)
    io = spikes_and_traces(rng, B, n_in, n_out)
    outmask = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    r = np.array([[1.0], [3.0]])
    st = c.evolve(modulator=r, outmask=outmask, **io)
    _, d = ref_trace_stdp(w0, io["preSpike"], io["postSpike"], io["preTrace"],
                          io["postTrace"], A_plus=0.1, A_minus=0.1)
    gate = (r * outmask).mean(axis=0)                    # (2, 0, 0.5)
    np.testing.assert_allclose(st["weights"], np.clip(w0 + d * gate, 0, 1), rtol=1e-12)
    np.testing.assert_array_equal(st["weights"][:, 1], 0.5)


# ---------------------------------------------------------------------------------------------
# The committed pairing protocol, through ngcspec.load

LAGS = np.array([-20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20], float)


@pytest.fixture(scope="module")
def pairing():
    circuit = ngcspec.load(ROOT / "circuits" / "stdp_pairing.yaml")
    return circuit, circuit.run()


def test_pairing_stimuli_are_what_the_script_writes():
    spec = importlib.util.spec_from_file_location(
        "stdp_pairing_stimuli", ROOT / "circuits" / "data" / "stdp_pairing_stimuli.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pre, post = mod.pairing_trains()
    np.testing.assert_array_equal(np.load(ROOT / "circuits/data/stdp_pairing_pre.npy"), pre)
    np.testing.assert_array_equal(np.load(ROOT / "circuits/data/stdp_pairing_post.npy"), post)
    assert tuple(mod.LAGS) == tuple(LAGS)


def test_pairing_protocol_gives_each_rules_window(pairing):
    _, res = pairing
    decay = np.exp(-np.abs(LAGS) / 10.0)
    window = np.where(LAGS > 0, 0.01 * decay, np.where(LAGS < 0, -0.012 * decay, -0.002))
    w_trace = res.records["run/W_trace.weights"][0]
    w_exp = res.records["run/W_exp.weights"][0]
    w_event = res.records["run/W_event.weights"][0]
    np.testing.assert_allclose(w_trace, 0.5 + window, rtol=1e-5)
    np.testing.assert_allclose(w_exp, 0.5 + window * math.exp(-0.5), rtol=1e-5)
    np.testing.assert_allclose(res.records["run/W_mod.weights"][0], 0.5 + 0.5 * window,
                               rtol=1e-5)
    recent = (LAGS >= 0) & (LAGS < 2)
    np.testing.assert_allclose(w_event, np.where(recent, 0.50495, 0.49495), rtol=1e-5)
    assert np.all(np.sign(w_trace - 0.5) == np.where(LAGS > 0, 1, -1))


def test_new_learning_rate_reuses_the_program_and_scales_the_window(pairing):
    circuit, res = pairing
    faster = circuit.with_params(**{"W_trace.eta": 3.0, "W_trace.A_minus": 0.024})
    assert faster.program is circuit.program
    w = faster.run().records["run/W_trace.weights"][0]
    decay = np.exp(-np.abs(LAGS) / 10.0)
    window = np.where(LAGS > 0, 0.01 * decay, np.where(LAGS < 0, -0.024 * decay, -0.014))
    np.testing.assert_allclose(w, 0.5 + 3.0 * window, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# A Poisson -> STDP -> LIF network, replayed in numpy from its per-step records

NETWORK = """
ngcspec: 1
name: stdp-network
seed: 3
dtype: float64
components:
  W: {kind: TraceSTDPSynapse, shape: [12, 4], A_plus: 0.02, A_minus: 0.015, eta: 1.0,
      resist_scale: 60.0, weight_init: {dist: uniform, low: 0.2, high: 0.6},
      init: {mask: {file: $mask}}}
  inp: {kind: PoissonCell, n_units: 12, target_freq: 200.0}
  out: {kind: LIFCell, n_units: 4, tau_m: 5.0, refract_time: 2.0, tau_theta: 0.0}
  tr_in: {kind: VarTrace, n_units: 12, tau_tr: 8.0, a_delta: 0.0}
  tr_out: {kind: VarTrace, n_units: 4, tau_tr: 8.0, a_delta: 0.0}
wires:
  - inp.outputs ~> W.inputs
  - W.outputs -> out.j
  - inp.outputs -> tr_in.inputs
  - out.s -> tr_out.inputs
  - inp.outputs -> W.preSpike
  - out.s -> W.postSpike
  - tr_in.outputs -> W.preTrace
  - tr_out.outputs -> W.postTrace
clamps:
  inp.inputs: 1.0
schedule:
  - reset
  - repeat: 80
    do: [advance, {evolve: [W]}]
run:
  record: {inp.outputs: per_step, out.s: per_step, tr_in.outputs: per_step,
           tr_out.outputs: per_step, W.outputs: per_step, W.weights: per_step}
"""


def test_stdp_network_replays_in_numpy(tmp_path):
    rng = np.random.default_rng(0)
    mask = (rng.random((12, 4)) < 0.75).astype(float)
    np.save(tmp_path / "mask.npy", mask)
    circuit = ngcspec.load(NETWORK.replace("$mask", str(tmp_path / "mask.npy")))
    # evolve-only inputs do not order the step: W runs before the cell that reads it
    assert circuit.order.index("W") < circuit.order.index("out")
    r = circuit.run().records
    pre, post = r["run/inp.outputs"][0, :, 0], r["run/out.s"][0, :, 0]
    xpre, xpost = r["run/tr_in.outputs"][0, :, 0], r["run/tr_out.outputs"][0, :, 0]
    outs = r["run/W.outputs"][0, :, 0]
    ws = r["run/W.weights"][0, 0]                     # unbatched: (epochs, batches, steps, ...)
    assert pre.sum() > 50 and post.sum() > 5                        # both sides spike
    # snap traces: 1 on a spike, else decayed
    d = math.exp(-1 / 8.0)
    x = np.zeros(12)
    for k in range(len(pre)):
        x = np.where(pre[k] > 0, 1.0, d * x)
        np.testing.assert_allclose(xpre[k], x, rtol=1e-12)
    # ws[k] is recorded after step k, before the evolve that follows it: the weights step k
    # transmitted with. Transmission reads the previous step's spikes through them.
    np.testing.assert_allclose(outs[0], 0.0)
    for k in range(1, len(pre)):
        np.testing.assert_allclose(outs[k], pre[k - 1] @ ws[k] * 60.0, rtol=1e-12)
    # the evolve after step k takes ws[k] to ws[k + 1] with this step's spikes and traces
    for k in range(len(pre) - 1):
        w, _ = ref_trace_stdp(ws[k], pre[k][None], post[k][None], xpre[k][None],
                              xpost[k][None], A_plus=0.02, A_minus=0.015, mask=mask)
        np.testing.assert_allclose(ws[k + 1], w, rtol=1e-12, atol=1e-15)
    assert np.all(ws[:, mask == 0] == 0)                    # the file's mask holds throughout
    assert np.abs(ws[-1] - ws[0]).max() > 0.01              # it learned
