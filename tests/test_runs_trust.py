"""Runs you can trust: self-contained run directories, exact resume, nothing lost on the way
out, memory checked before compiling, and inputs that used to be accepted silently."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import ngcspec
from ngcspec.errors import CircuitError, RunError
from ngcspec.resume import resume, resume_weights_only
from ngcspec.rundir import clean_stale, load_run, prepare_output, write_run

TRACEBACK = "Traceback (most recent call last)"

# A small PC circuit that reads three files: a data set next to it, an initial weight matrix
# in a sub-folder and a gain outside its folder (which the run directory must rename).
FILES_CIRCUIT = """
ngcspec: 1
name: files-pc
seed: 3
data:
  train: {file: data/train.npz, batch_size: 8, shuffle: true}
components:
  z1: {kind: RateCell, n_units: 5, tau_m: 10.0, act_fx: tanh}
  W1: {kind: HebbianSynapse, shape: [5, 12], eta: 0.05, sign_value: -1.0, w_bound: 0.0,
       optim_type: adam, init: {weights: {file: data/w0.npy}}}
  e0: {kind: GaussianErrorCell, n_units: 12}
  E1: {kind: StaticSynapse, shape: [12, 5], tie: {to: W1.weights, transpose: true}}
  g: {kind: RateCell, n_units: 5, tau_m: 0.0}
wires:
  - z1.zF -> W1.inputs
  - W1.outputs -> e0.mu
  - e0.dmu ~> E1.inputs
  - E1.outputs -> z1.j
  - z1.zF -> W1.pre
  - e0.dmu -> W1.post
clamps: {e0.target: train.x, g.j: {file: ../gain.npy}}
schedule: [reset, {advance: 4}, {evolve: [W1]}]
phases:
  train: {data: train, metrics: {loss: {mean: e0.L}}}
  test:
    data: train
    every: 2
    schedule: [reset, {advance: 3}]
    metrics: {energy: {mean: e0.L}}
run:
  epochs: 3
  record: {e0.L: per_batch, W1.weights: final, z1.z: final}
