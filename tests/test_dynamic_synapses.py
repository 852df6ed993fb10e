"""STPDenseSynapse and the conductance synapses against references written here.

Expected values come from NumPy re-implementations of the recursions of reference sections
3.3 and 3.4 (written per synapse with plain loops), from closed forms (exponential recovery,
the exponential, alpha and difference-of-exponentials kernels) and from hand arithmetic.
Long runs drive the kind's ``advance`` inside one jitted ``lax.scan`` (see ``drive``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import ngcspec
from ngcspec.components.dynamic_synapses import ConductanceParams, STPParams
from ngcspec.lazy import jax, jnp, lax
from ngcspec.registry import StepContext, get_kind
from ngcspec.single import Single

TOL = dict(rtol=1e-5, atol=1e-6)
KINDS = ("STPDenseSynapse", "ExponentialSynapse", "AlphaSynapse", "DoubleExpSynapse")


def drive(syn: Single, record, dt=None, **inputs):
    """Run ``syn`` for T steps with inputs[name][t] on step t, in one jitted scan.

    Returns {compartment: (T, ...)} of the recorded compartments after each step."""
    kind, p = syn.kind, syn.p
    dt = syn.dt if dt is None else dt
    names = sorted(inputs)
    seqs = tuple(jnp.asarray(np.asarray(inputs[n], np.float32)) for n in names)

    @jax.jit
    def run(state, seqs):
        def body(s, xs):
            s = {**s, **dict(zip(names, xs))}
            ctx = StepContext(jnp.float32(dt), jnp.float32(0.0), None, syn.batch_size)
            s = {**s, **kind.advance(p, s, ctx)}
            return s, {c: s[c] for c in record}
        return lax.scan(body, state, seqs)[1]

    return {c: np.asarray(v, np.float64) for c, v in run(syn.state, seqs).items()}


def regular_train(steps, period, first, batch, n_in, rng=None):
    """Spikes every `period` steps from `first` (per input a different phase if rng)."""
    s = np.zeros((steps, batch, n_in))
    for b in range(batch):
        for i in range(n_in):
            start = first + (int(rng.integers(0, period)) if rng is not None else 0)
            s[start::period, b, i] = 1.0
    return s


# --- STP: NumPy reference, one synapse at a time (reference section 3.3) --------------------

def ref_stp(spikes, w, big_u, tau_f, tau_d, k=1.0):
    """Tsodyks-Markram recursion per synapse; spikes (T, B, n_in). Returns u, x, out."""
    steps, batch, n_in = spikes.shape
    n_out = w.shape[1]
    u = np.zeros((batch, n_in, n_out))
    x = np.ones((batch, n_in, n_out))
    w_dyn = np.zeros((batch, n_in, n_out))
    us, xs, outs = [], [], []
    for t in range(steps):
        out = np.zeros((batch, n_out))
        for b in range(batch):
            for i in range(n_in):
                s = spikes[t, b, i]
                for j in range(n_out):
                    if tau_f > 0:
                        u[b, i, j] = u[b, i, j] - k * u[b, i, j] / tau_f \
                            + big_u[i, j] * (1 - u[b, i, j]) * s
                    else:
                        u[b, i, j] = big_u[i, j]
                    w_dyn[b, i, j] = w[i, j] * u[b, i, j] * x[b, i, j] * s \
                        + w_dyn[b, i, j] * (1 - s)
                    if tau_d > 0:
                        x[b, i, j] = x[b, i, j] + k * (1 - x[b, i, j]) / tau_d \
                            - u[b, i, j] * x[b, i, j] * s
                    out[b, j] += s * w_dyn[b, i, j]
        us.append(u.copy())
        xs.append(x.copy())
        outs.append(out)
    return np.array(us), np.array(xs), np.array(outs)


def stp(shape=(3, 4), batch=2, seed=0, **params):
    params.setdefault("weight_init", {"dist": "uniform", "low": 0.5, "high": 1.5})
    return Single("STPDenseSynapse", shape=list(shape), batch_size=batch, seed=seed, **params)


def test_stp_hand_check():
    syn = Single("STPDenseSynapse", shape=[1, 1], weight_init={"dist": "constant", "value": 1.0},
                 resources_init={"dist": "constant", "value": 1.0})
    syn.advance(inputs=[[0.425]])
    # u = 0 - 0 + 1 * (1 - 0) * 0.425; Wdyn = 1 * 0.425 * 1 * 0.425; out = 0.425 * Wdyn;
    # x = 1 + 0 - 0.425 * 1 * 0.425
    np.testing.assert_allclose(syn["u"], [[[0.425]]], rtol=1e-6)
    np.testing.assert_allclose(syn["Wdyn"], [[[0.180625]]], rtol=1e-6)
    np.testing.assert_allclose(syn["outputs"], [[0.0767656]], rtol=1e-5)
    np.testing.assert_allclose(syn["x"], [[[0.819375]]], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("regime, u0, tau_f, tau_d", [
    ("facilitating", 0.1, 750.0, 20.0),
    ("depressing", 0.6, 20.0, 300.0),
])
def test_stp_regular_train_non_square(regime, u0, tau_f, tau_d):
    rng = np.random.default_rng(1)
    syn = stp(shape=(3, 4), batch=2, tau_f=tau_f, tau_d=tau_d,
              resources_init={"dist": "uniform", "low": u0 * 0.8, "high": u0 * 1.2})
    spikes = regular_train(300, 25, 3, 2, 3, rng)
    got = drive(syn, ("u", "x", "outputs"), inputs=spikes)
    w, big_u = np.asarray(syn["weights"], np.float64), np.asarray(syn["resources"], np.float64)
    u, x, out = ref_stp(spikes, w, big_u, tau_f, tau_d)
    np.testing.assert_allclose(got["u"], u, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got["x"], x, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got["outputs"], out, rtol=2e-5, atol=1e-6)
    # the regime shows in the efficacy u+ x- released by successive spikes of one synapse
    fired = np.flatnonzero(spikes[:, 0, 0])
    amp = u[fired, 0, 0, 0] * x[fired - 1, 0, 0, 0]
    if regime == "facilitating":
        assert np.all(np.diff(amp) > 0)
    else:
        assert np.all(np.diff(amp) < 0)


def test_stp_tau_zero_switches_mechanisms_off():
    syn = stp(shape=(2, 3), batch=1, tau_f=0.0, tau_d=0.0)
    spikes = regular_train(20, 3, 0, 1, 2)
    got = drive(syn, ("u", "x", "outputs"), inputs=spikes)
    big_u = np.asarray(syn["resources"], np.float64)
    np.testing.assert_allclose(got["u"], np.broadcast_to(big_u, got["u"].shape), **TOL)
    np.testing.assert_array_equal(got["x"], 1.0)
    w = np.asarray(syn["weights"], np.float64)
    np.testing.assert_allclose(got["outputs"], spikes @ (w * big_u), **TOL)   # s^2 = s


def test_stp_dt_per_step_default_ignores_dt():
    """ngc-learn's form: the time constants count steps, whatever dt is."""
    spikes = regular_train(60, 7, 2, 1, 2)
    runs = [drive(stp(shape=(2, 3), batch=1, tau_f=30.0, tau_d=15.0), ("u", "x"), dt=dt,
                  inputs=spikes) for dt in (1.0, 0.1)]
    np.testing.assert_array_equal(runs[0]["u"], runs[1]["u"])
    np.testing.assert_array_equal(runs[0]["x"], runs[1]["x"])


