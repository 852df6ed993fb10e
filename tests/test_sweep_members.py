"""A sweep's members, run together as one vmapped program, equal the same members run alone.

Measured (float32, 2 CPU cores): the members below match their solo runs exactly (0 ulp) on
the graded circuit and on the event-driven spiking circuit, with the native kernels and with
the XLA twins; the assertions allow float rounding (batched products may sum in another order
on other machines): weights within 1e-5 relative, accuracy within one sample.
"""

from __future__ import annotations

import numpy as np
import pytest

import ngcspec
from ngcspec import native
from ngcspec.resolve import resolve_file
from ngcspec.sweep import run_sweep, with_sweep

GRADED = """\
ngcspec: 1
name: graded
seed: 5
data:
  train: {dataset: digits, split: train, batch_size: 32, shuffle: true, limit: 100}
components:
  z0: {kind: RateCell, n_units: 64, tau_m: 0.0}
  z1: {kind: RateCell, n_units: 16, tau_m: 10.0, act_fx: tanh, prior: {name: laplacian, leak: 0.01}}
  W1: {kind: HebbianSynapse, shape: [64, 16], eta: 0.01, optim_type: adam, sign_value: -1.0,
       w_bound: 0.0, weight_init: {dist: fan_in_gaussian}}
  W2: {kind: HebbianSynapse, shape: [16, 10], eta: 0.01, sign_value: -1.0, w_bound: 0.0,
       weight_init: {dist: fan_in_gaussian}}
  e1: {kind: GaussianErrorCell, n_units: 16}
  e2: {kind: GaussianErrorCell, n_units: 10}
wires:
  - z0.zF -> W1.inputs
  - W1.outputs -> e1.mu
  - z1.z -> e1.target
  - e1.dtarget ~> z1.j_td
  - z1.zF -> W2.inputs
  - W2.outputs -> e2.mu
  - z0.zF -> W1.pre
  - e1.dmu -> W1.post
  - z1.zF -> W2.pre
  - e2.dmu -> W2.post
clamps: {z0.j: train.x, e2.target: train.y}
phases:
  train:
    data: train
    schedule: [reset, {advance: 4}, {evolve: [W1, W2]}]
    metrics: {acc: {accuracy: e2.mu}, energy: {mean: e1.L}}
run: {epochs: 2}
"""

SPIKING = """\
ngcspec: 1
name: spiking
seed: 2
data:
  train: {dataset: digits, split: train, batch_size: 4, shuffle: true, limit: 16}
components:
  inp: {kind: PoissonCell, n_units: 64, target_freq: 255.0}
  W: {kind: TraceSTDPSynapse, shape: [64, 30], A_plus: 0.02, A_minus: 0.01, resist_scale: 20.0,
      event_driven: true, max_spikes: 16, weight_init: {dist: uniform, low: 0.0, high: 0.3}}
  out: {kind: LIFCell, n_units: 30, tau_m: 20.0, refract_time: 2.0, tau_theta: 0.0, thr: -55.0}
  tr_in: {kind: VarTrace, n_units: 64, tau_tr: 20.0, a_delta: 0.0}
  tr_out: {kind: VarTrace, n_units: 30, tau_tr: 20.0, a_delta: 0.0}
  count: {kind: SpikeCounter, n_units: 30}
wires:
  - inp.outputs ~> W.inputs
  - W.outputs -> out.j
  - inp.outputs -> tr_in.inputs
  - out.s -> tr_out.inputs
  - inp.outputs -> W.preSpike
  - out.s -> W.postSpike
  - tr_in.outputs -> W.preTrace
  - tr_out.outputs -> W.postTrace
  - out.s -> count.inputs
clamps: {inp.inputs: train.x}
phases:
  train:
    data: train
    schedule:
      - reset
      - repeat: 40
        do: [advance, {evolve: [W]}]
    metrics: {rate: {mean: count.counts}}
run: {epochs: 2}
"""


def _compare(text, params, seeds, acc_samples=None):
    resolved = with_sweep(resolve_file(text), params=params, seeds=seeds)
    result = run_sweep(resolved)
    circuit = ngcspec.load(text)
    worst = 0.0
    for m in result.members:
        solo = circuit.with_params(**m.values).run(seed=m.seed)
        for comp, parts in solo.state.items():
            for part, value in parts.items():
                a, b = np.asarray(value), result.states[m.index][comp][part]
                assert a.shape == b.shape and a.dtype == b.dtype, (comp, part)
                scale = max(float(np.abs(a).max()), 1e-30)
                worst = max(worst, float(np.abs(a - b).max()) / scale)
        for phase, hist in solo.metrics.items():
            for epoch, metrics in enumerate(hist):
                for name, value in metrics.items():
                    got = result.metrics[m.index][phase][epoch][name]
                    if acc_samples and name == "acc":
                        assert abs(got - value) <= 1 / acc_samples + 1e-12
                    else:
                        assert got == pytest.approx(value, rel=1e-5, abs=1e-6), (m, name)
    assert worst <= 1e-5, worst
    return result


