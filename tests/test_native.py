"""Native CPU kernels (ngcspec.native): each against a numpy statement of what it computes and
against its XLA twin; programs lowered for other platforms must not call them; NGCSPEC_NATIVE=off
must give the twins.

The kernels need a C++ compiler; where none is found the XLA twins run and these tests are
skipped (the twins are covered by tests/test_events.py either way).
"""

import jax
import numpy as np
import pytest

from ngcspec import native
from ngcspec.components import events
from ngcspec.components.stdp import TraceSTDPSynapse

jnp = jax.numpy

pytestmark = pytest.mark.skipif(native._compiler() is None, reason="no C++ compiler")


def sparse(rng, shape, p, graded=False):
    x = (rng.random(shape) < p).astype(np.float64)
    return x * rng.uniform(-1, 2, shape) if graded else x


def test_the_library_builds_loads_and_is_used():
    assert native.available(), native.status()
    assert native.status().startswith("on (")
    hlo = jax.jit(lambda x, w: events.event_matmul(x, w, 8)).lower(
        jnp.zeros((1, 5)), jnp.zeros((5, 3))).as_text()
    assert "ngc_spike_rows_f32" in hlo


@pytest.mark.slow
def test_a_kernel_called_first_in_a_process_loads_the_library():
    import subprocess
    import sys

    code = ("import numpy as np; from ngcspec import native; "
            "print(native.spike_rows(np.ones((1, 3), np.float32), np.ones((3, 2), np.float32)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[[3.", "3.]]"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch,p", [(1, 0.02), (4, 0.1), (2, 0.9)])
def test_spike_rows_is_the_product(dtype, batch, p):
    rng = np.random.default_rng(batch)
    x = sparse(rng, (batch, 300), p, graded=True)
    w = rng.normal(size=(300, 70))
    with jax.enable_x64(dtype == "float64"):
        out = jax.jit(native.spike_rows)(x.astype(dtype), w.astype(dtype))
        assert out.dtype == dtype
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(out, x @ w, rtol=tol, atol=tol)


def lists(rng, n_in, n_out, slots, empty=None):
    """Connection lists as the kernels read them: row i holds a random number of distinct
    targets (in random order) in its first slots, then empty slots (``empty``: n_out, or a
    mix of values outside [0, n_out))."""
    targets = np.empty((n_in, slots), np.int32)
    for i in range(n_in):
        k = rng.integers(0, slots + 1)
        pad = [n_out] * (slots - k) if empty is None else rng.choice(empty, slots - k)
        targets[i] = np.concatenate([rng.choice(n_out, k, replace=False), pad])
    weights = np.where((targets >= 0) & (targets < n_out),
                       rng.normal(size=(n_in, slots)), 0.0).astype(np.float32)
    return targets, weights


def dense_of(targets, weights, n_out):
    """The (n_in, n_out) matrix of lists, by hand: each row up to its first empty slot."""
    dense = np.zeros((targets.shape[0], n_out))
    for i in range(targets.shape[0]):
        for t, v in zip(targets[i], weights[i]):
            if not 0 <= t < n_out:
                break
            dense[i, t] += v
    return dense


@pytest.mark.slow
@pytest.mark.parametrize("batch,p,row_start", [(1, 0.05, 0), (3, 0.3, 0), (2, 0.3, 17)])
def test_spike_scatter_is_the_product_of_the_lists(batch, p, row_start):
    rng = np.random.default_rng(10 + batch)
    n_in, n_out, slots = 90, 50, 12
    targets, weights = lists(rng, n_in, n_out, slots, empty=[n_out, n_out + 7, -1, -50])
    dense = dense_of(targets, weights, n_out)
    # x has units before and after the lists' rows (pre_range [row_start, row_start + n_in))
    x = sparse(rng, (batch, row_start + n_in + 5), p, graded=True).astype(np.float32)
    rows = x[:, row_start:row_start + n_in]
    out = jax.jit(lambda x, t, v: native.spike_scatter(x, t, v, n_out, row_start))(
        x, targets, weights)
    np.testing.assert_allclose(out, rows @ dense, rtol=1e-5, atol=1e-5)
    unit = jax.jit(lambda x, t: native.spike_scatter(x, t, None, n_out, row_start))(x, targets)
    np.testing.assert_allclose(unit, rows @ (dense != 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(events.dense_from_lists(targets, weights, n_out), dense,
                               rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_the_xla_twin_reads_the_lists_as_the_kernel_does():
    # identical sums for 0/1 spikes and unit weights, to rounding with weights
    rng = np.random.default_rng(3)
    n_in, n_out, slots, row_start = 90, 50, 12, 17
    targets, weights = lists(rng, n_in, n_out, slots, empty=[n_out, n_out + 7, -1, -50])
    x = sparse(rng, (2, row_start + n_in + 5), 0.3, graded=True).astype(np.float32)
    spikes = (x != 0).astype(np.float32)
    for k in (8, 128):            # 8: the spiking rows, or every row when more spike; 128: rows
        for w in (None, weights):
            twin = events.sparse_transmit_xla(spikes, targets, w, n_out, k, row_start)
            kernel = native.spike_scatter(spikes, targets, w, n_out, row_start)
            if w is None:
                np.testing.assert_array_equal(kernel, twin)
            else:
                np.testing.assert_allclose(kernel, twin, rtol=1e-5, atol=1e-5)


def test_a_row_ends_at_its_first_empty_slot():
    # row 0: targets 3, 1, then an empty slot: the 2 after it is not a connection
    targets = np.array([[3, 1, 6, 2], [0, 5, 4, 6], [-1, 2, 2, 2]], np.int32)
    x = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
    expected = np.array([[0, 1, 0, 1, 0, 0], [1, 1, 0, 1, 1, 1]], np.float32)
    np.testing.assert_array_equal(native.spike_scatter(x, targets, None, 6), expected)
    np.testing.assert_array_equal(events.sparse_transmit_xla(x, targets, None, 6, 8), expected)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000])
def test_every_spike_is_found_whatever_its_place(n):
    # the spike scan tests blocks of 64 units at once: spikes at block edges and in the
    # tail, negative values, and a NaN (a spike, as x != 0 says)
    rng = np.random.default_rng(n)
    x = np.zeros((2, n), np.float32)
    for i in {0, n - 1, min(63, n - 1), min(64, n - 1), int(rng.integers(n))}:
        x[0, i] = rng.choice([1.0, -2.5, 0.25])
    targets = np.arange(n, dtype=np.int32)[:, None]          # unit i reaches output i
    out = np.asarray(native.spike_scatter(x, targets, None, n))
    np.testing.assert_array_equal(out, x)
    x[1, n - 1] = np.nan
    assert np.isnan(np.asarray(native.spike_scatter(x, targets, None, n))[1, n - 1])


class TraceParams:
    """A TraceSTDPSynapse parameter set, as the rule reads it."""

    def __init__(self, **kw):
        base = dict(A_plus=0.3, A_minus=0.2, eta=0.5, mu=0.0, pretrace_target=0.1,
                    w_bound=1.0, tau_w=0.0)
        for k, v in {**base, **kw}.items():
            setattr(self, k, v)


def _stdp_case(rng, batch, p_pre, p_post, n_in=120, n_out=40):
    w = rng.uniform(0, 1, (n_in, n_out))
    mask = (rng.random((n_in, n_out)) < 0.8).astype(np.float64)
    return {"weights": w * mask, "mask": mask,
            "preSpike": sparse(rng, (batch, n_in), p_pre),
            "preTrace": rng.uniform(0, 1, (batch, n_in)),
            "postSpike": sparse(rng, (batch, n_out), p_post),
            "postTrace": rng.uniform(0, 1, (batch, n_out))}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch,p_pre,p_post,extra", [
    (1, 0.05, 0.1, {}), (4, 0.05, 0.1, {}), (3, 0.6, 0.5, {}), (2, 0.0, 0.2, {}),
    (2, 0.1, 0.0, {}), (2, 0.05, 0.1, {"mu": 0.7}), (2, 0.05, 0.1, {"tau_w": 50.0}),
    (1, 0.05, 0.1, {"mu": 1.5, "tau_w": 20.0, "A_minus": -0.2})])