"""


@pytest.fixture()
def files_circuit(tmp_path):
    folder = tmp_path / "project" / "circuit"
    (folder / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(folder / "data" / "train.npz", x=rng.normal(size=(20, 12)).astype(np.float32))
    np.save(folder / "data" / "w0.npy", rng.normal(scale=0.1, size=(5, 12)).astype(np.float32))
    np.save(tmp_path / "project" / "gain.npy", np.full((5,), 0.5, np.float32))
    path = folder / "circuit.yaml"
    path.write_text(FILES_CIRCUIT)
    return path


def _assert_same_run(a, b):
    """Two run directories hold the same checkpoint, end state, records and history."""
    assert a.summary["metrics"] == b.summary["metrics"]
    assert a.summary["phase_epochs"] == b.summary["phase_epochs"]
    assert a.summary["epochs"] == b.summary["epochs"]
    for state_a, state_b in ((a.state, b.state), (a.end_state, b.end_state)):
        assert state_a.keys() == state_b.keys()
        for comp in state_a:
            for part, v in state_a[comp].items():
                np.testing.assert_array_equal(v, state_b[comp][part], err_msg=f"{comp}.{part}")
    assert a.records.keys() == b.records.keys()
    for k, v in a.records.items():
        np.testing.assert_array_equal(v, b.records[k], err_msg=k)


@pytest.mark.slow
def test_run_directory_is_self_contained_and_resumes_exactly(files_circuit, tmp_path):
    circuit = ngcspec.load(files_circuit)
    whole = write_run(circuit.run(epochs=3), circuit.resolved, tmp_path / "runs")
    first = write_run(circuit.run(epochs=1), circuit.resolved, tmp_path / "runs")
    assert first != whole
    # the files it read travel with it: names inside the folder kept, the outside one renamed
    assert (first / "data" / "train.npz").is_file() and (first / "data" / "w0.npy").is_file()
    assert (first / "inputs" / "gain.npy").is_file()
    saved = yaml.safe_load((first / "circuit.yaml").read_text())
    assert saved["clamps"]["g.j"] == {"file": "inputs/gain.npy"}
    inputs = json.loads((first / "summary.json").read_text())["inputs"]
    assert set(inputs) == {"data/train.npz", "data/w0.npy", "inputs/gain.npy"}
    # the test phase (every 2) was forced at the end of the 1-epoch run: its end state is
    # kept apart from the state the next epoch starts from
    assert (first / "end_state.npz").is_file()

    # the circuit's folder goes away; the run still loads and resumes
    moved = tmp_path / "elsewhere"
    shutil.move(str(tmp_path / "project"), moved)
    run = load_run(first)
    np.testing.assert_array_equal(run.state["W1"]["weights"],
                                  load_run(first).end_state["W1"]["weights"])
    again = ngcspec.load(moved / "circuit" / "circuit.yaml")   # a moved copy of the circuit
    resumed = write_run(again.resume(run, epochs=2), again.resolved, tmp_path / "runs")
    _assert_same_run(load_run(whole), load_run(resumed))


@pytest.mark.slow
def test_resume_refuses_another_circuit_but_weights_only_takes_it(files_circuit, tmp_path):
    circuit = ngcspec.load(files_circuit)
    run_dir = write_run(circuit.run(epochs=1), circuit.resolved, tmp_path / "runs")
    # numbers may change between resumed runs: same circuit
    faster = ngcspec.load(files_circuit, overrides={"W1.eta": 0.1, "run.epochs": 7})
    assert resume(faster, run_dir, epochs=1).epochs == 2
    # a different wiring is another circuit
    other_text = FILES_CIRCUIT.replace("e0.dmu ~> E1.inputs", "e0.dmu -> E1.inputs").replace(
        "E1.outputs -> z1.j", "E1.outputs ~> z1.j")
    other_path = files_circuit.with_name("other.yaml")
    other_path.write_text(other_text)
    other = ngcspec.load(other_path)
    with pytest.raises(RunError) as info:
        resume(other, run_dir)
    msg = str(info.value)
    assert str(other_path) in msg and str(files_circuit) in msg
    assert "wires" in msg and "--resume-weights-only" in msg
    fresh = resume_weights_only(other, run_dir, epochs=1)
    np.testing.assert_array_equal(
        np.asarray(fresh.state["W1"]["weights"]).shape, (5, 12))
    assert fresh.start_epoch == 0
    with pytest.raises(RunError, match="--seed 9 with --resume"):
        resume(circuit, run_dir, seed=9)


@pytest.mark.slow
def test_damaged_or_changed_run_directories_are_located_errors(files_circuit, tmp_path):
    circuit = ngcspec.load(files_circuit)
    run_dir = write_run(circuit.run(epochs=1), circuit.resolved, tmp_path / "runs")
    data = run_dir / "data" / "train.npz"
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(RunError, match=r"train\.npz was changed after the run"):
        load_run(run_dir)
    data.write_bytes(original)
    ckpt = run_dir / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:200])          # truncated
    with pytest.raises(RunError, match="damaged or truncated"):
        load_run(run_dir)
    ckpt.unlink()
    os.mkfifo(ckpt)                                    # not a regular file: never opened
    with pytest.raises(RunError, match="missing checkpoint.npz"):
        load_run(run_dir)


def _ngc(monkeypatch, capsys, *args):
    """``ngc ARGS`` in this process; returns (exit code, stdout, stderr)."""
    from ngcspec.cli.app import main

    monkeypatch.setattr(sys, "argv", ["ngc", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_cli_refuses_a_file_as_out_before_compiling(files_circuit, tmp_path, monkeypatch, capsys):
    import ngcspec.compiler

    def never(*a, **k):
        raise AssertionError("compiled before the output location was checked")

    monkeypatch.setattr(ngcspec.compiler.Program, "__init__", never)
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    code, out, err = _ngc(monkeypatch, capsys, "run", files_circuit, "--out", target,
                          "--no-progress")
    assert code == 1 and TRACEBACK not in err
    assert f"--out: {target} is a file, not a folder" in err
    assert target.read_text() == "keep me"


@pytest.mark.slow
def test_cli_resume_of_a_corrupt_checkpoint_exits_1(files_circuit, tmp_path, monkeypatch, capsys):
    circuit = ngcspec.load(files_circuit)
    run_dir = write_run(circuit.run(epochs=1), circuit.resolved, tmp_path / "runs")
    (run_dir / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    code, out, err = _ngc(monkeypatch, capsys, "run", files_circuit, "--resume", run_dir,
                          "--out", tmp_path / "runs", "--no-progress")
    assert code == 1 and TRACEBACK not in err
    assert "checkpoint.npz: it is damaged or truncated" in err


@pytest.mark.slow
def test_cli_resume_with_seed_is_refused(files_circuit, tmp_path, monkeypatch, capsys):
    circuit = ngcspec.load(files_circuit)
    run_dir = write_run(circuit.run(epochs=1), circuit.resolved, tmp_path / "runs")
    code, out, err = _ngc(monkeypatch, capsys, "run", files_circuit, "--resume", run_dir,
                          "--seed", "4", "--epochs", "1", "--out", tmp_path / "runs",
                          "--no-progress")
    assert code == 1 and "--seed 4 with --resume" in err and TRACEBACK not in err


@pytest.mark.slow
def test_runs_finishing_together_both_land(files_circuit, tmp_path, monkeypatch):
    import ngcspec.rundir as rd

    circuit = ngcspec.load(files_circuit)
    result = circuit.run(epochs=1)
    monkeypatch.setattr(rd.time, "strftime", lambda fmt: "20260101-000000")
    written, errors = [], []
    barrier = threading.Barrier(4)

    def write():
        barrier.wait()
        try:
            written.append(write_run(result, circuit.resolved, tmp_path / "runs"))
        except Exception as exc:     # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = sorted(p.name for p in written)
    assert names == ["20260101-000000", "20260101-000000-1", "20260101-000000-2",
                     "20260101-000000-3"]
    root = tmp_path / "runs" / "files-pc"
    assert sorted(p.name for p in root.iterdir()) == names       # nothing else is left there
    for p in written:
        load_run(p)


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    import fcntl

    root = prepare_output(tmp_path / "runs", "x")
    dead = root / ".incomplete-20260101-000000-999999-aaaa"
    dead.mkdir()
    (dead / "records.npz").write_bytes(b"half")
    dead.with_name(dead.name + ".lock").touch()              # its writer died: lock free
    live = root / ".incomplete-20260101-000001-1-bbbb"
    live.mkdir()
    lock = live.with_name(live.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)                           # a writer holding its lock
    old = root / ".20250101-120000.abcd"                     # the earlier versions' temporaries
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    try:
        removed = clean_stale(root)
        assert set(removed) == {dead, old}
        assert live.is_dir() and not dead.exists() and not old.exists()
    finally:
        os.close(fd)


def test_memory_is_checked_before_compiling(tmp_path, monkeypatch, capsys):
    import ngcspec.compiler
    import ngcspec.memory

    path = tmp_path / "big.yaml"
    path.write_text("""