@pytest.mark.slow
def test_graded_members_equal_solo_runs():
    result = _compare(GRADED, {"W1.eta": [0.003, 0.03], "z1.prior.leak": [0.0, 0.05],
                               "dt": [0.5, 1.0]}, [7], acc_samples=100)
    assert len(result.members) == 8 and len(result.groups) == 1
    # members differ: parameters and seeds reach the numbers
    finals = {round(result.final_metrics(i)["train.energy"], 6) for i in range(8)}
    assert len(finals) == 8


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["native", "xla"])
def test_event_driven_spiking_members_equal_solo_runs(kernels, monkeypatch):
    if kernels == "xla":
        monkeypatch.setenv(native.ENV, "off")
    elif not native.available():
        pytest.skip(f"native kernels unavailable: {native.status()}")
    result = _compare(SPIKING, {"W.A_plus": [0.01, 0.04], "out.tau_m": [15.0, 25.0]}, [0, 1])
    rates = [result.final_metrics(i)["train.rate"] for i in range(len(result.members))]
    assert min(rates) > 0.05 and len(set(rates)) > 4                   # spiking, and differently


# ---------------------------------------------------------------------------------------------
# the kernels' batching rule: members handled inside one call


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def _members(rng, m, shape, p=None):
    if p is None:
        return rng.normal(size=(m, *shape)).astype(np.float32)
    return (rng.random((m, *shape)) < p).astype(np.float32)


@pytest.mark.slow
@pytest.mark.skipif(not native.available(), reason="native kernels unavailable")
def test_vmapped_spike_rows_and_scatter_are_the_xla_twins_member_by_member(rng):
    import jax

    from ngcspec.components import events

    x, w = _members(rng, 3, (5, 40), 0.2), _members(rng, 3, (40, 24))
    rows = jax.jit(jax.vmap(native.spike_rows))(x, w)
    shared = jax.jit(jax.vmap(native.spike_rows, in_axes=(0, None)))(x, w[1])
    for m in range(3):
        twin = events.event_matmul_xla(x[m], w[m], k=40)
        np.testing.assert_allclose(rows[m], twin, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(shared[m], events.event_matmul_xla(x[m], w[1], k=40),
                                   rtol=1e-6, atol=1e-6)
    targets = rng.integers(0, 25, size=(3, 40, 6)).astype(np.int32)     # 24: empty slot
    weights = _members(rng, 3, (40, 6))
    scat = jax.jit(jax.vmap(lambda a, t, v: native.spike_scatter(a, t, v, n_out=24)))(
        x, targets, weights)
    for m in range(3):
        twin = events.sparse_transmit_xla(x[m], targets[m], weights[m], n_out=24, k=40)
        np.testing.assert_allclose(scat[m], twin, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not native.available(), reason="native kernels unavailable")
def test_vmapped_stdp_kernel_is_each_members_own_call(rng):
    import jax

    m, b, n_in, n_out = 3, 2, 30, 20
    w = np.abs(_members(rng, m, (n_in, n_out))) * 0.2
    mask = np.ones((n_in, n_out), np.float32)
    pre_s, post_s = _members(rng, m, (b, n_in), 0.1), _members(rng, m, (b, n_out), 0.2)
    pre_f, post_f = np.abs(_members(rng, m, (b, n_in))), np.abs(_members(rng, m, (b, n_out)))
    coef = np.array([[a, 0.01, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0] for a in (0.01, 0.02, 0.05)],
                    np.float32)

    def call(w, mask, ps, pf, qs, qf, c):
        return native.stdp("trace_stdp", w, mask, ps, pf, qs, qf, c)

    together = jax.jit(jax.vmap(call, in_axes=(0, None, 0, 0, 0, 0, 0)))(
        w, mask, pre_s, pre_f, post_s, post_f, coef)
    for k in range(m):
        alone = call(w[k], mask, pre_s[k], pre_f[k], post_s[k], post_f[k], coef[k])
        np.testing.assert_array_equal(together[k], alone)
        assert np.abs(np.asarray(alone) - w[k]).max() > 1e-4               # it learned