def test_stp_scale_by_dt_equals_per_step_at_dt_1_and_uses_dt_otherwise():
    spikes = regular_train(60, 7, 2, 1, 2)
    kw = dict(shape=(2, 3), batch=1, tau_f=30.0, tau_d=15.0)
    a = drive(stp(**kw), ("u", "x"), dt=1.0, inputs=spikes)
    b = drive(stp(scale_by_dt=True, **kw), ("u", "x"), dt=1.0, inputs=spikes)
    np.testing.assert_allclose(a["u"], b["u"], **TOL)
    c = drive(stp(scale_by_dt=True, **kw), ("u", "x"), dt=0.5, inputs=spikes)
    syn = stp(**kw)
    w, big_u = np.asarray(syn["weights"], np.float64), np.asarray(syn["resources"], np.float64)
    u, x, _ = ref_stp(spikes, w, big_u, 30.0, 15.0, k=0.5)
    np.testing.assert_allclose(c["u"], u, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(c["x"], x, rtol=2e-5, atol=1e-6)


def test_stp_scale_by_dt_recovers_exponentially_as_dt_goes_to_zero():
    """One spike at t = 0, then 40 ms of silence: u decays as u+ exp(-t/tau_f) and x recovers
    as 1 - (1 - x+) exp(-t/tau_d); the Euler error shrinks in proportion to dt."""
    tau_f, tau_d, big_u, t_end = 20.0, 10.0, 0.5, 40.0
    errors = []
    for dt in (0.1, 0.01):
        steps = int(round(t_end / dt)) + 1
        spikes = np.zeros((steps, 1, 1))
        spikes[0] = 1.0
        syn = Single("STPDenseSynapse", shape=[1, 1], tau_f=tau_f, tau_d=tau_d,
                     scale_by_dt=True, resources_init={"dist": "constant", "value": big_u},
                     weight_init={"dist": "constant", "value": 1.0}, dt=dt)
        got = drive(syn, ("u", "x"), inputs=spikes)
        # after the spike step: u+ = U (1 - dt/tau_f * 0) ... = U, x+ = 1 - U * 1
        u_plus, x_plus = big_u, 1.0 - big_u
        t = dt * np.arange(steps)
        u_exact = u_plus * np.exp(-t / tau_f)
        x_exact = 1 - (1 - x_plus) * np.exp(-t / tau_d)
        errors.append(max(np.abs(got["u"].ravel() - u_exact).max(),
                          np.abs(got["x"].ravel() - x_exact).max()))
    assert errors[1] < 2e-3
    assert 6 < errors[0] / errors[1] < 14          # first order: 10x smaller for 10x smaller dt


@pytest.mark.slow
def test_stp_reset_and_compartments():
    kind = get_kind("STPDenseSynapse")
    shapes = kind.shapes(STPParams(shape=[3, 5]))
    for name in ("u", "x", "Wdyn", "resources", "weights", "mask"):
        assert shapes[name] == (3, 5), name
    assert shapes["inputs"] == (3,) and shapes["outputs"] == (5,)
    syn = stp(shape=(3, 5), batch=2)
    assert syn["u"].shape == (2, 3, 5) and syn["resources"].shape == (3, 5)
    syn.advance(inputs=np.ones((2, 3)))
    assert np.any(np.asarray(syn["x"]) < 1)
    syn.reset()
    np.testing.assert_array_equal(syn["u"], 0.0)
    np.testing.assert_array_equal(syn["x"], 1.0)
    np.testing.assert_array_equal(syn["Wdyn"], 0.0)
    np.testing.assert_array_equal(syn["outputs"], 0.0)


def test_stp_defaults_alias_and_resources():
    p = STPParams(shape=[2, 2])
    assert (p.tau_f, p.tau_d, p.scale_by_dt) == (750.0, 50.0, False)
    assert (p.resources_init.dist, p.resources_init.low, p.resources_init.high) == \
        ("uniform", 0.125, 0.175)
    q = STPParams(shape=[2, 2], resources_int={"dist": "constant", "value": 0.3})
    assert q.resources_init.value == 0.3
    u = np.asarray(stp(shape=(20, 30), resources_init=p.resources_init.model_dump())["resources"])
    assert u.min() >= 0.125 and u.max() < 0.175
    with pytest.raises(ValidationError):
        STPParams(shape=[2, 2], tau_f=-1.0)
    with pytest.raises(ValidationError):
        STPParams(shape=[2, 2], batch_size=3)


@pytest.mark.slow
def test_stp_p_conn_mask_silences_pruned_synapses():
    syn = stp(shape=(10, 12), batch=1, p_conn=0.4, seed=3,
              weight_init={"dist": "constant", "value": 1.0},
              resources_init={"dist": "constant", "value": 0.5})
    mask = np.asarray(syn["mask"], np.float64)
    assert 0 < mask.sum() < mask.size
    syn.advance(inputs=np.ones((1, 10)))
    np.testing.assert_allclose(syn["outputs"], np.ones((1, 10)) @ (0.5 * mask), **TOL)


# --- conductance synapses: NumPy reference (reference section 3.4) -------------------------

def ref_conductance(kind, spikes, w, dt, g_bar, tau_d, tau_r=None, v=None, e_syn=None,
                    scale=1.0):
    """The per-step recursion, written out; spikes (T, B, n_in). Returns g, i (T, B, n_out)."""
    steps, batch, _ = spikes.shape
    n_out = w.shape[1]
    g = np.zeros((batch, n_out))
    h = np.zeros((batch, n_out))
    gs, cur = [], []
    for t in range(steps):
        drive_ = g_bar * spikes[t] @ w
        if kind == "ExponentialSynapse":
            g = g + dt * (-g / tau_d) + drive_
        elif kind == "AlphaSynapse":
            h = h + dt * (-h / tau_d) + drive_
            g = g + dt * (-g / tau_d + h / tau_d)
        else:
            h = h + dt * (-h / tau_r) + drive_ * (1 / tau_r - 1 / tau_d)
            g = g + dt * (-g / tau_d + h)
        i = -g * scale if e_syn is None else -g * scale * (v[t] - e_syn)
        gs.append(g.copy())
        cur.append(i)
    return np.array(gs), np.array(cur)


def conductance(kind, shape=(3, 2), batch=2, **params):
    params.setdefault("tau_decay", 4.0)
    params.setdefault("g_syn_bar", 1.5)
    params.setdefault("syn_rest", None)
    if kind == "DoubleExpSynapse":
        params.setdefault("tau_rise", 1.0)
    return Single(kind, shape=list(shape), batch_size=batch, **params)


def test_exponential_hand_check():
    # g_bar = 2, tau = 5, dt = 1, one spike: 2, 2 - 2/5 = 1.6, 1.6 - 0.32 = 1.28
    syn = conductance("ExponentialSynapse", shape=(1, 1), batch=1, tau_decay=5.0, g_syn_bar=2.0)
    got = [float(syn.advance(inputs=[[s]])["g_syn"][0, 0]) for s in (1.0, 0.0, 0.0)]
    np.testing.assert_allclose(got, [2.0, 1.6, 1.28], rtol=1e-6)
    np.testing.assert_allclose(syn["i_syn"], [[-1.28]], rtol=1e-6)     # syn_rest null: -g


@pytest.mark.parametrize("kind", KINDS[1:])
def test_conductance_recursion_with_weights_and_voltage(kind):
    rng = np.random.default_rng(2)
    syn = conductance(kind, shape=(3, 2), batch=2, is_nonplastic=False, syn_rest=-70.0,
                      resist_scale=0.5, weight_init={"dist": "uniform", "low": 0.2, "high": 1.0})
    spikes = (rng.random((40, 2, 3)) < 0.15).astype(float)
    v = rng.normal(-60.0, 5.0, size=(40, 2, 2))
    got = drive(syn, ("g_syn", "i_syn", "outputs"), dt=0.5, inputs=spikes, v=v)
    w = np.asarray(syn["weights"], np.float64)
    g, i = ref_conductance(kind, spikes, w, 0.5, 1.5, 4.0, 1.0, v=v, e_syn=-70.0, scale=0.5)
    np.testing.assert_allclose(got["g_syn"], g, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got["i_syn"], i, rtol=2e-5, atol=1e-5)
    np.testing.assert_array_equal(got["outputs"], got["i_syn"])


def kernel(kind, t, g_bar, tau_d, tau_r):
    if kind == "ExponentialSynapse":
        return g_bar * np.exp(-t / tau_d)
    if kind == "AlphaSynapse":
        return g_bar * (t / tau_d) * np.exp(-t / tau_d)
    return g_bar * (np.exp(-t / tau_d) - np.exp(-t / tau_r))


@pytest.mark.parametrize("kind", KINDS[1:])
def test_single_spike_response_tends_to_the_closed_form_kernel(kind):
    g_bar, tau_d, tau_r, t_end = 2.0, 5.0, 1.5, 30.0
    errors = {}
    for dt in (0.1, 0.01):
        steps = int(round(t_end / dt)) + 1
        spikes = np.zeros((steps, 1, 1))
        spikes[0] = 1.0
        syn = conductance(kind, shape=(1, 1), batch=1, g_syn_bar=g_bar, tau_decay=tau_d,
                          **({"tau_rise": tau_r} if kind == "DoubleExpSynapse" else {}))
        g = drive(syn, ("g_syn",), dt=dt, inputs=spikes)["g_syn"].ravel()
        t = dt * np.arange(steps)
        exact = kernel(kind, t, g_bar, tau_d, tau_r)
        errors[dt] = np.abs(g - exact).max() / exact.max()
        if dt == 0.01:
            assert errors[dt] < 0.02             # O(dt): the Euler step lags by one step
            peak = t[np.argmax(g)]
            if kind == "ExponentialSynapse":
                assert peak == 0.0
            elif kind == "AlphaSynapse":                  # alpha function: peak at tau, g_bar/e
                assert abs(peak - tau_d) < 0.02
                np.testing.assert_allclose(g.max(), g_bar / math.e, rtol=2e-3)
            else:
                t_star = math.log(tau_d / tau_r) * tau_d * tau_r / (tau_d - tau_r)
                assert abs(peak - t_star) < 0.02
                np.testing.assert_allclose(
                    g.max(), g_bar * (math.exp(-t_star / tau_d) - math.exp(-t_star / tau_r)),
                    rtol=2e-3)
    assert 6 < errors[0.1] / errors[0.01] < 14         # first-order convergence


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS[1:])
def test_current_is_minus_g_times_driving_force(kind):
    e_syn = -10.0
    a = conductance(kind, shape=(1, 4), batch=1, syn_rest=e_syn, g_conduct_factor=2.0)
    b = conductance(kind, shape=(1, 4), batch=1, syn_rest=None, g_conduct_factor=2.0)
    v = np.array([[-80.0, -10.0, 0.0, 30.0]])
    for syn in (a, b):
        syn.advance(inputs=[[1.0]], v=v)
        syn.advance(inputs=[[0.0]], v=v)
    g = np.asarray(a["g_syn"], np.float64)
    assert np.all(g > 0)
    np.testing.assert_allclose(a["i_syn"], -2.0 * g * (v - e_syn), **TOL)
    assert float(np.asarray(a["i_syn"])[0, 1]) == 0.0          # at the reversal potential
    np.testing.assert_allclose(b["i_syn"], -2.0 * g, **TOL)    # voltage-independent


