"""One circuit over two processes on this machine (ngcspec.distributed), each with two CPU devices.

Two ``ngc run`` processes joined through a coordinator on a free localhost port (CPU
collectives over gloo) form one mesh of four devices, so they must give the numbers of one
process with four devices: the PC classifier batch-sharded over four devices, the same
program partitioned the same way. Only process 0 writes a run directory; a failure of the
other process is reported by process 0, which writes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ngcspec import distributed
from ngcspec.distributed import DistributedError, cluster_in_environment, free_port, worker_env

ROOT = Path(__file__).resolve().parents[1]
PC = ROOT / "circuits" / "pc_digits_classifier.yaml"
TIMEOUT = 300       # each process; a hung collective fails the test instead of the suite


def _ngc(args, n_devices):
    return subprocess.Popen([sys.executable, "-m", "ngcspec.cli.app", "run", *args],
                            env=worker_env(n_devices), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _two_processes(files, out: Path, extra=()):
    port = free_port()
    procs = [_ngc([str(files[i]), "--epochs", "1", "--no-progress", "--out", str(out),
                   "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                   "--process-id", str(i), *extra], 2) for i in (0, 1)]
    results = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        results.append((p.returncode, o, e))
    return results


def _run_dir(out: Path) -> Path:
    dirs = [p.parent for p in out.rglob("summary.json")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _checkpoint(run: Path) -> dict:
    with np.load(run / "checkpoint.npz", allow_pickle=False) as z:
        return dict(z)


@pytest.mark.slow
def test_two_processes_give_the_numbers_of_one_process_with_four_devices(tmp_path):
    (rc0, out0, err0), (rc1, _, err1) = _two_processes([PC, PC], tmp_path / "two")
    assert rc0 == 0, err0[-2000:]
    assert rc1 == 0, err1[-2000:]
    assert "process 1: done" in err1
    assert "2 processes" in out0
    two = _run_dir(tmp_path / "two")                      # process 0 alone wrote one
    summary = json.loads((two / "summary.json").read_text())
    assert summary["process_count"] == 2 and len(summary["devices"]) == 4

    one = subprocess.run([sys.executable, "-m", "ngcspec.cli.app", "run", str(PC), "--epochs",
                          "1", "--no-progress", "--devices", "4", "--out", str(tmp_path / "one")],
                         env=worker_env(4), capture_output=True, text=True, timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr[-2000:]
    ref = _run_dir(tmp_path / "one")
    a, b = _checkpoint(two), _checkpoint(ref)
    assert set(a) == set(b)
    for key in a:       # the same partitioned program: equal to float rounding at most
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6, err_msg=key)
    ref_summary = json.loads((ref / "summary.json").read_text())
    assert summary["final_metrics"]["test"] == ref_summary["final_metrics"]["test"]
    for k, v in ref_summary["final_metrics"]["train"].items():
        assert summary["final_metrics"]["train"][k] == pytest.approx(v, rel=1e-6)


@pytest.mark.slow
def test_process_zero_reports_the_other_process_failure_and_writes_nothing(tmp_path):
    missing = tmp_path / "elsewhere.yaml"
    (rc0, _, err0), (rc1, _, err1) = _two_processes([PC, missing], tmp_path / "runs")
    assert rc0 == 1 and rc1 == 1
    assert "process 1" in err0 and "no such file" in err0 and "Traceback" not in err0
    assert "no such file" in err1
    assert not list((tmp_path / "runs").rglob("summary.json"))


def test_options_are_checked_before_joining():
    with pytest.raises(DistributedError, match="HOST:PORT"):
        distributed.initialize("localhost", 2, 0)
    with pytest.raises(DistributedError, match="0 to 1"):
        distributed.initialize("127.0.0.1:1234", 2, 5)
    with pytest.raises(DistributedError, match="at least 1"):
        distributed.initialize("127.0.0.1:1234", 0, 0)


def test_a_cluster_of_several_tasks_is_recognised(monkeypatch):
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "node[01-02]", "SLURM_NTASKS": "2",
             "SLURM_PROCID": "1", "SLURM_LOCALID": "0"}
    for k, v in slurm.items():
        monkeypatch.setenv(k, v)
    assert cluster_in_environment()
    monkeypatch.setenv("SLURM_NTASKS", "1")          # a one-task job runs alone
    assert not cluster_in_environment()