ngcspec: 1
name: big
components:
  x: {kind: RateCell, n_units: 3000, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [3000, 3000], eta: 0.01, optim_type: adam}
  z: {kind: RateCell, n_units: 3000, tau_m: 10.0}
wires: [x.zF -> W.inputs, W.outputs -> z.j, x.zF -> W.pre, z.zF -> W.post]
schedule: [reset, {advance: 2}, {evolve: [W]}]
phases:
  train: {batches: 1, batch_size: 4}
""")
    est = ngcspec.memory.estimate(ngcspec.load(path).resolved)
    # the Hebbian synapse's weights, update, mask and Adam moments: 36 MB each
    assert dict(est.items)["W.weights"] == 3000 * 3000 * 4
    monkeypatch.setattr(ngcspec.memory, "available_bytes",
                        lambda: (est.total_bytes // 2, "a test limit"))

    def never(*a, **k):
        raise AssertionError("compiled a run that cannot fit")

    monkeypatch.setattr(ngcspec.compiler.Program, "__init__", never)
    code, out, err = _ngc(monkeypatch, capsys, "run", path, "--out", tmp_path / "runs",
                          "--no-progress")
    assert code == 1 and TRACEBACK not in err
    assert "needs about" in err and "a test limit" in err and "evolve temporaries of W" in err


def test_out_of_memory_during_a_run_exits_1_with_the_estimate(files_circuit, tmp_path,
                                                              monkeypatch, capsys):
    import ngcspec.circuit

    def exhausted(*a, **k):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 123 bytes")

    monkeypatch.setattr(ngcspec.circuit.Circuit, "run", exhausted)
    code, out, err = _ngc(monkeypatch, capsys, "run", files_circuit, "--out", tmp_path / "runs",
                          "--no-progress")
    assert code == 1 and TRACEBACK not in err
    assert "out of memory while running" in err and "estimated to need" in err
    assert "W1.weights" in err or "epoch copy of the state" in err


def _problems(text, tmp_path, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CircuitError) as info:
        ngcspec.load(path)
    return info.value.problems


HEBB = """
ngcspec: 1
name: t
components:
  x: {kind: RateCell, n_units: 3, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [3, 3], eta: 0.1}
  z: {kind: RateCell, n_units: 3, tau_m: 10.0}
wires:
  - x.zF -> W.inputs
  - W.outputs -> z.j
schedule: [reset, {advance: 2}]
phases:
  run: {batches: 1, batch_size: 1}