@pytest.mark.slow
def test_is_nonplastic_weights_and_p_conn():
    syn = conductance("ExponentialSynapse", shape=(6, 5), batch=1,
                      weight_init={"dist": "gaussian"})
    np.testing.assert_array_equal(syn["weights"], np.ones((6, 5)))
    plastic = conductance("ExponentialSynapse", shape=(6, 5), batch=1, is_nonplastic=False,
                          weight_init={"dist": "constant", "value": 0.25})
    np.testing.assert_array_equal(plastic["weights"], np.full((6, 5), 0.25))
    sparse = conductance("AlphaSynapse", shape=(30, 40), batch=1, p_conn=0.3)
    mask = np.asarray(sparse["mask"])
    assert 0 < mask.mean() < 0.5
    np.testing.assert_array_equal(sparse["weights"], mask)
    sparse.advance(inputs=np.ones((1, 30)))
    np.testing.assert_allclose(sparse["h_syn"], 1.5 * mask.sum(axis=0)[None], **TOL)


@pytest.mark.parametrize("kind", KINDS[1:])
def test_conductance_reset_and_shapes(kind):
    syn = conductance(kind, shape=(3, 2), batch=4)
    assert syn["v"].shape == (4, 2) and syn["g_syn"].shape == (4, 2)
    assert ("h_syn" in syn.state) == (kind != "ExponentialSynapse")
    syn.advance(inputs=np.ones((4, 3)), v=np.full((4, 2), -50.0))
    syn.reset()
    for name in ("g_syn", "i_syn", "outputs", "v", "inputs") + (
            ("h_syn",) if kind != "ExponentialSynapse" else ()):
        np.testing.assert_array_equal(syn[name], 0.0)
    k = get_kind(kind)
    assert not k.plastic and "biases" not in k.compartments


