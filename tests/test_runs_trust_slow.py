"""Runs you can trust, the long checks: every shipped circuit's run directory loads after
its folder moves and resumes exactly; the real ``ngc`` under concurrent runs, a full disk
and an address-space limit; the memory estimate against measured peaks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import ngcspec
from ngcspec.resume import resume
from ngcspec.rundir import load_run, write_run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CIRCUITS = sorted((ROOT / "circuits").glob("*.yaml"))
TRACEBACK = "Traceback (most recent call last)"

TINY = """
ngcspec: 1
name: tiny
seed: 2
data:
  train: {dataset: digits, split: train, batch_size: 16, limit: 48, shuffle: true}
components:
  z1: {kind: RateCell, n_units: 6, tau_m: 10.0, act_fx: tanh}
  W1: {kind: HebbianSynapse, shape: [6, 64], eta: 0.05, sign_value: -1.0, w_bound: 0.0}
  e0: {kind: GaussianErrorCell, n_units: 64}
  E1: {kind: StaticSynapse, shape: [64, 6], tie: {to: W1.weights, transpose: true}}
wires: [z1.zF -> W1.inputs, W1.outputs -> e0.mu, e0.dmu ~> E1.inputs, E1.outputs -> z1.j,
        z1.zF -> W1.pre, e0.dmu -> W1.post]