"""


def test_booleans_are_not_numbers(tmp_path):
    (p,) = _problems(HEBB.replace("eta: 0.1", "eta: true"), tmp_path)
    assert (p.path, p.line) == ("components.W.eta", 6)
    assert p.message == "expected a number, got true"
    (p,) = _problems(HEBB.replace("name: t", "name: t\ndt: false"), tmp_path)
    assert p.path == "dt" and p.message == "expected a number, got false"


def test_a_wire_written_twice_is_an_error_unless_scaled(tmp_path):
    text = HEBB.replace("  - W.outputs -> z.j\n", "  - W.outputs -> z.j\n  - W.outputs -> z.j\n")
    (p,) = _problems(text, tmp_path)
    assert p.path == "wires[2]" and p.line == 11
    assert "written twice (also at line 10)" in p.message and "2 * W.outputs -> z.j" in p.hint
    doubled = HEBB.replace("  - W.outputs -> z.j\n", "  - W.outputs -> z.j\n  - 1.0 * W.outputs -> z.j\n")
    (tmp_path / "ok.yaml").write_text(doubled)
    ngcspec.load(tmp_path / "ok.yaml")                  # a scale says the sum is meant


def test_components_cannot_take_top_level_names(tmp_path):
    (p,) = _problems(HEBB.replace("  z: {kind", "  dt: {kind").replace("z.j", "dt.j"), tmp_path)
    assert p.path == "components.dt" and "top-level field" in p.message


def test_file_biases_on_a_synapse_that_would_not_learn_them(tmp_path):
    np.save(tmp_path / "b.npy", np.zeros(3, np.float32))
    text = HEBB.replace("eta: 0.1}", "eta: 0.1, init: {biases: {file: b.npy}}}")
    (p,) = _problems(text, tmp_path)
    assert p.path == "components.W.init.biases" and "bias_init" in p.hint
    (tmp_path / "ok.yaml").write_text(text.replace("eta: 0.1,", "eta: 0.1, bias_init: "
                                                   "{dist: constant, value: 0.0},"))
    circuit = ngcspec.load(tmp_path / "ok.yaml")
    assert "biases" in circuit.resolved.components["W"].initial


def test_a_kind_writing_an_undeclared_compartment_is_refused(tmp_path):
    from ngcspec.compiler import KindContractError, Program
    from ngcspec.components.graded import RateCell

    class Misspelt(RateCell):
        @classmethod
        def advance(cls, p, s, ctx):
            out = dict(super().advance(p, s, ctx))
            out["typo_y"] = out.pop("z")
            return out

    (tmp_path / "c.yaml").write_text(HEBB)
    resolved = ngcspec.load(tmp_path / "c.yaml").resolved
    comps = dict(resolved.components)
    comps["z"] = dataclasses.replace(comps["z"], kind=Misspelt)
    bad = dataclasses.replace(resolved, components=comps)
    with pytest.raises(KindContractError, match=r"RateCell\.advance wrote 'typo_y'"):
        ngcspec.circuit.Circuit(bad, Program(bad)).run()


def test_unreadable_data_paths_are_located_errors(tmp_path):
    text = HEBB.replace("schedule:", "clamps: {x.j: {file: in.npy}}\nschedule:")
    loop = tmp_path / "in.npy"
    os.symlink(loop, loop)                                       # a symlink loop
    (p,) = _problems(text, tmp_path)
    assert p.path == "clamps.x.j.file" and "symbolic link" in p.hint
    loop.unlink()
    os.mkfifo(loop)                                              # a FIFO: never opened
    (p,) = _problems(text, tmp_path)
    assert "not a file" in p.message
    loop.unlink()
    loop.mkdir()                                                 # a folder
    (p,) = _problems(text, tmp_path)
    assert "not a file" in p.message


def test_nan_written_as_text_is_refused(tmp_path):
    (p,) = _problems(HEBB.replace("eta: 0.1", 'eta: "nan"'), tmp_path)
    assert p.path == "components.W.eta" and "NaN" in p.message


@pytest.mark.parametrize("old, new, where, says", [
    ("eta: 0.1", "eta: true", ":6:", "expected a number, got true"),
    ("  - W.outputs -> z.j\n", "  - W.outputs -> z.j\n  - W.outputs -> z.j\n", ":11:",
     "written twice (also at line 10)"),
    ("  z: {kind", "  seed: {kind", ":7:", "top-level field"),
    ("schedule:", "clamps: {x.j: {file: loop.npy}}\nschedule:", ":11:", "cannot follow the path"),
])
def test_cli_validate_and_run_refuse_what_used_to_pass(old, new, where, says, tmp_path,
                                                      monkeypatch, capsys):
    os.symlink(tmp_path / "loop.npy", tmp_path / "loop.npy")
    path = tmp_path / "c.yaml"
    path.write_text(HEBB.replace(old, new).replace("z.j", "seed.j" if "seed:" in new else "z.j"))
    for command in (["validate", path], ["run", path, "--out", tmp_path / "runs"]):
        code, out, err = _ngc(monkeypatch, capsys, *command)
        text = out + err
        assert code == 1 and TRACEBACK not in text, text
        assert f"{path}{where}" in text and says in text, text
    assert not (tmp_path / "runs").exists()


def test_a_misspelt_field_of_a_distribution_is_matched_against_that_distribution(tmp_path):
    text = HEBB.replace("eta: 0.1}", "eta: 0.1, weight_init: {dist: gaussian, sdt: 0.1}}")
    (p,) = _problems(text, tmp_path)
    assert p.path == "components.W.weight_init.sdt" and p.hint == "did you mean 'std'?"