@pytest.mark.parametrize("kind", KINDS)
def test_documentation_and_parameters(kind):
    k = get_kind(kind)
    assert k.family == "synapses" and "Deviations from ngc-learn" in k.describe()
    for name, field in k.Params.model_fields.items():
        assert field.description, f"{kind}.{name} has no description"
    assert "batch_size" not in k.Params.model_fields


def test_conductance_parameter_validation():
    with pytest.raises(ValidationError):
        ConductanceParams(shape=[2, 2], tau_decay=5.0, g_syn_bar=1.0)   # syn_rest is required
    with pytest.raises(ValidationError):
        ConductanceParams(shape=[2, 2], tau_decay=0.0, g_syn_bar=1.0, syn_rest=None)
    p = ConductanceParams(shape=[2, 2], tau_decay=5.0, g_syn_bar=1.0, syn_rest=None)
    assert p.is_nonplastic is True and p.resist_scale == 1.0


CIRCUIT = """
ngcspec: 1
name: t
components:
  s: {{kind: {kind}, shape: [2, 3], tau_decay: 5.0, g_syn_bar: 1.0, syn_rest: 0.0{extra}}}
clamps:
  s.inputs: 1.0
schedule: [reset, advance]
"""


@pytest.mark.parametrize("kind, extra, field", [
    ("DoubleExpSynapse", ", tau_rise: 5.0", "tau_rise"),
    ("ExponentialSynapse", ", bias_init: {dist: constant, value: 0.1}", "bias_init"),
])
def test_validation_errors_name_the_field(kind, extra, field):
    with pytest.raises(ngcspec.CircuitError) as err:
        ngcspec.load(CIRCUIT.format(kind=kind, extra=extra))
    text = str(err.value)
    assert f"components.s.{field}" in text or field in text, text
    paths = [p.path for p in err.value.problems]
    assert any(field in p for p in paths), paths


