"""Sweeps: the sweep section's checks, members, tables, chunks and sweep directories."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

import ngcspec
from ngcspec.errors import CircuitError, NgcspecError
from ngcspec.resolve import resolve_file

CIRCUIT = """\
ngcspec: 1
name: sweep-test
data:
  train: {dataset: digits, split: train, batch_size: 32, shuffle: true, limit: 96}
components:
  z0: {kind: RateCell, n_units: 64, tau_m: 0.0}
  W1: {kind: HebbianSynapse, shape: [64, 10], eta: 0.01, sign_value: -1.0, w_bound: 0.0,
       weight_init: {dist: fan_in_gaussian}}
  e1: {kind: GaussianErrorCell, n_units: 10}
wires:
  - z0.zF -> W1.inputs
  - W1.outputs -> e1.mu
  - z0.zF -> W1.pre
  - e1.dmu -> W1.post
clamps: {z0.j: train.x, e1.target: train.y}
phases:
  train:
    data: train
    schedule: [reset, {advance: 2}, {evolve: [W1]}]
    metrics: {acc: {accuracy: e1.mu}, energy: {mean: e1.L}}
run: {epochs: 2}
"""


def _problems(sweep_text: str):
    with pytest.raises(CircuitError) as info:
        resolve_file(CIRCUIT + sweep_text)
    return info.value.problems


# ---------------------------------------------------------------------------------------------
# checks, located like every other problem


def test_unknown_parameter_is_located_with_a_suggestion():
    (p,) = _problems("sweep:\n  params:\n    W1.etta: [0.1]\n")
    assert (p.line, p.path) == (24, "sweep.params.W1.etta")
    assert "no parameter 'etta'" in p.message and "'eta'" in p.hint
    (p,) = _problems("sweep:\n  params:\n    W9.eta: [0.1]\n")
    assert "'W9' is not a component" in p.message and "'W1'" in p.hint


def test_structural_parameter_in_a_numeric_range():
    (p,) = _problems("sweep:\n  params:\n    e1.n_units: {linspace: [8, 16], n: 3}\n")
    assert p.path == "sweep.params.e1.n_units" and p.line == 24
    assert "structural" in p.message and "range" in p.hint


def test_empty_list_and_bad_ranges():
    (p,) = _problems("sweep:\n  params:\n    W1.eta: []\n")
    assert p.path == "sweep.params.W1.eta" and "at least 1" in p.message
    (p,) = _problems("sweep:\n  params:\n    W1.eta: {logspace: [0, 1], n: 3}\n")
    assert "must be > 0" in p.message and p.line == 24
    (p,) = _problems("sweep:\n  seeds: {range: [5, 2]}\n")
    assert p.path.startswith("sweep.seeds") and "holds no values" in p.message


def test_values_checked_against_the_parameter_and_zip_lengths():
    problems = _problems("sweep:\n  params:\n    W1.eta: [0.1, x]\n    dt: [1, -2, 3]\n"
                         "  combine: zip\n  report: {metric: train.accuracy}\n")
    got = {p.path: p for p in problems}
    assert "is a number" in got["sweep.params.W1.eta[1]"].message
    assert "dt must be > 0" in got["sweep.params.dt[1]"].message
    assert "different lengths" in got["sweep.combine"].message
    assert "'train.acc'" in got["sweep.report.metric"].hint


# ---------------------------------------------------------------------------------------------
# members


def _members(sweep_text):
    from ngcspec.sweep import sweep_members

    return sweep_members(resolve_file(CIRCUIT + sweep_text))


def test_grid_zip_random_and_seeds():
    grid = _members("sweep:\n  params:\n    W1.eta: [0.1, 0.2]\n    dt: {linspace: [1, 2], n: 3}\n"
                    "  seeds: {range: [4, 6]}\n")
    assert len(grid) == 2 * 3 * 2
    assert [(m.values["W1.eta"], m.values["dt"], m.seed) for m in grid[:4]] == \
        [(0.1, 1.0, 4), (0.1, 1.0, 5), (0.1, 1.5, 4), (0.1, 1.5, 5)]
    zipped = _members("sweep:\n  params:\n    W1.eta: [0.1, 0.2]\n    dt: [1, 2]\n"
                      "  combine: zip\n")
    assert [m.values for m in zipped] == [{"W1.eta": 0.1, "dt": 1.0}, {"W1.eta": 0.2, "dt": 2.0}]
    assert all(m.seed == 0 for m in zipped)                    # the file's seed
    text = "sweep:\n  params:\n    W1.eta: {logspace: [0.001, 1], n: 4}\n    dt: [1, 2, 3]\n" \
           "  combine: {random: 5}\n"
    drawn = _members(text)
    combos = [tuple(m.values.values()) for m in drawn]
    assert len(set(combos)) == 5 and combos == [tuple(m.values.values()) for m in _members(text)]
    etas = {round(m.values["W1.eta"], 12) for m in drawn}
    assert etas <= {0.001, 0.01, 0.1, 1.0}


def test_cli_forms():
    from ngcspec.cli.sweep import parse_combine, parse_param, parse_seeds

    assert parse_param("W1.eta=0.001,0.01") == ("W1.eta", [0.001, 0.01])
    assert parse_param("z1.tau_m=logspace:5,50,4") == ("z1.tau_m", {"logspace": [5, 50], "n": 4})
    assert parse_param("z1.n_units=range:8,32,8") == ("z1.n_units", {"range": [8, 32, 8]})
    assert parse_seeds("0-9") == {"range": [0, 10]} and parse_seeds("3,5") == [3, 5]
    assert parse_combine("random:7") == {"random": 7}
    assert parse_combine("optuna:64,16") == {"optuna": {"trials": 64, "batch": 16}}
    for bad in (lambda: parse_param("W1.eta"), lambda: parse_seeds("9-2"),
                lambda: parse_combine("gird")):
        with pytest.raises(NgcspecError):
            bad()


def test_cli_options_errors_name_the_options(capsys, monkeypatch, tmp_path):
    from ngcspec.cli.app import main

    f = tmp_path / "c.yaml"
    f.write_text(CIRCUIT)
    monkeypatch.setattr(sys, "argv", ["ngc", "sweep", str(f), "--param", "W1.etta=1"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    text = capsys.readouterr().err
    assert "<sweep options>" in text and "did you mean 'eta'" in text and "Traceback" not in text


# ---------------------------------------------------------------------------------------------
# tables


def test_combination_table_mean_std_and_order():
    from ngcspec.sweepdir import combination_table

    rows = [{"a": 1.0, "seed": 0, "t.acc": 0.5}, {"a": 1.0, "seed": 1, "t.acc": 0.7},
            {"a": 2.0, "seed": 0, "t.acc": 0.9}, {"a": 2.0, "seed": 1, "t.acc": 0.8},
            {"a": 3.0, "seed": 0, "t.acc": 0.99}, {"a": 3.0, "seed": 1, "t.acc": math.nan}]
    table = combination_table(rows, ["a"], ("t.acc", "max"),
                              finite=[True, True, True, True, True, False])
    assert [e["values"]["a"] for e in table] == [2.0, 1.0, 3.0]       # non-finite last
    mean, std = table[0]["metrics"]["t.acc"]
    assert mean == pytest.approx(0.85) and std == pytest.approx(math.sqrt(0.005))
    low = combination_table(rows[:4], ["a"], ("t.acc", "min"))
    assert [e["values"]["a"] for e in low] == [1.0, 2.0]


# ---------------------------------------------------------------------------------------------
# running: chunks, directories, kills


@pytest.fixture(scope="module")
def swept():
    from ngcspec.sweep import run_sweep, with_sweep

    resolved = with_sweep(resolve_file(CIRCUIT), params={"W1.eta": [0.001, 0.01, 0.03]},
                          seeds=[0, 1])
    return resolved, run_sweep(resolved)


def test_chunked_and_unchunked_studies_give_identical_tables(swept):
    from ngcspec.sweep import run_sweep

    resolved, whole = swept
    chunked = run_sweep(resolved, members_per_call=4)
    assert [g.chunks for g in chunked.groups] == [2] and chunked.groups[0].chunk_size == 3
    assert whole.groups[0].chunks == 1 and whole.groups[0].chosen_by == "all fit"
    assert chunked.rows() == whole.rows()
    for a, b in zip(chunked.states, whole.states):
        np.testing.assert_array_equal(a["W1"]["weights"], b["W1"]["weights"])


def test_sweep_directory_round_trip(swept, tmp_path):
    from ngcspec.sweepdir import write_sweep

    resolved, result = swept
    path = write_sweep(result, resolved, tmp_path)
    back = ngcspec.load_sweep(path)
    assert back.rows == result.rows()
    header = (path / "members.csv").read_text().splitlines()[0]
    assert header == "W1.eta,seed,train.acc,train.energy"
    doc = json.loads((path / "members.json").read_text())
    assert len(doc["members"][0]["history"]["train"]) == 2          # per-epoch history
    best = result.best()
    assert back.summary["best"]["index"] == best
    np.testing.assert_array_equal(back.best_state["W1"]["weights"],
                                  result.states[best]["W1"]["weights"])
    assert back.table()[0]["metrics"]["train.acc"][0] == max(
        e["metrics"]["train.acc"][0] for e in back.table())


def test_an_interrupted_write_leaves_no_sweep_directory(swept, tmp_path, monkeypatch):
    from ngcspec import sweepdir

    resolved, result = swept

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweepdir, "_save_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweepdir.write_sweep(result, resolved, tmp_path)
    assert list((tmp_path / "sweep-test").iterdir()) == []


@pytest.mark.slow
def test_a_killed_sweep_leaves_no_sweep_directory(tmp_path):
    import os
    import signal
    import subprocess

    f = tmp_path / "c.yaml"
    f.write_text(CIRCUIT.replace("epochs: 2", "epochs: 100000"))
    proc = subprocess.Popen([sys.executable, "-c", "from ngcspec.cli.app import main; main()",
                             "sweep", str(f), "--out",
                             str(tmp_path / "out"), "--param", "W1.eta=0.001,0.01"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:            # mid-study: compiled, running epochs
        if line.startswith("epoch 3/"):
            break
    assert line.startswith("epoch 3/"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    out = tmp_path / "out" / "sweep-test"
    assert not out.exists() or [p for p in out.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.slow
def test_circuit_sweep_and_structural_groups():
    circuit = ngcspec.load(CIRCUIT)
    result = circuit.sweep(params={"W1.eta": [0.01], "W1.optim_type": ["sgd", "adam"]},
                           epochs=1)
    assert len(result.groups) == 2 and [g.structural for g in result.groups] == \
        [{"W1.optim_type": "sgd"}, {"W1.optim_type": "adam"}]
    solo = ngcspec.load(CIRCUIT, overrides={"W1.optim_type": "adam", "W1.eta": 0.01}).run(epochs=1)
    assert result.final_metrics(1)["train.acc"] == solo.metrics["train"][-1]["acc"]


def test_optuna_without_the_extra_names_it(monkeypatch):
    from ngcspec.search import MissingExtra, run_optuna
    from ngcspec.sweep import with_sweep

    resolved = with_sweep(resolve_file(CIRCUIT), params={"W1.eta": {"logspace": [1e-3, 1e-1],
                                                                    "n": 3}},
                          combine={"optuna": {"trials": 2, "batch": 2}})
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingExtra, match=r'pip install -e "\.\[search\]"'):
        run_optuna(resolved)


@pytest.mark.slow
def test_optuna_search_runs_batches_of_vmapped_trials():
    pytest.importorskip("optuna")
    from ngcspec.sweep import run_study, with_sweep

    resolved = with_sweep(resolve_file(CIRCUIT), params={"W1.eta": {"logspace": [1e-3, 1e-1],
                                                                    "n": 3}},
                          seeds=[0, 1], combine={"optuna": {"trials": 4, "batch": 2}})
    result = run_study(resolved, epochs=1)
    assert len(result.members) == 8 and result.timings["batches"] == 2
    etas = [m.values["W1.eta"] for m in result.members]
    assert all(1e-3 <= e <= 1e-1 for e in etas) and etas[0] == etas[1]   # a trial's seeds
    circuit = ngcspec.load(CIRCUIT)
    solo = circuit.with_params(**{"W1.eta": etas[2]}).run(epochs=1, seed=0)
    assert result.final_metrics(2)["train.acc"] == solo.metrics["train"][-1]["acc"]


# ---------------------------------------------------------------------------------------------
# members side by side on a CPU's cores


def test_one_cpu_device_per_core_is_asked_for_only_before_jax_and_when_unset(monkeypatch):
    import os

    from ngcspec.cli.devices import cpu_devices_per_core

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setitem(sys.modules, "jax", sys.modules.get("jax", object()))
    assert cpu_devices_per_core() == 0                  # JAX may have started a backend
    monkeypatch.delitem(sys.modules, "jax")
    assert cpu_devices_per_core() == 3
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=3"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false "
                                    "--xla_force_host_platform_device_count=1")
    assert cpu_devices_per_core() == 0                  # the user's count stands
    assert os.environ["XLA_FLAGS"].endswith("device_count=1")
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert cpu_devices_per_core() == 0 and "XLA_FLAGS" not in os.environ


@pytest.mark.slow
def test_ngc_sweep_spreads_members_over_cores_with_the_numbers_of_one_device(tmp_path):
    import csv
    import os
    import subprocess

    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("needs two cores")
    f = tmp_path / "c.yaml"
    f.write_text(CIRCUIT)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}

    def sweep(out, *extra):
        subprocess.run([sys.executable, "-c", "from ngcspec.cli.app import main; main()",
                        "sweep", str(f), "--out", str(out), "--no-progress", "--seeds", "0,1",
                        "--param", "W1.eta=0.001,0.01", *extra], check=True, env=env,
                       capture_output=True, text=True)
        (run,) = (out / "sweep-test").iterdir()
        with open(run / "members.csv") as fh:
            rows = list(csv.DictReader(fh))
        return json.loads((run / "summary.json").read_text()), rows

    spread, rows = sweep(tmp_path / "a")
    single, rows1 = sweep(tmp_path / "b", "--devices", "1")
    assert spread["shard"] == "members" and len(spread["devices"]) == min(cores, 4)
    assert len(single["devices"]) == 1
    assert [(r["W1.eta"], r["seed"]) for r in rows] == [(r["W1.eta"], r["seed"]) for r in rows1]
    for r, r1 in zip(rows, rows1):
        for k in ("train.acc", "train.energy"):
            assert math.isclose(float(r[k]), float(r1[k]), rel_tol=1e-6, abs_tol=1e-7), (k, r, r1)