def test_trace_stdp_kernel_is_the_dense_rule(dtype, batch, p_pre, p_post, extra):
    rng = np.random.default_rng(batch + int(100 * p_pre) + len(extra))
    s = _stdp_case(rng, batch, p_pre, p_post)
    p = TraceParams(**extra)
    power_law = p.mu > 0
    coef = np.array([p.A_plus, max(p.A_minus, 0.0), p.eta, p.mu, p.pretrace_target, p.w_bound,
                     p.tau_w, float(power_law)])
    # the dense rule, restated in numpy (summed over the batch, then clipped and masked)
    w = s["weights"]
    ltp = (s["preTrace"] - p.pretrace_target).T @ s["postSpike"] * p.A_plus
    ltd = s["preSpike"].T @ s["postTrace"] * max(p.A_minus, 0.0)
    if power_law:
        ltp = ltp * np.maximum(p.w_bound - w, 0.0) ** p.mu
        ltd = ltd * np.maximum(w, 0.0) ** p.mu
    decay = w / p.tau_w if p.tau_w > 0 else 0.0
    expect = np.where(s["mask"] != 0, np.clip(w + p.eta * (ltp - ltd) - decay, 0, p.w_bound), 0)
    with jax.enable_x64(dtype == "float64"):
        args = [jnp.asarray(s[k], dtype) for k in ("weights", "mask", "preSpike", "preTrace",
                                                    "postSpike", "postTrace")]
        out = jax.jit(lambda *a: native.stdp("trace_stdp", *a))(*args, jnp.asarray(coef, dtype))
        assert out.dtype == dtype
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(out, expect, rtol=tol, atol=tol)
    touched = s["preSpike"].any(0)[:, None] | s["postSpike"].any(0)[None, :]
    if p.tau_w == 0:                                   # only rows and columns of spikes move
        np.testing.assert_array_equal(np.asarray(out)[~touched], w.astype(dtype)[~touched])