def test_circuit_with_voltage_wired_through_a_delay():
    """A conductance synapse inside a compiled circuit, v read from a cell one step late."""
    text = """
ngcspec: 1
name: t
dt: 0.5
components:
  syn:  {kind: ExponentialSynapse, shape: [1, 1], tau_decay: 4.0, g_syn_bar: 0.5, syn_rest: 10.0}
  cell: {kind: RateCell, n_units: 1, tau_m: 5.0, prior: [gaussian, 1.0]}
wires:
  - cell.z ~> syn.v
  - syn.outputs -> cell.j
clamps:
  syn.inputs: 1.0
schedule: [reset, {advance: 40}]
run:
  record: {cell.z: per_step, syn.g_syn: per_step, syn.i_syn: per_step}
"""
    res = ngcspec.load(text).run()
    rec = {k.split("/")[-1]: v.ravel() for k, v in res.records.items()}   # one phase
    z, g, i = rec["cell.z"], rec["syn.g_syn"], rec["syn.i_syn"]
    v_prev = np.r_[0.0, z[:-1]]                         # the delayed wire
    np.testing.assert_allclose(i, -g * (v_prev - 10.0), rtol=1e-5, atol=1e-6)
    # numpy re-run of both: g with constant input, the cell's Euler step
    g_ref, z_ref, zz = [], [], 0.0
    gg = 0.0
    for _ in range(40):
        gg = gg - 0.5 / 4.0 * gg + 0.5
        cur = -gg * (zz - 10.0)
        zz = zz + 0.5 / 5.0 * (-zz + cur)
        g_ref.append(gg)
        z_ref.append(zz)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5)
    np.testing.assert_allclose(z, z_ref, rtol=1e-4, atol=1e-5)


