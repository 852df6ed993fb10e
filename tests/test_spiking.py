"""Spiking cells, encoders and traces against the reference equations (components.md §5).

Expected values come from numbers worked by hand (the reference's verified steps), from a
numpy recursion of the discrete maps written here (float64), from the closed-form f-I curve
of the LIF neuron, and from binomial statistics for the encoders. Long runs drive a kind's
pure ``advance`` inside one jitted ``lax.scan``; the f-I circuit runs through ``ngcspec.load``.
"""

import math
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import ngcspec
from ngcspec.registry import StepContext, get_kind
from ngcspec.single import Single

jnp = jax.numpy
lax = jax.lax

ROOT = Path(__file__).resolve().parents[1]
SPIKING = ["LIFCell", "IFCell", "PoissonCell", "BernoulliCell", "VarTrace"]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def a(x):
    return np.asarray(x, np.float64)


def fast(kind, **kw) -> Single:
    """A ``Single`` whose advance runs jitted: one compile instead of one per operation."""
    c = Single(kind, **kw)
    step = jax.jit(lambda s, dt, t, key: c.kind.advance(c.p, s, StepContext(dt, t, key,
                                                                            c.batch_size)))

    def advance(**inputs):
        c.set(**inputs)
        ctx = c._ctx()
        c.state = {**c.state, **step(c.state, ctx.dt, ctx.t, ctx.key)}
        c.t += c.dt
        return c.state

    c.advance = advance
    return c


def run_scan(cell: Single, inputs: dict, record=("v", "s")):
    """Drive ``cell``'s pure advance over the rows of ``inputs`` (T, B, ...) in one scan.

    Returns the records stacked (T, B, ...) and leaves the final state in ``cell``."""
    kind, p, dtype = cell.kind, cell.p, cell.dtype
    dt = jnp.asarray(cell.dt, dtype)
    rows = {k: jnp.asarray(v, dtype) for k, v in inputs.items()}

    def body(carry, x):
        state, t, key = carry
        key, sub = jax.random.split(key)
        ctx = StepContext(dt=dt, t=t, key=sub if kind.stochastic else None,
                          batch_size=cell.batch_size)
        s = {**state, **x}
        state = {**s, **kind.advance(p, s, ctx)}
        return (state, t + dt, key), {k: state[k] for k in record}

    carry0 = (cell.state, jnp.asarray(cell.t, dtype), cell.key)
    (state, t, key), rec = jax.jit(lambda c, xs: lax.scan(body, c, xs))(carry0, rows)
    cell.state, cell.t, cell.key = state, float(t), key
    return {k: np.asarray(v) for k, v in rec.items()}


# ---------------------------------------------------------------------------------------------
# The registry contract

@pytest.mark.parametrize("kind", SPIKING)
def test_kind_is_registered_and_documented(kind):
    cls = get_kind(kind)
    assert cls is not None and cls.family == "spiking neurons"
    assert "Deviations from ngc-learn" in cls.__doc__
    fields = cls.Params.model_fields
    assert "batch_size" not in fields
    assert all(f.description for f in fields.values()), kind
    cls.Params.model_json_schema()


