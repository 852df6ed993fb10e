"""Run directories: written atomically by `ngc run`, read back by `ngcspec.load_run`."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ngcspec
from ngcspec.errors import RunError
from ngcspec.rundir import write_run

TINY = """
ngcspec: 1
name: tiny-pc
seed: 5
data:
  train: {dataset: digits, split: train, batch_size: 16, limit: 40, shuffle: true}
components:
  z1: {kind: RateCell, n_units: 6, tau_m: 10.0, act_fx: tanh}
  W1: {kind: HebbianSynapse, shape: [6, 64], eta: 0.05, sign_value: -1.0, w_bound: 0.0,
       weight_init: {dist: gaussian, std: 0.1}}
  e0: {kind: GaussianErrorCell, n_units: 64}
  E1: {kind: StaticSynapse, shape: [64, 6], tie: {to: W1.weights, transpose: true}}
wires:
  - z1.zF -> W1.inputs
  - W1.outputs -> e0.mu
  - e0.dmu ~> E1.inputs
  - E1.outputs -> z1.j
  - z1.zF -> W1.pre
  - e0.dmu -> W1.post
clamps: {e0.target: train.x}
schedule: [reset, {advance: 5}, {evolve: [W1]}]
phases:
  train: {data: train, metrics: {loss: {mean: e0.L}}}
run:
  epochs: 2
  record: {e0.L: per_batch, z1.z: final, W1.weights: final}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    path = d / "tiny.yaml"
    path.write_text(TINY)
    circuit = ngcspec.load(path)
    return path, circuit, circuit.run()


def _ngc(*args, cwd):
    exe = Path(sys.executable).with_name("ngc")
    return subprocess.run([str(exe), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_write_and_load_round_trip(tiny, tmp_path):
    path, circuit, result = tiny
    run_dir = write_run(result, circuit.resolved, tmp_path / "runs")
    assert run_dir.parent == tmp_path / "runs" / "tiny-pc"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.npz", "circuit.yaml", "records.npz", "summary.json"]
    back = ngcspec.load_run(run_dir)
    np.testing.assert_array_equal(back.state["W1"]["weights"], np.asarray(result.state["W1"]["weights"]))
    # 40 samples in batches of 16: 2 full batches and a partial one -> 3 losses per epoch
    assert back.records["train/e0.L"].shape == (2, 3)
    assert back.records["train/z1.z"].shape == (8, 6)      # final batch holds 40 - 32 samples
    assert back.summary["final_metrics"]["train"]["loss"] == pytest.approx(
        result.metrics["train"][-1]["loss"])
    # the recorded per-batch loss is the loss the metric averages (per element of e0.L)
    assert len(back.metrics["train"]) == 2
    # no temporary directory is left behind
    assert [p.name for p in (tmp_path / "runs" / "tiny-pc").iterdir()] == [run_dir.name]


def test_failed_write_keeps_what_was_written_and_says_where(tiny, tmp_path, monkeypatch):
    path, circuit, result = tiny
    import ngcspec.rundir as rd

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rd, "_save_npz", boom)
    with pytest.raises(rd.RunWriteError, match="No space left on device") as info:
        write_run(result, circuit.resolved, tmp_path / "runs")
    kept = info.value.kept
    assert str(kept) in str(info.value)
    assert (kept / "circuit.yaml").is_file()           # written before the failure
    # nothing visible besides run directories, and no lock left behind
    assert [p.name for p in (tmp_path / "runs" / "tiny-pc").iterdir()] == [kept.name]
    assert kept.name.startswith(".partial-")


def test_load_run_checks_shapes_and_names_the_compartment(tiny, tmp_path):
    path, circuit, result = tiny
    run_dir = write_run(result, circuit.resolved, tmp_path / "runs")
    with np.load(run_dir / "checkpoint.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["W1.weights"] = arrays["W1.weights"][:, :10]
    np.savez(run_dir / "checkpoint.npz", **arrays)
    with pytest.raises(RunError, match=r"W1\.weights: shape \(6, 10\), expected \(6, 64\)"):
        ngcspec.load_run(run_dir)


def test_load_run_incomplete_directory(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(RunError, match="missing"):
        ngcspec.load_run(tmp_path)


@pytest.mark.slow
def test_cli_run_writes_directory_and_resume_continues(tmp_path):
    circuit = tmp_path / "tiny.yaml"
    circuit.write_text(TINY)
    first = _ngc("run", circuit, "--out", tmp_path / "runs", "--epochs", "1", "--no-progress",
                 cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    (run1,) = (tmp_path / "runs" / "tiny-pc").iterdir()
    summary = json.loads((run1 / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["seed"] == 5
    second = _ngc("run", circuit, "--out", tmp_path / "runs", "--epochs", "1", "--no-progress",
                  "--resume", run1, "--set", "W1.eta=0.0", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    run2 = max((tmp_path / "runs" / "tiny-pc").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert run2 != run1
    w1 = ngcspec.load_run(run1).state["W1"]["weights"]
    w2 = ngcspec.load_run(run2).state["W1"]["weights"]
    # eta = 0 after resuming: the weights are exactly those the first run ended with
    np.testing.assert_array_equal(w1, w2)
    assert json.loads((run2 / "summary.json").read_text())["overrides"] == {"W1.eta": 0.0}