# --- the example circuits ------------------------------------------------------------------

CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"


@pytest.mark.slow
def test_stp_example_matches_the_numpy_recursion():
    res = ngcspec.load(CIRCUITS / "stp_depression_facilitation.yaml").run()
    spikes = np.load(CIRCUITS / "data" / "stp_spikes.npy")[:, None, :].astype(np.float64)
    ones = np.ones((2, 3))
    for name, u0, tau_f, tau_d in (("dep", 0.5, 20.0, 300.0), ("fac", 0.1, 750.0, 50.0)):
        _, x, out = ref_stp(spikes, ones, np.full((2, 3), u0), tau_f, tau_d)
        got = res.records[f"drive/{name}.outputs"][0]
        np.testing.assert_allclose(got, out, rtol=1e-5, atol=1e-6)
    _, x, _ = ref_stp(spikes, ones, np.full((2, 3), 0.5), 20.0, 300.0)
    np.testing.assert_allclose(res.records["drive/dep.x"][0, :, 0, 0, 0], x[:, 0, 0, 0],
                               rtol=1e-5, atol=1e-6)
    # the numbers in the file's header: the efficacy u+ x- that input 0's spikes release
    # (the outputs also carry input 1 where both fire), from a scalar recursion
    for u0, tau_f, tau_d, expected in ((0.5, 20.0, 300.0, [0.5, 0.2976, 0.1125, 0.261]),
                                       (0.1, 750.0, 50.0, [0.1, 0.1769, 0.382, 0.4713])):
        u, x_, amps = 0.0, 1.0, []
        for s in spikes[:, 0, 0]:
            u = u - u / tau_f + u0 * (1 - u) * s
            if s:
                amps.append(u * x_)
            x_ = x_ + (1 - x_) / tau_d - u * x_ * s
        np.testing.assert_allclose([amps[0], amps[1], amps[9], amps[10]], expected, atol=1e-3)