KIND_CASES = {
    "TraceSTDPSynapse": dict(A_plus=0.3, A_minus=0.2, eta=0.5, pretrace_target=0.1),
    "TraceSTDPSynapse-mu-decay": dict(A_plus=0.3, A_minus=0.2, eta=0.5, mu=0.8, tau_w=40.0),
    "ExpSTDPSynapse": dict(A_plus=0.3, A_minus=0.2, exp_beta=1.5, eta=0.5, pretrace_target=0.2,
                           w_bound=1.2),
    "ExpSTDPSynapse-decay": dict(A_plus=0.3, A_minus=0.2, exp_beta=1.5, eta=0.5, tau_w=30.0),
    "EventSTDPSynapse": dict(eta=0.4, lmbda=0.05, A_plus=0.9, A_minus=0.6, presyn_win_len=3.0,
                             w_bound=0.9),
}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", list(KIND_CASES))
def test_stdp_kernels_are_the_synapse_rules_and_their_xla_twins(case, batch, dtype):
    # the kind's own dense rule, its XLA event path and the kernel called as the kind calls
    # it (coefficients and factors from native_rule) give the same weights
    from ngcspec.registry import get_kind

    kind = get_kind(case.split("-")[0])
    p = kind.Params(shape=[120, 40], **KIND_CASES[case])
    rng = np.random.default_rng(batch)
    s = _stdp_case(rng, batch, 0.05, 0.1)
    lo, hi = kind.bounds(p)
    s["weights"] = np.clip(s["weights"], lo, hi) * s["mask"]
    s["pre_tols"] = rng.choice([0.0, 4.0, 8.0, 9.0, 10.0], (batch, 120))
    with jax.enable_x64(dtype == "float64"):
        weights = _three_ways(kind, p, {k: jnp.asarray(v, dtype) for k, v in s.items()}, batch)
    tol = dict(rtol=1e-12, atol=1e-13) if dtype == "float64" else dict(rtol=2e-6, atol=2e-7)
    dense, twin, kernel = (np.asarray(w) for w in weights)
    assert dense.dtype == twin.dtype == kernel.dtype == dtype
    np.testing.assert_allclose(twin, dense, **tol)
    np.testing.assert_allclose(kernel, dense, **tol)
    assert np.abs(kernel - s["weights"]).max() > 1e-3                      # it learned


