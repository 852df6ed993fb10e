"""Run directories: what ``ngc run`` writes and ``ngcspec.load_run`` reads back.

    runs/<name>/<timestamp>/
        circuit.yaml     the circuit as run (overrides applied)
        records.npz      recorded arrays, "phase/component.compartment"
        checkpoint.npz   final state, "component.compartment" (read by --resume)
        summary.json     metrics per epoch, final metrics, timings, versions, seed, order

The directory is assembled under a temporary name and renamed into place when complete, so
an interrupted run never leaves a half-written result; existing runs are never overwritten.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ngcspec import native
from ngcspec.errors import NgcspecError, RunError


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def write_run(result, resolved, out_root: str | os.PathLike = "runs", extra: dict | None = None) -> Path:
    """Write a :class:`~ngcspec.circuit.RunResult` atomically; returns the directory."""
    root = Path(out_root) / _safe(resolved.spec.name)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    final = root / stamp
    n = 1
    while final.exists():
        final = root / f"{stamp}-{n}"
        n += 1
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        (tmp / "circuit.yaml").write_text(
            yaml.safe_dump(resolved.raw, sort_keys=False), encoding="utf-8")
        _save_npz(tmp / "records.npz", {k: np.asarray(v) for k, v in result.records.items()})
        _save_npz(tmp / "checkpoint.npz", {f"{c}.{p}": np.asarray(v)
                                           for c, comp in result.state.items() for p, v in comp.items()})
        summary = {
            "name": resolved.spec.name,
            "source": str(resolved.file),
            "seed": result.seed,
            "epochs": result.epochs,
            "dtype": resolved.spec.dtype,
            "order": list(resolved.order),
            "metrics": result.metrics,
            "final_metrics": result.final_metrics(),
            "timings": result.timings,
            "records": {k: list(np.shape(v)) for k, v in result.records.items()},
            "versions": _versions(),
            **(extra or {}),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "circuit"


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("ngcspec", "jax", "jaxlib", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    out["native_kernels"] = native.status(load=False)
    if hasattr(os, "sched_getaffinity"):
        out["cpus"] = len(os.sched_getaffinity(0))      # the cores this process ran on
    return out


@dataclass
class RunData:
    """A run read back from disk."""

    path: Path
    summary: dict[str, Any]
    records: dict[str, np.ndarray]
    state: dict[str, dict[str, np.ndarray]]
    circuit_yaml: str

    @property
    def metrics(self) -> dict:
        return self.summary.get("metrics", {})


def load_run(run_dir: str | os.PathLike, check: bool = True) -> RunData:
    """Read a run directory; with ``check``, shapes and dtypes are checked against its circuit."""
    path = Path(run_dir)
    missing = [f for f in ("circuit.yaml", "records.npz", "checkpoint.npz", "summary.json")
               if not (path / f).is_file()]
    if not path.is_dir() or missing:
        raise RunError(f"{path} is not a complete run directory"
                       + (f" (missing {', '.join(missing)})" if path.is_dir() else ""))
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        with np.load(path / "records.npz", allow_pickle=False) as z:
            records = {k: z[k] for k in z.files}
        with np.load(path / "checkpoint.npz", allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read run directory {path}: {exc}") from None
    state: dict[str, dict[str, np.ndarray]] = {}
    for k, v in flat.items():
        comp, _, part = k.partition(".")
        state.setdefault(comp, {})[part] = v
    text = (path / "circuit.yaml").read_text(encoding="utf-8")
    if check:
        check_state(state, text, path)
    return RunData(path, summary, records, state, text)


def check_state(state: dict, circuit_text: str, where: Path) -> None:
    """Compare a checkpoint with the compartments its circuit declares."""
    from ngcspec.resolve import resolve
    from ngcspec.yamlsrc import load_yaml

    try:
        resolved = resolve(load_yaml(circuit_text, str(where / "circuit.yaml")), where)
    except NgcspecError as exc:
        raise RunError(f"the circuit saved in {where} no longer validates:\n{exc}") from None
    problems = []
    float_dtype = np.dtype(resolved.spec.dtype)
    for name, rc in resolved.components.items():
        if name not in state:
            problems.append(f"{name}: missing from the checkpoint")
            continue
        for cname, c in rc.kind.compartments.items():
            arr = state[name].get(cname)
            if arr is None:
                problems.append(f"{name}.{cname}: missing from the checkpoint")
                continue
            want = tuple(rc.shapes[cname])
            got = arr.shape[1:] if c.batched else arr.shape
            if tuple(got) != want:
                problems.append(f"{name}.{cname}: shape {arr.shape}, expected "
                                f"{'(batch, ' + ', '.join(map(str, want)) + ')' if c.batched else want}")
            expected_dtype = np.dtype("int32") if c.integer else float_dtype
            if arr.dtype != expected_dtype:
                problems.append(f"{name}.{cname}: dtype {arr.dtype}, expected {expected_dtype}")
    if problems:
        raise RunError(f"checkpoint in {where} does not match its circuit:\n  " + "\n  ".join(problems))


def load_checkpoint_into(state: dict, run: RunData, program) -> dict:
    """Persistent compartments (weights, optimiser state) of a run, for ``--resume``."""
    out = {}
    for name, comp in state.items():
        s = dict(comp)
        kind = program.comps[name].kind
        for cname, c in kind.compartments.items():
            if c.persistent and name in run.state and cname in run.state[name]:
                arr = run.state[name][cname]
                if arr.shape != tuple(s[cname].shape) and not c.batched:
                    raise RunError(f"--resume: {name}.{cname} has shape {arr.shape} in the run, "
                                   f"{tuple(s[cname].shape)} in the circuit")
                s[cname] = arr if not c.batched else np.broadcast_to(arr.mean(0, keepdims=True),
                                                                     s[cname].shape).astype(arr.dtype)
        out[name] = s
    return out


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