@pytest.mark.slow
def test_validation_of_spiking_circuits_does_not_import_jax():
    code = ("import sys, ngcspec.components.spiking as s, ngcspec.components.stdp as d; "
            "s.LIFCell.Params(n_units=2, tau_m=10.0); "
            "d.TraceSTDPSynapse.check(d.TraceSTDPSynapse.Params(shape=[2, 3], A_plus=1, "
            "A_minus=1)); assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parameter_names_and_defaults_follow_the_reference():
    lif = get_kind("LIFCell").Params(n_units=1, tau_m=10.0)
    assert (lif.resist_m, lif.thr, lif.v_rest, lif.v_reset, lif.conduct_leak, lif.tau_theta,
            lif.theta_plus, lif.refract_time, lif.one_spike, lif.integration_type, lif.v_min,
            lif.max_one_spike) == (1.0, -52.0, -65.0, -60.0, 1.0, 1e7, 0.05, 5.0, False,
                                   "euler", None, False)
    iff = get_kind("IFCell").Params(n_units=1, tau_m=10.0)
    assert (iff.refract_time, iff.lower_clamp_voltage) == (0.0, True)
    assert get_kind("PoissonCell").Params(n_units=1).target_freq == 63.75
    tr = get_kind("VarTrace").Params(n_units=1, tau_tr=10.0, a_delta=0.0)
    assert (tr.P_scale, tr.gamma_tr, tr.decay_type, tr.n_nearest_spikes) == (1.0, 1.0, "exp", 0)


def test_floats_are_traced_and_flags_are_static():
    from ngcspec.params import numeric_leaves
    leaves = numeric_leaves(get_kind("LIFCell").Params(n_units=1, tau_m=10.0, v_min=-70.0))
    assert {"tau_m", "resist_m", "thr", "v_rest", "v_reset", "conduct_leak", "tau_theta",
            "theta_plus", "refract_time", "v_min"} <= set(leaves)
    assert not {"one_spike", "max_one_spike", "integration_type", "n_units"} & set(leaves)


@pytest.mark.parametrize("bad", [{"tau_m": 0.0}, {"integration_type": "rk4"},
                                 {"surrogate_type": "secant_lif"}, {"refract_time": -1.0}])
def test_lif_rejects_bad_parameters(bad):
    from pydantic import ValidationError
    with pytest.raises(ValidationError):
        get_kind("LIFCell").Params(**{"n_units": 1, "tau_m": 10.0, **bad})


# ---------------------------------------------------------------------------------------------
# LIFCell: hand-computed steps (reference §5.1, verified numbers)

def test_lif_verified_first_step_with_adaptation(x64):
    # tau 10, R 1, refract 2, tau_theta 100, theta+ 0.5, j = (0, 100, 200), dt 1:
    # v' = -65 + (0 + j)/10 = (-65, -55, -45); only -45 > -52 spikes and resets to -60.
    c = fast("LIFCell", n_units=3, tau_m=10.0, refract_time=2.0, tau_theta=100.0,
               theta_plus=0.5, dtype="float64")
    st = c.advance(j=[0.0, 100.0, 200.0])
    np.testing.assert_allclose(st["v"][0], [-65.0, -55.0, -60.0])
    np.testing.assert_array_equal(st["s"][0], [0, 0, 1])
    np.testing.assert_array_equal(st["s_raw"][0], [0, 0, 1])
    np.testing.assert_allclose(st["thr_theta"][0], [0, 0, 0.5])
    np.testing.assert_allclose(st["v_thr"][0], [-52, -52, -51.5])
    np.testing.assert_allclose(st["rfr"][0], [3.0, 3.0, 0.0])          # (2 + 1)(1 - s)
    np.testing.assert_allclose(st["tols"][0], [0, 0, 1.0])             # end of step 0
    # step 1: unit 2 is refractory (rfr 0 < 2): only the leak acts, -60 + (-65 + 60)/10;
    # unit 1 goes on charging, -55 + (-65 + 55 + 100)/10 = -46 > -52 and spikes.
    st = c.advance(j=[0.0, 100.0, 200.0])
    np.testing.assert_allclose(st["v"][0], [-65.0, -60.0, -60.5])
    np.testing.assert_array_equal(st["s"][0], [0, 1, 0])
    np.testing.assert_allclose(st["thr_theta"][0],
                               [0, 0.5, 0.5 * math.exp(-1 / 100)], rtol=1e-12)
    np.testing.assert_allclose(st["tols"][0], [0, 2.0, 1.0])


def test_lif_upstream_spike_train():
    # ngc-learn's test_LIFCell: tau 5, R 30, default thresholds, refract 5, input
    # 11111001111110: spikes at steps 2 and 10 only (worked by hand in the reference).
    c = fast("LIFCell", n_units=1, tau_m=5.0, resist_m=30.0)
    train = [int(ch) for ch in "11111001111110"]
    spikes = [float(c.advance(j=x)["s"][0, 0]) for x in train]
    assert [k for k, s in enumerate(spikes) if s] == [2, 10]


@pytest.mark.slow
def test_lif_surrogate_by_hand(x64):
    # v' = -65 + 100/10 = -55, theta = -52: arctan'(-3) = (1/pi) / (1 + (0.1 pi 3)^2),
    # times R dt / tau_m = 2 * 1 / 10.
    c = fast("LIFCell", n_units=1, tau_m=10.0, resist_m=2.0, dtype="float64")
    st = c.advance(j=50.0)
    want = (1 / math.pi) / (1 + (0.1 * math.pi * 3) ** 2) * 2 / 10
    np.testing.assert_allclose(st["surrogate"][0, 0], want, rtol=1e-12)
    assert float(Single("LIFCell", n_units=1, tau_m=10.0)["surrogate"][0, 0]) == 1.0


# ---------------------------------------------------------------------------------------------
# LIFCell: exact recursion of the discrete map, any dt

def lif_reference(j, dt, tau_m, R=1.0, thr=-52.0, v_rest=-65.0, v_reset=-60.0, g=1.0,
                  tau_theta=1e7, theta_plus=0.05, refract=5.0, method="euler", v_min=None,
                  theta0=0.0):
    """Numpy LIF: j (T, B, n). The drive is off for the ceil(refract/dt) steps after a spike;
    the leak acts throughout; the threshold uses the adaptation of the previous step."""
    T, B, n = j.shape
    v = np.full((B, n), v_rest)
    theta = np.full((B, n), theta0, float)
    off = np.zeros((B, n), int)
    n_off = math.ceil(refract / dt - 1e-9)
    vs, ss, thetas = [], [], []
    for k in range(T):
        drive = R * j[k] * (off == 0)

        def f(v):
            return (g * (v_rest - v) + drive) / tau_m

        v1 = v + dt * f(v) if method == "euler" else v + dt * f(v + 0.5 * dt * f(v))
        s = v1 > thr + theta
        v = np.where(s, v_reset, v1)
        off = np.where(s, n_off, np.maximum(off - 1, 0))
        if tau_theta > 0:
            theta = theta * math.exp(-dt / tau_theta) + theta_plus * s
        if v_min is not None:
            v = np.maximum(v, v_min)
        vs.append(v)
        ss.append(s.astype(float))
        thetas.append(theta.copy())
    return np.array(vs), np.array(ss), np.array(thetas)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["euler", "midpoint"])
