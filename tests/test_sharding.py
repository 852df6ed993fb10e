"""Several devices (ngcspec.sharding): 1 vs 2 vs 4 host devices give the single-device results.

The device count of a JAX process is fixed when JAX starts, so the comparisons run in a
child process started with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (this
process has one device). What each mode promises, and what the tests hold:

- batch (PC classifier, Hebbian + adam): weights within 5e-4 absolute of one device's after
  an epoch (adam divides by the root of a running mean of squared updates, which magnifies
  the rounding of sums that run in another order: measured 9.6e-5 on weights of size 0.55),
  predictions within 1e-4, the same test accuracy; 2 and 4 devices agree with each other.
- members (a sweep of 8 members): every member's final state bitwise identical; metrics
  (float32 sums that XLA orders by the member axis's length) within 1e-6 relative.
- neurons (COBA, 4,000 LIF neurons with connection lists; an event-driven dense STDP
  network): spikes of every step identical; STDP weights within 1e-5.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ngcspec import memory
from ngcspec.errors import RunError
from ngcspec.resolve import resolve_file
from ngcspec.sharding import (DeviceError, Placement, choose_mode, find_devices, host_device_flag,
                              unit_axis)

ROOT = Path(__file__).resolve().parents[1]
PC = ROOT / "circuits" / "pc_digits_classifier.yaml"

# An event-driven dense STDP network: Poisson inputs -> TraceSTDP (64 x 128) -> 128 LIF.
STDP = """\
ngcspec: 1
name: stdp-net
seed: 3
dt: 1.0
data:
  train: {dataset: digits, split: train, batch_size: 1, shuffle: true, limit: 6}
components:
  inp: {kind: PoissonCell, n_units: 64, target_freq: 255.0}
  W: {kind: TraceSTDPSynapse, shape: [64, 128], A_plus: 0.02, A_minus: 0.01, resist_scale: 20.0,
      event_driven: true, max_spikes: 32, weight_init: {dist: uniform, low: 0.0, high: 0.3}}
  out: {kind: LIFCell, n_units: 128, tau_m: 20.0, refract_time: 2.0, tau_theta: 0.0, thr: -55.0}
  tr_in: {kind: VarTrace, n_units: 64, tau_tr: 20.0, a_delta: 0.0}
  tr_out: {kind: VarTrace, n_units: 128, tau_tr: 20.0, a_delta: 0.0}
wires:
  - inp.outputs ~> W.inputs
  - W.outputs -> out.j
  - inp.outputs -> tr_in.inputs
  - out.s -> tr_out.inputs
  - inp.outputs -> W.preSpike
  - out.s -> W.postSpike
  - tr_in.outputs -> W.preTrace
  - tr_out.outputs -> W.postTrace
clamps: {inp.inputs: train.x}
phases:
  train:
    data: train
    schedule:
      - reset
      - repeat: 60
        do: [advance, {evolve: [W]}]
    record: {out.s: per_step}
run: {epochs: 1}
"""

GRADED_SWEEP = """\
ngcspec: 1
name: graded
seed: 5
data:
  train: {dataset: digits, split: train, batch_size: 32, shuffle: true, limit: 96}
components:
  z0: {kind: RateCell, n_units: 64, tau_m: 0.0}
  z1: {kind: RateCell, n_units: 16, tau_m: 10.0, act_fx: tanh}
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

# Runs in a child process with 4 host devices; writes every result to OUT as .npz/.json.
CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    import jax
    import ngcspec
    assert len(jax.devices()) == 4, jax.devices()
    out = Path(sys.argv[1]); pc, stdp, graded, coba = sys.argv[2:6]
    modes = {}

    def save(tag, result, keys):
        arrays = {k: np.asarray(result.records[k]) for k in keys}
        for comp, parts in result.state.items():
            for part, v in parts.items():
                arrays[f"state/{comp}.{part}"] = np.asarray(v)
        np.savez(out / f"{tag}.npz", **arrays)
        (out / f"{tag}.json").write_text(json.dumps(result.metrics))

    pcc = ngcspec.load(pc)
    coba_c = ngcspec.load(coba)
    stdp_c = ngcspec.load(stdp)
    for n in (1, 2, 4):
        run = pcc.sharded(n)
        modes[f"pc{n}"] = run.placement.mode
        save(f"pc{n}", run.run(epochs=1), ["test/e2.mu"])
        run = coba_c.sharded(n)
        modes[f"coba{n}"] = run.placement.mode
        save(f"coba{n}", run.run(), ["run/cells.s"])
        run = stdp_c.sharded(n)
        modes[f"stdp{n}"] = run.placement.mode
        save(f"stdp{n}", run.run(), ["train/out.s"])
        sw = ngcspec.load(graded).sweep(params={"W1.eta": [0.001, 0.005, 0.01, 0.02]},
                                        seeds=[0, 1], devices=n)
        modes[f"sweep{n}"] = "members"
        arrays = {f"{i}/{c}.{p}": v for i, st in enumerate(sw.states)
                  for c, parts in st.items() for p, v in parts.items()}
        np.savez(out / f"sweep{n}.npz", **arrays)
        (out / f"sweep{n}.json").write_text(json.dumps(sw.metrics))
    (out / "modes.json").write_text(json.dumps(modes))