def _three_ways(kind, p, s, batch):
    """New weights by the kind's dense rule, its XLA event path and its native kernel."""
    from ngcspec.registry import StepContext

    ctx = StepContext(dt=1.0, t=10.0, key=None, batch_size=batch)
    pre_keys, post_keys, pre_events, post_events = kind.EVENT_SIDES
    mats = {"weights": s["weights"], "mask": s["mask"]}
    pre, post = {k: s[k] for k in pre_keys}, {k: s[k] for k in post_keys}

    dense = kind.rule(p, s, ctx)[0]

    def rule(m, a, b):
        return kind.rule(p, {**m, **a, **b}, ctx)[0]

    twin = events.event_update(rule, mats, pre, post,
                               None if pre_events is None else pre[pre_events],
                               post[post_events], 64, 64,
                               dense=bool(kind.touches_every_weight(p)))["weights"]
    name, coef, factors = kind.native_rule(p, ctx)
    kernel = native.stdp(name, s["weights"], s["mask"], *factors(pre, post),
                         native.stdp_coefficients(name, **coef))
    return dense, twin, kernel


@pytest.mark.slow
def test_derivatives_are_those_of_the_product():
    rng = np.random.default_rng(3)
    x = sparse(rng, (2, 60), 0.1).astype(np.float32)
    w = rng.normal(size=(60, 8)).astype(np.float32)

    def loss(x, w, fn):
        return jnp.sum(jnp.tanh(fn(x, w)))

    event = jax.grad(loss, argnums=(0, 1))(x, w, lambda x, w: events.event_matmul(x, w, 8))
    dense = jax.grad(loss, argnums=(0, 1))(x, w, lambda x, w: x @ w)
    for a, b in zip(event, dense):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_programs_for_other_platforms_use_the_xla_twins():
    x, w = jnp.zeros((1, 40)), jnp.zeros((40, 6))
    fn = jax.jit(lambda x, w: events.event_matmul(x, w, 8))
    exported = jax.export.export(fn, platforms=["cuda"])(x, w)
    text = exported.mlir_module()
    assert "ngc_spike_rows" not in text and "top_k" in text.replace("topk", "top_k")


def test_off_switch_gives_the_twins(monkeypatch):
    monkeypatch.setenv("NGCSPEC_NATIVE", "off")
    assert not native.available() and native.status().startswith("off")
    hlo = jax.jit(lambda x, w: events.event_matmul(x, w, 8)).lower(
        jnp.zeros((1, 5)), jnp.zeros((5, 3))).as_text()
    assert "ngc_spike_rows" not in hlo