def test_lif_matches_numpy_recursion_with_batch_refractoriness_and_adaptation(x64, method):
    # dt 0.25 (refract 1.3 ms = 6 steps off), batch of 3 with different currents per sample
    # and unit, strong adaptation, a conductance leak of 0.8 and a voltage floor.
    rng = np.random.default_rng(0)
    T, B, n, dt = 400, 3, 4, 0.25
    j = rng.uniform(5.0, 60.0, size=(T, B, n)) * (rng.random((T, B, n)) < 0.8)
    j[:, :, 0] = -30.0                                     # pushes unit 0 onto v_min
    kw = dict(tau_m=8.0, resist_m=1.5, conduct_leak=0.8, tau_theta=40.0, theta_plus=1.5,
              refract_time=1.3, v_min=-70.0)
    c = fast("LIFCell", n_units=n, batch_size=B, dtype="float64", dt=dt,
               integration_type=method, **kw)
    rec = run_scan(c, {"j": j}, record=("v", "s", "thr_theta", "v_thr"))
    v, s, theta = lif_reference(j, dt, 8.0, R=1.5, g=0.8, tau_theta=40.0, theta_plus=1.5,
                                refract=1.3, method=method, v_min=-70.0)
    assert s.sum() > 100                                   # the comparison covers spiking
    np.testing.assert_array_equal(rec["s"], s)
    np.testing.assert_allclose(rec["v"], v, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(rec["thr_theta"], theta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rec["v_thr"], -52.0 + theta, rtol=1e-12)
    assert rec["v"][:, :, 0].min() == -70.0 and np.all(rec["v"][-50:, :, 0] == -70.0)


@pytest.mark.slow
def test_lif_refractory_period_is_whole_steps_in_float32():
    # 0.1 ms steps add up to 1.9999999 or 2.0000002 in float32; a 2 ms refractory period
    # must still switch the drive off for exactly 20 steps after every spike.
    dt, T = 0.1, 3000
    j = np.full((T, 1, 1), 40.0)
    c = fast("LIFCell", n_units=1, tau_m=10.0, dt=dt, refract_time=2.0, tau_theta=0.0)
    s = run_scan(c, {"j": j}, record=("s",))["s"]
    with jax.enable_x64(True):
        _, s64, _ = lif_reference(j, dt, 10.0, tau_theta=0.0, refract=2.0)
    np.testing.assert_array_equal(s, s64)


# ---------------------------------------------------------------------------------------------
# LIFCell: the f-I curve (continuous limit), through the committed circuit

def isi_continuous(I, tau=10.0, R=1.0, thr=-52.0, v_rest=-65.0, v_reset=-60.0, t_ref=2.0):
    """Interspike interval of tau dv/dt = (v_rest - v) + R I with the drive off for t_ref
    after a spike (v relaxes from v_reset towards v_rest meanwhile); inf below rheobase."""
    if R * I <= thr - v_rest:
        return math.inf
    v_end = (v_reset - v_rest) * math.exp(-t_ref / tau)
    return t_ref + tau * math.log((R * I - v_end) / (R * I - (thr - v_rest)))


def test_lif_fI_circuit_matches_the_analytic_curve():
    circuit = ngcspec.load(ROOT / "circuits" / "lif_fI.yaml")
    dt = circuit.resolved.spec.dt
    res = circuit.run()
    s = res.records["run/z.s"][0, :, 0]                  # (steps, units)
    I = [10.0, 13.0, 15.0, 20.0, 30.0, 50.0, 80.0, 120.0]
    for k, cur in enumerate(I):
        times = np.nonzero(s[:, k])[0]
        T = isi_continuous(cur)
        if math.isinf(T):
            assert len(times) == 0, cur
            continue
        isi = np.diff(times) * dt
        assert len(isi) >= 8, cur
        # a discrete spike lands within a step after the continuous crossing; Euler adds
        # O(dt / tau) relative error
        np.testing.assert_allclose(isi, T, atol=2 * dt + 0.01 * T, err_msg=str(cur))


@pytest.mark.slow
def test_lif_isi_converges_to_the_continuous_limit_as_dt_shrinks():
    # midpoint and Euler both approach the closed form; the error shrinks with dt
    I, errs = 20.0, []
    for dt in (0.5, 0.1, 0.02):
        steps = int(200 / dt)
        c = fast("LIFCell", n_units=1, tau_m=10.0, dt=dt, refract_time=2.0,
                   tau_theta=0.0, integration_type="midpoint")
        s = run_scan(c, {"j": np.full((steps, 1, 1), I)}, record=("s",))["s"][:, 0, 0]
        isi = np.diff(np.nonzero(s)[0]) * dt
        errs.append(abs(isi.mean() - isi_continuous(I)))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.03


# ---------------------------------------------------------------------------------------------
# LIFCell: single-spike modes, reset, persistence of the threshold

@pytest.mark.slow
def test_lif_one_spike_keeps_one_random_spike_per_row():
    B, n, T = 4, 6, 40
    c = fast("LIFCell", n_units=n, batch_size=B, tau_m=10.0, refract_time=0.0,
               one_spike=True, seed=3)
    rec = run_scan(c, {"j": np.full((T, B, n), 400.0)}, record=("s", "s_raw", "thr_theta"))
    raw, s = rec["s_raw"], rec["s"]
    assert raw.sum(axis=-1).max() == n                           # all units cross together
    np.testing.assert_array_equal(s.sum(axis=-1), (raw.sum(axis=-1) > 0).astype(float))
    assert np.all(s <= raw)                                      # chosen among the spiking
    picks = s.argmax(axis=-1)[raw.sum(axis=-1) > 0]
    assert len(np.unique(picks)) == n                            # random choice
    # adaptation counts every raw spike, not only the kept one
    np.testing.assert_allclose(rec["thr_theta"][-1], 0.05 * raw.sum(axis=0), rtol=1e-4)


def test_lif_max_one_spike_keeps_the_highest_voltage(x64):
    # row 0: units 1 and 3 cross, 3 is driven harder; row 1: only unit 0 crosses
    c = fast("LIFCell", n_units=4, batch_size=2, tau_m=10.0, max_one_spike=True,
               dtype="float64")
    st = c.advance(j=[[0.0, 150.0, 10.0, 300.0], [200.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(st["s_raw"], [[0, 1, 0, 1], [1, 0, 0, 0]])
    np.testing.assert_array_equal(st["s"], [[0, 0, 0, 1], [1, 0, 0, 0]])
    np.testing.assert_allclose(st["v"], [[-65, -60, -64, -60], [-60, -65, -65, -65]])


def test_keep_one_is_argmax_over_the_spiking_units():
    from ngcspec.components.spiking import keep_one

    s = np.array([[0, 1, 0, 1, 1], [0, 0, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 1, 0, 0]], np.float32)
    score = np.array([[9, 2, 0, 5, 5], [1, 2, 3, 4, 5], [7, 7, 1, 9, 9], [-3, 0, -2, 0, 0]],
                     np.float32)
    expect = np.zeros_like(s)
    for b in range(len(s)):                      # numpy argmax: the first unit on a tie
        if s[b].any():
            expect[b, np.argmax(np.where(s[b] > 0, score[b], -np.inf))] = 1
    np.testing.assert_array_equal(expect, [[0, 0, 0, 1, 0], [0] * 5, [1, 0, 0, 0, 0],
                                           [0, 0, 1, 0, 0]])
    np.testing.assert_array_equal(jax.jit(keep_one)(s, score), expect)


@pytest.mark.slow
@pytest.mark.parametrize("kind,params,inputs,drive,record", [
    ("LIFCell", dict(tau_m=10.0, refract_time=2.0, theta_plus=0.5, one_spike=True), "j",
     60.0, ("v", "s", "s_raw", "thr_theta", "tols")),
    ("LIFCell", dict(tau_m=10.0, max_one_spike=True), "j", 60.0, ("v", "s")),
    ("IFCell", dict(tau_m=10.0, refract_time=1.0), "j", 60.0, ("v", "s", "tols")),
    ("PoissonCell", dict(target_freq=400.0), "inputs", 1.0, ("outputs", "tols")),
    ("BernoulliCell", {}, "inputs", 1.0, ("outputs",)),
    ("VarTrace", dict(tau_tr=5.0, a_delta=0.3), "inputs", "spikes", ("outputs",)),
    ("SpikeCounter", {}, "inputs", "spikes", ("counts",)),
])
def test_image_shaped_cells_are_the_flat_cells_reshaped(kind, params, inputs, drive, record):
    # (B, H, W, C) = (2, 2, 3, 2): the same units, the same numbers (the random draws are
    # keyed by the flat unit index), one spike per *sample* over the whole image
    T, image = 30, (2, 3, 2)
    rng = np.random.default_rng(1)
    drive = ((rng.random((T, 2, 12)) < 0.4) * 1.0 if drive == "spikes"
             else rng.uniform(0, drive, (T, 2, 12)))
    flat = fast(kind, n_units=12, batch_size=2, seed=4, **params)
    img = fast(kind, n_units=12, shape=list(image), batch_size=2, seed=4, **params)
    assert img.shapes[record[0]] == image
    a = run_scan(flat, {inputs: drive}, record=record)
    b = run_scan(img, {inputs: drive.reshape(T, 2, *image)}, record=record)
    for k in record:
        np.testing.assert_array_equal(b[k].reshape(a[k].shape), a[k], err_msg=k)
    if "s_raw" in record:
        assert (a["s_raw"].sum(-1) > 1).any()                      # several cross at once
        np.testing.assert_array_equal(a["s"].sum(-1), a["s_raw"].sum(-1) > 0)
    if "thr_theta" in record:                                       # kept across reset
        np.testing.assert_array_equal(np.asarray(img.reset()["thr_theta"]).reshape(2, 12),
                                      np.asarray(flat.reset()["thr_theta"]))


def test_image_shape_must_hold_n_units():
    import ngcspec

    text = """
ngcspec: 1
name: bad-shape
components:
  z: {kind: LIFCell, n_units: 10, tau_m: 10.0, shape: [2, 2, 2]}
schedule: [advance]
"""
    with pytest.raises(ngcspec.CircuitError, match="set n_units to H\\*W\\*C"):
        ngcspec.load(text)


@pytest.mark.slow
def test_lif_reset_keeps_the_adaptive_threshold(x64):
    c = fast("LIFCell", n_units=2, batch_size=2, tau_m=10.0, theta_plus=0.5,
               dtype="float64")
    c.advance(j=[[200.0, 0.0], [0.0, 200.0]])
    theta = np.asarray(c["thr_theta"]).copy()
    np.testing.assert_allclose(theta, [[0.5, 0], [0, 0.5]], rtol=1e-6)
    st = c.reset()
    np.testing.assert_array_equal(st["thr_theta"], theta)                 # persistent
    np.testing.assert_allclose(st["v_thr"], -52.0 + theta)
    np.testing.assert_array_equal(st["v"], -65.0)
    np.testing.assert_array_equal(st["rfr"], 5.0)
    np.testing.assert_array_equal(st["tols"], 0.0)
    np.testing.assert_array_equal(st["surrogate"], 1.0)


def test_lif_tau_theta_zero_turns_adaptation_off():
    c = fast("LIFCell", n_units=1, tau_m=10.0, tau_theta=0.0, refract_time=0.0)
    for _ in range(5):
        st = c.advance(j=300.0)
    assert float(st["s"][0, 0]) == 1.0
    assert float(st["thr_theta"][0, 0]) == 0.0 and float(st["v_thr"][0, 0]) == -52.0


LIF_BATCHES = """
ngcspec: 1
name: lif-batches
seed: 1
data:
  currents: {file: $data, x: x, batch_size: 2}
components:
  z: {kind: LIFCell, n_units: 3, tau_m: 10.0, theta_plus: 1.0}
clamps:
  z.j: currents.x
schedule: [reset, {advance: 30}]
run:
  epochs: 2
  record: {z.s: per_step}
"""


@pytest.mark.slow
def test_lif_in_a_circuit_with_batches_and_a_partial_batch(tmp_path):
    # 5 samples in batches of 2: the partial last batch changes the batch size; thr_theta
    # is carried across resets, batches and epochs (as the batch mean when the size changes)
    x = np.array([[0, 20, 40], [0, 30, 0], [50, 0, 0], [0, 0, 25], [15, 15, 15]], float)
    np.savez(tmp_path / "currents.npz", x=x)
    c = ngcspec.load(LIF_BATCHES.replace("$data", str(tmp_path / "currents.npz")))
    res = c.run()
    s = res.records["run/z.s"]                                  # (epochs, steps, samples, n)
    assert s.shape == (2, 30, 5, 3)
    counts = s.sum(axis=1)
    assert np.all(counts[:, x == 0] == 0) and np.all(counts[:, x >= 20] > 0)
    # adaptation from epoch 1 makes every active unit fire less (or equally) in epoch 2
    assert np.all(counts[1] <= counts[0]) and counts[1].sum() < counts[0].sum()
    theta = np.asarray(res.state["z"]["thr_theta"])
    assert theta.shape == (2, 3) and np.all(theta >= 0) and theta.max() > 1.0


# ---------------------------------------------------------------------------------------------
# IFCell (reference §5.2)

def test_if_cell_by_hand_and_the_fixed_reset(x64):
    # tau 2, R 1, j 4: v rises 2 mV per step from -65: -63, ..., -53, -51 > -52 at step 6
    for clamp in (True, False):
        c = fast("IFCell", n_units=1, tau_m=2.0, lower_clamp_voltage=clamp,
                   dtype="float64")
        vs, ss = [], []
        for _ in range(9):
            st = c.advance(j=4.0)
            vs.append(float(st["v"][0, 0]))
            ss.append(float(st["s"][0, 0]))
        assert ss == [0, 0, 0, 0, 0, 0, 1, 0, 0]
        # after the spike v restarts from v_reset = -60 (ngc-learn keeps -51 without the
        # clamp and so fires at every later step)
        np.testing.assert_allclose(vs, [-63, -61, -59, -57, -55, -53, -60, -58, -56])
        assert float(st["tols"][0, 0]) == 7.0


def test_if_cell_lower_clamp_and_refractory_period(x64):
    # tau 1, R 1, refract 2, dt 1. Unit 0 (j -5) would sink to -70 but is held at v_rest.
    # Unit 1 (j 20): -65 + 20 = -45 spikes -> -60; the drive is off while rfr = 0, 1 < 2
    # (no leak: v stays -60), then -60 + 20 = -40 spikes again.
    c = fast("IFCell", n_units=2, tau_m=1.0, refract_time=2.0, dtype="float64")
    got = []
    for _ in range(4):
        st = c.advance(j=[-5.0, 20.0])
        got.append((float(st["v"][0, 0]), float(st["v"][0, 1]), float(st["s"][0, 1])))
    assert got == [(-65, -60, 1), (-65, -60, 0), (-65, -60, 0), (-65, -60, 1)]
    c = fast("IFCell", n_units=1, tau_m=1.0, lower_clamp_voltage=False, dtype="float64")
    assert float(c.advance(j=-5.0)["v"][0, 0]) == -70.0


# ---------------------------------------------------------------------------------------------
# Encoders (reference §5.4)

@pytest.mark.slow
def test_poisson_rate_and_tols():
    B, n, T, dt = 8, 50, 200, 1.0
    x = np.concatenate([np.ones((B, n // 2)), np.full((B, n // 2), 0.5)], axis=1)
    c = fast("PoissonCell", n_units=n, batch_size=B, seed=11)
    rec = run_scan(c, {"inputs": np.broadcast_to(x, (T, B, n))}, record=("outputs", "tols"))
    s = rec["outputs"]
    for half, p in ((slice(0, n // 2), 63.75e-3), (slice(n // 2, n), 0.5 * 63.75e-3)):
        m = s[:, :, half].size
        k = s[:, :, half].sum()
        assert abs(k - m * p) < 4 * math.sqrt(m * p * (1 - p)), (k, m * p)
    # tols = end of the step of the last spike (0 where none)
    last = np.where(s.any(0), (T - 1 - np.argmax(s[::-1], axis=0)) + 1.0, 0.0) * dt
    np.testing.assert_array_equal(rec["tols"][-1], last)


@pytest.mark.slow
def test_poisson_rate_scales_with_dt_and_target_freq():
    c = fast("PoissonCell", n_units=200, batch_size=4, target_freq=100.0, dt=2.0, seed=5)
    s = run_scan(c, {"inputs": np.ones((100, 4, 200))}, record=("outputs",))["outputs"]
    p, m = 0.2, s.size                                           # 100 Hz * 2 ms
    assert abs(s.sum() - m * p) < 4 * math.sqrt(m * p * (1 - p))


def test_bernoulli_rate_and_deterministic_extremes():
    B, n, T = 4, 100, 100
    x = np.broadcast_to(np.array([0.3] * (n - 2) + [0.0, 1.0]), (T, B, n))
    c = fast("BernoulliCell", n_units=n, batch_size=B, seed=2)
    s = run_scan(c, {"inputs": x}, record=("outputs",))["outputs"]
    body = s[:, :, :-2]
    m, p = body.size, 0.3
    assert abs(body.sum() - m * p) < 4 * math.sqrt(m * p * (1 - p))
    assert s[:, :, -2].sum() == 0 and s[:, :, -1].min() == 1
    np.testing.assert_array_equal(np.asarray(c["tols"])[:, -1], T * 1.0)


def test_encoders_draw_fresh_numbers_each_step_and_sample():
    c = fast("BernoulliCell", n_units=64, batch_size=2, seed=0)
    s1 = np.asarray(c.advance(inputs=0.5)["outputs"]).copy()
    s2 = np.asarray(c.advance(inputs=0.5)["outputs"])
    assert not np.array_equal(s1[0], s1[1]) and not np.array_equal(s1, s2)


# ---------------------------------------------------------------------------------------------
# VarTrace (reference §5.5)

def trace_steps(spikes, **kw):
    kw.setdefault("dtype", "float64")
    c = fast("VarTrace", n_units=1, **kw)
    return [float(c.advance(inputs=x)["outputs"][0, 0]) for x in spikes]


def test_trace_additive_exp_verified(x64):
    # tau 10, a_delta 0.5: 0.5 -> 0.5 e^-0.1 + 0.5 = 0.9524, then pure decay
    out = trace_steps([1, 1, 0], tau_tr=10.0, a_delta=0.5)
    np.testing.assert_allclose(out, [0.5, 0.5 * math.exp(-0.1) + 0.5,
                                     (0.5 * math.exp(-0.1) + 0.5) * math.exp(-0.1)])
    assert round(out[1], 4) == 0.9524


def test_trace_linear_and_step_decay_and_gamma(x64):
    np.testing.assert_allclose(trace_steps([1, 0, 1], tau_tr=4.0, a_delta=1.0,
                                           decay_type="lin", dt=1.0),
                               [1.0, 0.75, 0.75 * 0.75 + 1.0])
    np.testing.assert_allclose(trace_steps([1, 0, 1, 1], tau_tr=4.0, a_delta=0.7,
                                           decay_type="step"), [0.7, 0.0, 0.7, 0.7])
    np.testing.assert_allclose(trace_steps([1, 0], tau_tr=10.0, a_delta=1.0, gamma_tr=0.5),
                               [1.0, 0.5 * math.exp(-0.1)])


def test_trace_snaps_to_P_scale_when_a_delta_is_zero(x64):
    d = math.exp(-1 / 20)
    np.testing.assert_allclose(trace_steps([1, 0, 1, 0], tau_tr=20.0, a_delta=0.0,
                                           P_scale=0.8), [0.8, 0.8 * d, 0.8, 0.8 * d])


def test_trace_nearest_spikes(x64):
    # x = x~ + s (a_delta - x_old / n): a_delta 1, n 2, tau 10
    d = math.exp(-0.1)
    x1 = 1.0
    x2 = d * x1 + (1.0 - x1 / 2)
    x3 = d * x2 + (1.0 - x2 / 2)
    np.testing.assert_allclose(trace_steps([1, 1, 1], tau_tr=10.0, a_delta=1.0,
                                           n_nearest_spikes=2), [x1, x2, x3])


def test_trace_reset_clears_it():
    c = fast("VarTrace", n_units=2, batch_size=3, tau_tr=5.0, a_delta=1.0)
    c.advance(inputs=1.0)
    st = c.reset()
    assert float(np.abs(st["trace"]).max()) == 0.0 and st["trace"].shape == (3, 2)