""")


def _coba_short(tmp: Path) -> Path:
    """COBA over 800 steps (80 ms), every step's spikes recorded."""
    import shutil

    text = (ROOT / "circuits" / "coba.yaml").read_text()
    text = text.replace("advance: 10000", "advance: 800").replace(
        "record: {count.counts: final}", "record: {count.counts: final, cells.s: per_step}")
    (tmp / "data").mkdir()
    shutil.copy(ROOT / "circuits" / "data" / "coba_init.npz", tmp / "data")
    path = tmp / "coba.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharding")
    files = {}
    for name, text in (("stdp.yaml", STDP), ("graded.yaml", GRADED_SWEEP)):
        files[name] = tmp / name
        files[name].write_text(text)
    coba = _coba_short(tmp)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp), str(PC), str(files["stdp.yaml"]),
         str(files["graded.yaml"]), str(coba)],
        env=host_device_flag(4), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


def _load(tmp, tag):
    with np.load(tmp / f"{tag}.npz", allow_pickle=False) as z:
        return dict(z), json.loads((tmp / f"{tag}.json").read_text())


@pytest.mark.slow
def test_the_rule_picks_batch_for_the_classifier_and_neurons_for_spiking_nets(four_devices):
    modes = json.loads((four_devices / "modes.json").read_text())
    assert modes["pc1"] == modes["pc2"] == modes["pc4"] == "batch"
    assert modes["coba2"] == modes["coba4"] == "neurons"
    assert modes["stdp4"] == "neurons"


@pytest.mark.slow
def test_batch_sharding_equals_one_device_to_rounding(four_devices):
    one, m1 = _load(four_devices, "pc1")
    for n in (2, 4):
        got, m = _load(four_devices, f"pc{n}")
        for key in ("state/W1.weights", "state/W2.weights", "state/W1.biases"):
            np.testing.assert_allclose(got[key], one[key], rtol=0, atol=5e-4, err_msg=key)
        np.testing.assert_allclose(got["test/e2.mu"], one["test/e2.mu"], rtol=0, atol=1e-4)
        assert m["test"][-1]["accuracy"] == m1["test"][-1]["accuracy"]
        for name, value in m1["train"][-1].items():
            assert m["train"][-1][name] == pytest.approx(value, rel=1e-5)
    two, _ = _load(four_devices, "pc2")
    four, _ = _load(four_devices, "pc4")
    np.testing.assert_allclose(two["state/W1.weights"], four["state/W1.weights"], atol=5e-4)


@pytest.mark.slow
def test_member_sharding_gives_every_member_the_same_bits(four_devices):
    one, m1 = _load(four_devices, "sweep1")
    assert len(one) > 0 and len(m1) == 8
    for n in (2, 4):
        got, m = _load(four_devices, f"sweep{n}")
        assert set(got) == set(one)
        for key in one:
            assert np.array_equal(got[key], one[key]), (n, key)
        for a, b in zip(m1, m):
            for epoch_a, epoch_b in zip(a["train"], b["train"]):
                assert epoch_b["acc"] == epoch_a["acc"]
                assert epoch_b["energy"] == pytest.approx(epoch_a["energy"], rel=1e-6)


