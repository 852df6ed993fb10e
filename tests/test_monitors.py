"""Record modes of ngcspec.monitors: spike times, population rate, initial, per_repeat.

Each is held to an independent reference: the dense per-step record of the same run (same
seed, so the same spikes), a hand-computed Hebbian sequence, or the circuit's initial state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ngcspec
from ngcspec.errors import CircuitError
from ngcspec.monitors import SPIKE_COLUMNS, dense_spikes, spike_list

CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"

# Poisson inputs into LIF cells, two epochs of two batches of three samples: random spikes,
# different in every sample, step and epoch.
POISSON_LIF = """
ngcspec: 1
name: poisson-lif
dt: 0.5
seed: 3
components:
  p: {{kind: PoissonCell, n_units: 12, target_freq: 200.0}}
  W: {{kind: StaticSynapse, shape: [12, 10], weight_init: {{dist: uniform, low: 0.0, high: 40.0}}}}
  z: {{kind: LIFCell, n_units: 10, tau_m: 10.0, resist_m: 1.0, thr: -52.0, v_rest: -65.0,
      v_reset: -60.0, refract_time: 1.0, tau_theta: 0.0}}
wires: [p.outputs ~> W.inputs, W.outputs -> z.j]
phases:
  run:
    batches: 2
    batch_size: 3
    clamps: {{p.inputs: {{constant: 1.0}}}}
    schedule: [reset, {{advance: 60}}]
    record: {{z.s: {mode}, p.outputs: {mode}}}