@pytest.mark.slow
def test_conductance_examples_match_the_recursions():
    spikes = np.load(CIRCUITS / "data" / "conductance_spikes.npy")[:, None, :].astype(float)
    res = ngcspec.load(CIRCUITS / "conductance_kernels.yaml").run()
    for name, kind, tau_d, tau_r in (("exp", "ExponentialSynapse", 5.0, None),
                                     ("alpha", "AlphaSynapse", 5.0, None),
                                     ("dexp", "DoubleExpSynapse", 8.0, 2.0)):
        g, _ = ref_conductance(kind, spikes, np.ones((2, 1)), 0.25, 1.0, tau_d, tau_r)
        np.testing.assert_allclose(res.records[f"drive/{name}.g_syn"][0], g, rtol=1e-5,
                                   atol=1e-6)
    # the coupled cell: both synapses and the RateCell membrane, re-run in numpy
    res = ngcspec.load(CIRCUITS / "conductance_coupled_cell.yaml").run()
    w_inh = np.array([[0.0, 1.0], [0.0, 1.0]])
    g_e = np.zeros((1, 2))
    h_i = np.zeros((1, 2))
    g_i = np.zeros((1, 2))
    z = np.zeros((1, 2))
    zs = []
    for t in range(len(spikes)):
        v = z                                          # the delayed wires read last step's z
        g_e = g_e - 0.25 / 5.0 * g_e + 0.2 * spikes[t] @ np.ones((2, 2))
        h_i = h_i - 0.25 / 5.0 * h_i + 0.3 * spikes[t] @ w_inh
        g_i = g_i - 0.25 / 5.0 * g_i + 0.25 / 5.0 * h_i
        j = -g_e * (v - 65.0) - g_i * (v + 15.0)
        z = z + 0.25 / 10.0 * (-z + j)
        zs.append(z)
    np.testing.assert_allclose(res.records["drive/cell.z"][0], np.array(zs), rtol=1e-4,
                               atol=1e-5)
    peak = res.records["drive/cell.z"][0, :, 0, :]
    np.testing.assert_allclose(peak[:200].max(axis=0), [3.2, 2.5], atol=0.05)   # the header
    np.testing.assert_allclose(peak[200:].max(axis=0), [13.2, 8.9], atol=0.05)