@pytest.mark.slow
def test_neuron_sharding_gives_identical_spikes(four_devices):
    one, m1 = _load(four_devices, "coba1")
    spikes = one["run/cells.s"]
    assert spikes.shape[-1] == 4000 and spikes.sum() > 1000     # an active network
    stdp1, _ = _load(four_devices, "stdp1")
    assert stdp1["train/out.s"].sum() > 50
    for n in (2, 4):
        got, m = _load(four_devices, f"coba{n}")
        assert np.array_equal(got["run/cells.s"], spikes)
        assert m == m1
        st, _ = _load(four_devices, f"stdp{n}")
        assert np.array_equal(st["train/out.s"], stdp1["train/out.s"])
        np.testing.assert_allclose(st["state/W.weights"], stdp1["state/W.weights"],
                                   rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------------------
# in this process (one device): the rule, the axes, memory, errors


def test_rule_file_override_and_sweeps():
    r = resolve_file(PC)
    assert choose_mode(r, 4)[0] == "batch"          # batches 32 and 360 split over 4
    assert choose_mode(r, 7)[0] == "neurons"        # 32 does not split over 7
    assert choose_mode(r, 4, sweep=True)[0] == "members"
    forced = resolve_file(PC, overrides={"run.shard": "neurons"})
    assert choose_mode(forced, 4) == ("neurons", "run.shard in the file")
    members = resolve_file(PC, overrides={"run.shard": "members"})
    assert choose_mode(members, 4)[0] == "batch"    # members mean nothing to a single run


def test_unit_axes_split_state_and_post_synaptic_weights_not_lists():
    r = resolve_file((ROOT / "circuits" / "coba.yaml"))
    exc = r.components["exc"].kind
    cells = r.components["cells"].kind
    assert unit_axis(cells, "v", (1, 4000)) == 1
    assert unit_axis(exc, "targets", (3200, 120)) is None
    assert unit_axis(exc, "weights", (3200, 120)) is None
    pc = resolve_file(PC)
    assert unit_axis(pc.components["W1"].kind, "weights", (64, 128)) == 1
    assert unit_axis(pc.components["W1"].kind, "biases", (128,)) == 0


def test_memory_estimate_per_device_by_mode():
    r = resolve_file(PC)
    whole = dict(memory.estimate(r).items)
    neurons = dict(memory.estimate(r, devices=4, shard="neurons").items)
    assert whole["W1.weights"] == 64 * 128 * 4
    assert neurons["W1.weights"] == 64 * 128 * 4 // 4       # post axis 128 split in 4
    assert neurons["W2.weights"] == 128 * 10 * 4             # 10 does not split: whole
    batch = dict(memory.estimate(r, devices=4, shard="batch").items)
    assert batch["z1.z"] == 360 // 4 * 128 * 4                # largest batch, a quarter each
    assert batch["W1.weights"] == whole["W1.weights"]          # weights replicated
    eight = dict(memory.estimate(r, members=8, devices=4, shard="members").items)
    assert eight["W1.weights"] == 2 * whole["W1.weights"]     # two members per device


def test_a_run_that_does_not_fit_a_device_stops_before_compiling(monkeypatch):
    import jax

    placement = Placement(jax.devices()[:1], "batch")
    monkeypatch.setattr(memory, "device_available_bytes", lambda devices: (2**20, "a test"))
    with pytest.raises(RunError) as exc:
        placement.check_memory(resolve_file(PC))
    text = str(exc.value)
    assert "z1" in text or "e1" in text or "W1" in text      # names the largest compartments
    assert "MiB" in text and "1 MiB is available (a test)" in text


def test_gpu_on_a_machine_without_one_is_a_clear_error():
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match=r'pip install -e "\.\[cuda\]"'):
        find_devices("gpu")
    with pytest.raises(DeviceError, match="xla_force_host_platform_device_count=8"):
        find_devices("cpu", 8)
    with pytest.raises(DeviceError, match="at least 1"):
        find_devices(None, 0)


def test_cli_platform_gpu_exits_1_without_output(tmp_path, capsys, monkeypatch):
    import jax

    from ngcspec.cli.app import main

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr(sys, "argv", ["ngc", "run", str(PC), "--platform", "gpu",
                                      "--out", str(tmp_path / "runs")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "no GPU" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.json"))


@pytest.mark.slow
def test_summary_names_platform_and_devices(tmp_path, capsys, monkeypatch):
    from ngcspec.cli.app import main

    circuit = tmp_path / "c.yaml"
    circuit.write_text(GRADED_SWEEP.replace("run: {epochs: 2}", "run: {epochs: 1}"))
    monkeypatch.setattr(sys, "argv", ["ngc", "run", str(circuit), "--platform", "cpu",
                                      "--devices", "1", "--no-progress",
                                      "--out", str(tmp_path / "runs")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "on cpu (cpu)" in out
    summary = json.loads(next((tmp_path / "runs").rglob("summary.json")).read_text())
    assert summary["platform"] == "cpu" and summary["devices"] == ["cpu:0"]
    assert summary["shard"] == "batch"