run: {{epochs: 2}}
"""


@pytest.fixture(scope="module")
def dense_and_listed():
    dense = ngcspec.load(POISSON_LIF.format(mode="per_step")).run()
    listed = ngcspec.load(POISSON_LIF.format(mode="spike_times")).run()
    rate = ngcspec.load(POISSON_LIF.format(mode="rate")).run()
    return dense, listed, rate


@pytest.mark.slow
def test_spike_times_are_the_dense_records_nonzeros(dense_and_listed):
    dense, listed, _ = dense_and_listed
    for key in ("run/z.s", "run/p.outputs"):
        d = dense.records[key]                   # (epochs, steps, samples, units)
        assert d.shape[:3] == (2, 60, 6)
        expect = np.argwhere(d != 0)             # rows (epoch, step, sample, unit), C order
        got = listed.records[key]
        assert got.dtype == np.int32 and got.shape[1] == len(SPIKE_COLUMNS)
        assert len(expect) > 100                 # the test means something: many spikes
        np.testing.assert_array_equal(got, expect)
        np.testing.assert_array_equal(dense_spikes(got, d.shape), d != 0)


def test_spike_times_take_less_memory_than_the_dense_record(dense_and_listed):
    dense, listed, _ = dense_and_listed
    d, s = dense.records["run/z.s"], listed.records["run/z.s"]
    assert s.nbytes == 16 * np.count_nonzero(d)  # 4 int32 per spike, nothing per silent step


def test_rate_is_the_mean_over_units_in_hz(dense_and_listed):
    dense, _, rate = dense_and_listed
    d = dense.records["run/z.s"]
    r = rate.records["run/z.s"]                  # (epochs, steps, samples)
    assert r.shape == d.shape[:3]
    np.testing.assert_allclose(r, d.mean(axis=-1) * 1000.0 / 0.5, rtol=1e-6)
    assert r.max() > 0


def test_spike_list_of_packed_bits_by_hand():
    # step 0: sample 0 fires units 0 and 9; step 1: nothing; step 2: sample 1 fires unit 3
    bits = np.zeros((3, 2, 10), np.uint8)
    bits[0, 0, [0, 9]] = 1
    bits[2, 1, 3] = 1
    packed = np.packbits(bits, axis=-1)
    np.testing.assert_array_equal(spike_list(packed, 10, epoch=4),
                                  [[4, 0, 0, 0], [4, 0, 0, 9], [4, 2, 1, 3]])
    assert spike_list(np.zeros((5, 2, 2), np.uint8), 10, 0).shape == (0, 4)


def _lesson3(mode: str):
    text = (CIRCUITS / "hebbian_lesson3.yaml").read_text()
    text = text.replace("record: {Wab.weights: per_step, b.zF: per_step}",
                        f"record: {{Wab.weights: {mode}}}")
    assert f"Wab.weights: {mode}" in text
    text = text.replace("data/lesson3_spikes.npy", str(CIRCUITS / "data" / "lesson3_spikes.npy"))
    return ngcspec.load(text).run()


def test_per_repeat_records_weights_after_each_evolve():
    # spikes 1, 1, 0, 0, 1 and w += pre * post with post = w * pre: each spike doubles w.
    # per_step (before the step's evolve) sees 1, 2, 4, 4, 4; after the evolve: 2, 4, 4, 4, 8
    after = _lesson3("per_repeat").records["run/Wab.weights"]
    np.testing.assert_array_equal(after.ravel(), [2, 4, 4, 4, 8])
    assert after.shape == (1, 1, 5, 1, 1)        # (epochs, batches, passes, weight shape)


@pytest.mark.slow
def test_initial_is_the_value_before_learning():
    circuit = ngcspec.load(POISSON_LIF.format(mode="per_step").replace(
        "record: {z.s: per_step, p.outputs: per_step}", "record: {W.weights: initial}"))
    res = circuit.run()
    w0 = np.asarray(circuit.init_state(seed=3)["W"]["weights"])
    np.testing.assert_array_equal(res.records["run/W.weights"], w0)
    res = _lesson3("initial")                     # learns: 1 -> 8, the record keeps 1
    np.testing.assert_array_equal(res.records["run/Wab.weights"], [[1.0]])
    assert float(np.asarray(res.state["Wab"]["weights"]).ravel()[0]) == 8.0


@pytest.mark.parametrize("mode,where", [("spike_times", "W.weights"), ("rate", "W.weights"),
                                        ("per_repeat", "z.s")])
def test_modes_that_cannot_apply_are_refused_with_the_place(mode, where):
    text = POISSON_LIF.format(mode="per_step").replace(
        "record: {z.s: per_step, p.outputs: per_step}", f"record: {{{where}: {mode}}}")
    with pytest.raises(CircuitError) as info:
        ngcspec.load(text)
    msg = str(info.value)
    assert mode in msg and "record" in msg
    assert ("repeat" in msg) if mode == "per_repeat" else ("batch axis" in msg)


# ---------------------------------------------------------------------------------------------
# mean metrics of one unit, scaled: the example circuits state their curves in the run table


@pytest.mark.slow
def test_fI_metrics_are_the_recorded_spike_counts_in_hz():
    res = ngcspec.load(CIRCUITS / "lif_fI.yaml").run()
    counts = res.records["run/z.s"][0, :, 0, :].sum(axis=0)      # 4000 steps x 0.05 ms
    currents = [10, 13, 15, 20, 30, 50, 80, 120]
    got = [res.metrics["run"][0][f"rate_hz_j{j}"] for j in currents]
    np.testing.assert_allclose(got, counts / 0.2)
    # silent at or below the rheobase (R I <= thr - v_rest = 13 mV); above it, a first spike
    # after t1 = tau ln(I / (I - 13)) from rest, then one every T(I) (the closed form in the
    # file): 1 + (200 - t1) / T spikes, to within the Euler steps' rounding
    assert got[0] == got[1] == 0
    tau, t_ref = 10.0, 2.0
    v_e = 5.0 * np.exp(-t_ref / tau)                  # (v_reset - v_rest) e^(-t_ref/tau_m)
    for j, rate in zip(currents[2:], got[2:]):
        period = t_ref + tau * np.log((j - v_e) / (j - 13.0))
        first = tau * np.log(j / (j - 13.0))
        assert abs(rate * 0.2 - (1 + (200.0 - first) / period)) < 1.5, (j, rate, period)


@pytest.mark.slow
def test_stdp_window_metrics_are_the_closed_form_weights():
    final = ngcspec.load(CIRCUITS / "stdp_pairing.yaml").run().final_metrics()["run"]
    e = np.exp(-1.0)                                  # a trace read 10 ms after its spike
    assert final["w_trace_lag_minus10ms"] == pytest.approx(0.5 - 0.012 * e, abs=2e-6)
    assert final["w_trace_lag_0ms"] == pytest.approx(0.5 + 0.01 - 0.012, abs=2e-6)
    assert final["w_trace_lag_plus10ms"] == pytest.approx(0.5 + 0.01 * e, abs=2e-6)
    assert final["w_exp_lag_plus10ms"] == pytest.approx(0.5 + 0.01 * e * np.exp(-0.5), abs=2e-6)
    assert final["w_event_lag_plus1ms"] == pytest.approx(0.5 + 0.01 * (1 - 1.01 * 0.5), abs=2e-6)
    assert final["w_event_lag_plus5ms"] == pytest.approx(0.5 - 0.01 * 1.01 * 0.5, abs=2e-6)


@pytest.mark.slow
def test_conductance_peak_metrics_are_the_maxima_of_the_recorded_kernels():
    res = ngcspec.load(CIRCUITS / "conductance_kernels.yaml").run()
    final = res.final_metrics()
    for kind in ("exp", "alpha", "dexp"):
        g = res.records[f"drive/{kind}.g_syn"].ravel()[:200]       # the single spike at 5 ms
        assert final[f"{kind}_peak"]["g_peak"] == pytest.approx(float(g.max()), rel=1e-6)
    assert final["exp_peak"]["g_peak"] == pytest.approx(1.0, abs=1e-6)
    assert final["alpha_peak"]["g_peak"] == pytest.approx(0.377, abs=1e-3)
    assert final["dexp_peak"]["g_peak"] == pytest.approx(0.487, abs=1e-3)


def test_a_metric_unit_out_of_range_is_a_located_error():
    text = POISSON_LIF.format(mode="per_step").replace(
        "    record:", "    metrics: {r: {mean: z.s, unit: 10}}\n    record:")
    with pytest.raises(CircuitError) as info:
        ngcspec.load(text)
    msg = str(info.value)
    assert "metrics.r.unit" in msg and "no unit 10" in msg and "from 0 to 9" in msg


def test_memory_estimate_counts_the_bits_a_spike_record_keeps_in_the_program():
    from ngcspec.memory import estimate

    def record_bytes(mode):
        resolved = ngcspec.load(POISSON_LIF.format(mode=mode)).resolved
        return dict(estimate(resolved).items)["record run/z.s"]

    # 2 epochs x 60 steps x 6 samples: 10 units as float32 (40 bytes) or as bits (2 bytes)
    # per step and sample; a rate is one float32 per step and sample
    dense, bits, rate = record_bytes("per_step"), record_bytes("spike_times"), record_bytes("rate")
    assert dense == 20 * bits == 10 * rate
    assert bits % (60 * 6 * 2) == 0