clamps: {e0.target: train.x}
schedule: [reset, {advance: 3}, {evolve: [W1]}]
run: {epochs: 1, record: {e0.L: per_batch}}
"""


def _ngc_cmd(*args):
    return [str(Path(sys.executable).with_name("ngc")), *map(str, args)]


def _shortened(raw: dict, epochs: int) -> dict:
    """The circuit with few samples per epoch (a couple of batches) and ``epochs`` epochs."""
    raw = json.loads(json.dumps(raw))
    for ds in (raw.get("data") or {}).values():
        bsz = int(ds.get("batch_size", 1))
        ds["limit"] = min(int(ds.get("limit", 10**9)), 2 * bsz + 1) if bsz > 1 else 2
    for ph in (raw.get("phases") or {}).values():
        if isinstance(ph, dict) and "batches" in ph:
            ph["batches"] = min(int(ph["batches"]), 2)
    raw.setdefault("run", {})["epochs"] = epochs
    return raw


@pytest.mark.parametrize("path", CIRCUITS, ids=[p.stem for p in CIRCUITS])
def test_every_shipped_circuit_moves_loads_and_resumes_exactly(path, tmp_path):
    folder = tmp_path / "circuits"
    shutil.copytree(ROOT / "circuits", folder)
    raw = yaml.safe_load((folder / path.name).read_text())
    multi = int((raw.get("run") or {}).get("epochs", 1)) > 1
    short = folder / f"short_{path.name}"
    short.write_text(yaml.safe_dump(_shortened(raw, 2 if multi else 1), sort_keys=False))
    circuit = ngcspec.load(short)
    first = write_run(circuit.run(epochs=1), circuit.resolved, tmp_path / "runs")
    whole = write_run(circuit.run(epochs=2), circuit.resolved, tmp_path / "runs") if multi else None
    shutil.move(str(folder), tmp_path / "moved")
    run = load_run(first)                           # loads with the circuit's folder gone
    circuit = ngcspec.load(tmp_path / "moved" / short.name)
    resumed = resume(circuit, run, epochs=1)
    assert resumed.start_epoch == 1 and resumed.epochs == 2
    if multi:
        again = load_run(write_run(resumed, circuit.resolved, tmp_path / "runs"))
        full = load_run(whole)
        assert again.summary["metrics"] == full.summary["metrics"]
        for comp, parts in full.state.items():
            for part, v in parts.items():
                np.testing.assert_array_equal(v, again.state[comp][part], err_msg=f"{comp}.{part}")
                np.testing.assert_array_equal(full.end_state[comp][part],
                                              again.end_state[comp][part])
        assert full.records.keys() == again.records.keys()
        for k, v in full.records.items():
            np.testing.assert_array_equal(v, again.records[k], err_msg=k)


def test_cli_resume_of_n_epochs_equals_one_run(tmp_path):
    """``ngc run --epochs 3`` and ``--epochs 1`` + ``--resume --epochs 2``: same checkpoint."""
    circuit = ROOT / "circuits" / "pc_digits_classifier.yaml"
    raw = _shortened(yaml.safe_load(circuit.read_text()), 3)
    short = ROOT / "circuits" / f".test-short-{tmp_path.name}.yaml"
    short.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        outs = {}
        for tag, extra in (("whole", ["--epochs", "3"]), ("first", ["--epochs", "1"])):
            proc = subprocess.run(_ngc_cmd("run", short, "--out", tmp_path / tag, "--no-progress",
                                           *extra), capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr
            (outs[tag],) = (tmp_path / tag).glob("*/*/summary.json")
        proc = subprocess.run(_ngc_cmd("run", short, "--out", tmp_path / "resumed", "--no-progress",
                                       "--resume", outs["first"].parent, "--epochs", "2"),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert "epochs 2-3 of the run" in proc.stdout
    finally:
        short.unlink()
    (resumed,) = (tmp_path / "resumed").glob("*/*/summary.json")
    a, b = load_run(outs["whole"].parent), load_run(resumed.parent)
    assert a.summary["metrics"] == b.summary["metrics"]
    for comp, parts in a.state.items():
        for part, v in parts.items():
            np.testing.assert_array_equal(v, b.state[comp][part])


def test_two_cli_runs_into_one_out_both_land(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    procs = [subprocess.Popen(_ngc_cmd("run", tmp_path / "tiny.yaml", "--out", tmp_path / "runs",
                                       "--no-progress"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    runs = sorted((tmp_path / "runs" / "tiny").iterdir())
    assert len(runs) == 2 and all(not r.name.startswith(".") for r in runs)
    for r in runs:
        load_run(r)


def test_cli_full_disk_keeps_what_was_written_and_exits_1(tmp_path):
    text = TINY.replace("per_batch}", "per_batch, e0.mu: per_step}")  # 37 kB of records
    (tmp_path / "tiny.yaml").write_text(text)
    # RLIMIT_FSIZE of 16 KiB, set by the shell (no preexec_fn: forking a process that runs
    # JAX's threads can deadlock)
    cmd = "ulimit -f 16; exec " + " ".join(
        f"'{a}'" for a in _ngc_cmd("run", tmp_path / "tiny.yaml", "--out", tmp_path / "runs",
                                   "--no-progress"))
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert TRACEBACK not in proc.stderr
    assert "could not write the run directory" in proc.stderr and "File too large" in proc.stderr
    (kept,) = (tmp_path / "runs" / "tiny").iterdir()
    assert kept.name.startswith(".partial-") and str(kept) in proc.stderr
    assert (kept / "circuit.yaml").is_file()


def test_cli_address_space_limit_stops_before_compiling(tmp_path):
    """Under ``ulimit -v`` XLA used to wait forever; the estimate stops the run first."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_memory import GRADED

    (tmp_path / "big.yaml").write_text(GRADED)
    limit = 1_500 * 2**20           # the estimate is about 1.9 GiB on top of the interpreter
    cmd = f"ulimit -v {limit // 1024}; exec " + " ".join(
        f"'{a}'" for a in _ngc_cmd("run", tmp_path / "big.yaml", "--out", tmp_path / "runs",
                                   "--no-progress"))
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert TRACEBACK not in proc.stderr
    assert "needs about" in proc.stderr and "address-space limit" in proc.stderr


def test_memory_estimate_within_1_5x_of_measured_peaks():
    """Three families whose estimate is at least 1 GiB, each measured in its own process
    (peak RSS minus the peak of a trivial circuit)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout.strip().splitlines()[-1])["circuits"]
    assert len(rows) == 3
    for name, m in rows.items():
        assert m["estimate"] >= 2**30, name
        assert 1 / 1.5 <= m["ratio"] <= 1.5, (name, m)