@pytest.mark.slow
def test_run_summaries_say_whether_the_kernels_ran(tmp_path):
    import json

    import ngcspec
    from ngcspec.rundir import write_run

    text = """
ngcspec: 1
name: tiny-events
components:
  inp: {kind: PoissonCell, n_units: 20, target_freq: 200.0}
  W: {kind: TraceSTDPSynapse, shape: [20, 3], A_plus: 0.01, A_minus: 0.01, event_driven: true}
  out: {kind: LIFCell, n_units: 3, tau_m: 10.0}
wires: [inp.outputs ~> W.inputs, W.outputs -> out.j]
phases:
  run: {clamps: {inp.inputs: 1.0}, schedule: [reset, {advance: 5}]}
"""
    circuit = ngcspec.load(text)
    run_dir = write_run(circuit.run(), circuit.resolved, tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["versions"]["native_kernels"] == native.status()
    assert summary["versions"]["native_kernels"].startswith("on (")


def test_a_failed_build_is_reported_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", "false")                   # a "compiler" that always fails
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    with pytest.raises(native.NativeUnavailable, match="false failed"):
        native._load()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.setattr(native, "_compiler", lambda: None)
    with pytest.raises(native.NativeUnavailable, match="no C\\+\\+ compiler"):
        native._load()


EVENT_CIRCUIT = """
ngcspec: 1
name: event-lowering
components:
  inp: {kind: PoissonCell, n_units: 40, target_freq: 200.0}
  W: {kind: TraceSTDPSynapse, shape: [40, 6], A_plus: 0.01, A_minus: 0.01, event_driven: true,
      resist_scale: 20.0}
  S: {kind: SparseSynapse, shape: [40, 6], p_conn: 0.3}
  out: {kind: LIFCell, n_units: 6, tau_m: 10.0}
  tr0: {kind: VarTrace, n_units: 40, tau_tr: 20.0, a_delta: 0.0}
  tr1: {kind: VarTrace, n_units: 6, tau_tr: 20.0, a_delta: 0.0}
wires: [inp.outputs ~> W.inputs, inp.outputs ~> S.inputs, W.outputs -> out.j,
        S.outputs -> out.j, inp.outputs -> tr0.inputs, out.s -> tr1.inputs,
        inp.outputs -> W.preSpike, out.s -> W.postSpike, tr0.outputs -> W.preTrace,
        tr1.outputs -> W.postTrace]
phases:
  run: {clamps: {inp.inputs: 1.0}, schedule: [reset, {repeat: 30, do: [advance, {evolve: [W]}]}]}
"""


def _event_program():
    """The epoch program of EVENT_CIRCUIT and its arguments."""
    import ngcspec

    circuit = ngcspec.load(EVENT_CIRCUIT)
    phase = circuit.program.phase("run")
    fn = phase.jitted(check="off")
    return fn, (circuit.params, circuit.init_state(), phase.device_data(), 0, 0)


@pytest.mark.slow
def test_whole_spiking_programs_lower_for_gpus_without_the_kernels():
    # event-driven STDP and connection lists in one circuit: lowered for CUDA (no GPU needed),
    # the program must hold the XLA twins only; lowered for the CPU, the kernels
    fn, args = _event_program()
    gpu = jax.export.export(fn, platforms=["cuda"])(*args).mlir_module()
    assert "custom_call" not in gpu
    cpu = fn.lower(*args).as_text()
    for kernel in ("ngc_spike_rows_f32", "ngc_spike_scatter_f32", "ngc_trace_stdp_f32"):
        assert kernel in cpu, kernel


@pytest.mark.slow
def test_a_rule_without_a_kernel_runs_its_xla_event_path(monkeypatch):
    fn, args = _event_program()
    with_kernel = np.asarray(fn(*args)[0]["W"]["weights"])
    monkeypatch.setattr(TraceSTDPSynapse, "native_rule", classmethod(lambda cls, p, ctx: None))
    fn, args = _event_program()
    cpu = fn.lower(*args).as_text()
    assert "ngc_spike_rows_f32" in cpu and "ngc_trace_stdp" not in cpu
    np.testing.assert_allclose(fn(*args)[0]["W"]["weights"], with_kernel, rtol=1e-5, atol=1e-6)
    assert np.abs(with_kernel - np.asarray(args[1]["W"]["weights"])).max() > 1e-3   # learned


# ---------------------------------------------------------------------------------------------
# Random shapes, densities and parameters (hypothesis): kernels against their twins

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_cases_match_the_dense_rules_and_products(data):
    # a few sizes (each new shape compiles the twins), every density and rule
    from ngcspec.registry import get_kind

    batch = data.draw(st.sampled_from([1, 3]), label="batch")
    n_in = data.draw(st.sampled_from([1, 7, 24]), label="n_in")
    n_out = data.draw(st.sampled_from([1, 5]), label="n_out")
    p_pre, p_post = (data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]), label=k)
                     for k in ("p_pre", "p_post"))
    case = data.draw(st.sampled_from(list(KIND_CASES)), label="case")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))

    kind = get_kind(case.split("-")[0])
    p = kind.Params(shape=[n_in, n_out], **KIND_CASES[case])
    s = _stdp_case(rng, batch, p_pre, p_post, n_in=n_in, n_out=n_out)
    lo, hi = kind.bounds(p)
    s["weights"] = np.clip(s["weights"], lo, hi) * s["mask"]
    s["pre_tols"] = rng.choice([0.0, 4.0, 8.0, 9.0, 10.0], (batch, n_in))
    dense, twin, kernel = (np.asarray(w) for w in _three_ways(
        kind, p, {k: jnp.asarray(v, "float32") for k, v in s.items()}, batch))
    np.testing.assert_allclose(kernel, dense, rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(kernel, twin, rtol=2e-6, atol=2e-7)

    x = sparse(rng, (batch, n_in), p_pre, graded=True).astype(np.float32)
    w = s["weights"].astype(np.float32)
    np.testing.assert_allclose(native.spike_rows(x, w), x @ w, rtol=1e-5, atol=1e-5)
