"""Sweep directories: what ``ngc sweep`` writes and ``ngcspec.load_sweep`` reads back.

    sweeps/<name>/<timestamp>/
        circuit.yaml          the circuit as run, its sweep section included
        sweep.yaml            the sweep resolved: every swept value, the seeds, the members
        members.csv           one row per member: swept parameters as written, seed, then
                              every final metric as phase.metric
        members.json          the same, plus each metric's history per epoch, whether the
                              member stayed finite, and its group
        summary.json          groups and chunks, the report metric, the best member, timings
        best/checkpoint.npz   the best member's final state ("component.compartment")
        members/<i>/records.npz   per-member records (only when asked for)

Assembled under a temporary name and renamed into place (as run directories are), so an
interrupted sweep leaves nothing half-written behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ngcspec.errors import RunError
from ngcspec import rundir

FILES = ("circuit.yaml", "sweep.yaml", "members.csv", "members.json", "summary.json")


def write_sweep(result, resolved, out_root: str | os.PathLike = "sweeps",
                extra: dict | None = None) -> Path:
    """Write a :class:`~ngcspec.sweep.SweepResult` atomically; returns the directory."""
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
        _fill(tmp, result, resolved, extra or {})
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _fill(tmp: Path, result, resolved, extra: dict) -> None:
    rows = result.rows()
    (tmp / "circuit.yaml").write_text(yaml.safe_dump(resolved.raw, sort_keys=False),
                                      encoding="utf-8")
    resolved_sweep = {
        "params": {p.name: list(p.values) for p in result.params},
        "structural": [p.name for p in result.params if not p.numeric],
        "members": [{**m.values, "seed": m.seed} for m in result.members],
    }
    (tmp / "sweep.yaml").write_text(yaml.safe_dump(resolved_sweep, sort_keys=False),
                                    encoding="utf-8")
    (tmp / "members.csv").write_text(rows_to_csv(rows), encoding="utf-8")
    group_of = {i: g.index for g in result.groups for i in g.members}
    members = [{"index": m.index, "values": m.values, "seed": m.seed, "group": group_of[m.index],
                "finite": result.finite[m.index], "final": result.final_metrics(m.index),
                "history": result.metrics[m.index]} for m in result.members]
    report = {"metric": result.report[0], "goal": result.report[1]} if result.report else None
    doc = {"params": [p.name for p in result.params], "report": report, "members": members}
    (tmp / "members.json").write_text(json.dumps(doc, indent=1, default=_jsonable),
                                      encoding="utf-8")
    best = result.best()
    if best is not None:
        (tmp / "best").mkdir()
        _save_npz(tmp / "best" / "checkpoint.npz",
                  {f"{c}.{p}": np.asarray(v) for c, comp in result.states[best].items()
                   for p, v in comp.items()})
    if result.records is not None:
        for m in result.members:
            d = tmp / "members" / str(m.index)
            d.mkdir(parents=True)
            _save_npz(d / "records.npz", {k: np.asarray(v)
                                          for k, v in (result.records[m.index] or {}).items()})
    summary = {
        "name": resolved.spec.name, "source": str(resolved.file), "epochs": result.epochs,
        "dtype": resolved.spec.dtype, "members": len(result.members),
        "params": [p.name for p in result.params], "report": report,
        "best": None if best is None else {"index": best, **rows[best]},
        "nonfinite": [i for i, ok in enumerate(result.finite) if not ok],
        "groups": [{"structural": g.structural, "members": g.members, "chunk_size": g.chunk_size,
                    "chunks": g.chunks, "memory_bytes": g.memory_bytes, "chosen_by": g.chosen_by}
                   for g in result.groups],
        "timings": result.timings, "versions": rundir._versions(), **extra,
    }
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=_jsonable),
                                      encoding="utf-8")


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "circuit"


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# the table: mean and spread over seeds, per combination


def best_member(rows: list[dict], finite: list[bool], report) -> int | None:
    if report is None or not rows:
        return None
    metric, goal = report
    ok = [i for i, r in enumerate(rows) if finite[i] and _num(r.get(metric)) is not None]
    if not ok:
        return None
    sign = 1 if goal == "max" else -1
    return max(ok, key=lambda i: (sign * rows[i][metric], -i))


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def combination_table(rows: list[dict], params: list[str], report,
                      finite: list[bool] | None = None) -> list[dict]:
    """One entry per parameter combination: its values, the seeds it ran, whether every
    member stayed finite, and per metric (mean, sample standard deviation over the seeds, 0
    for one seed); sorted best first by the report metric, combinations with a non-finite
    member or value last."""
    combos: dict[tuple, list[dict]] = {}
    for i, r in enumerate(rows):
        ok = True if finite is None else finite[i]
        combos.setdefault(tuple(repr(r[p]) for p in params), []).append({**r, "_ok": ok})
    metrics = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in params
               and k not in ("seed", "_ok")]
    out = []
    for members in combos.values():
        entry = {"values": {p: members[0][p] for p in params},
                 "seeds": [m["seed"] for m in members],
                 "finite": all(m["_ok"] for m in members), "metrics": {}}
        for k in metrics:
            vals = np.array([m.get(k, np.nan) for m in members], float)
            with np.errstate(invalid="ignore"):
                std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            entry["metrics"][k] = (float(np.mean(vals)), std)
        out.append(entry)
    if report is not None:
        metric, goal = report
        sign = -1 if goal == "max" else 1

        def key(e):
            mean = e["metrics"].get(metric, (math.nan, 0))[0]
            good = e["finite"] and math.isfinite(mean)
            return (not good, sign * mean if good else 0)
        out.sort(key=key)
    return out


# ---------------------------------------------------------------------------------------------
# reading back


@dataclass
class SweepData:
    """A sweep directory read back."""

    path: Path
    summary: dict[str, Any]
    members: list[dict[str, Any]]        # members.json's entries
    rows: list[dict[str, Any]]           # members.csv's rows, numbers as numbers
    best_state: dict[str, dict[str, np.ndarray]] | None
    circuit_yaml: str

    @property
    def params(self) -> list[str]:
        return list(self.summary.get("params", []))

    @property
    def report(self) -> tuple[str, str] | None:
        r = self.summary.get("report")
        return (r["metric"], r["goal"]) if r else None

    def table(self) -> list[dict]:
        """Mean and spread over seeds per combination (see :func:`combination_table`)."""
        finite = [m.get("finite", True) for m in self.members]
        return combination_table(self.rows, self.params, self.report, finite)

    def records(self, index: int) -> dict[str, np.ndarray]:
        """A member's records (written only with ``--records``)."""
        f = self.path / "members" / str(index) / "records.npz"
        if not f.is_file():
            raise RunError(f"{self.path} holds no records of member {index} (run the sweep "
                           "with --records to keep them)")
        with np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def load_sweep(sweep_dir: str | os.PathLike) -> SweepData:
    """Read a sweep directory written by ``ngc sweep`` or :func:`write_sweep`."""
    path = Path(sweep_dir)
    missing = [f for f in FILES if not (path / f).is_file()]
    if not path.is_dir() or missing:
        raise RunError(f"{path} is not a complete sweep directory"
                       + (f" (missing {', '.join(missing)})" if path.is_dir() else ""))
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        members = json.loads((path / "members.json").read_text(encoding="utf-8"))["members"]
        with open(path / "members.csv", encoding="utf-8", newline="") as fh:
            rows = [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        best = None
        if (path / "best" / "checkpoint.npz").is_file():
            with np.load(path / "best" / "checkpoint.npz", allow_pickle=False) as z:
                best = {}
                for k in z.files:
                    comp, _, part = k.partition(".")
                    best.setdefault(comp, {})[part] = z[k]
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"cannot read sweep directory {path}: {exc}") from None
    text = (path / "circuit.yaml").read_text(encoding="utf-8")
    return SweepData(path, summary, members, rows, best, text)


def _parse(text: str):
    """A CSV cell back to the value written (int, float, bool, empty as None; else text)."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "": None}.get(text, text)
