"""Continuing a run: the same circuit, the same key stream, the history carried over.

A run of N epochs and a run of k epochs resumed for N - k more give the same checkpoint,
records and metrics, bit for bit. Three things make that hold:

- the state is restored exactly (every compartment, batch axis included), and it is the
  state the next epoch starts from: phases forced at the last epoch of the k-epoch run
  (``every:`` phases) ran on a branch whose end state is kept apart (``end_state.npz``);
- the epochs are numbered on (keys and shuffles are drawn from ``(seed, epoch, phase)``)
  and the run's own seed is kept;
- the resumed run's history is the earlier one without what those forced phases added,
  followed by the new epochs.

"The same circuit" is decided by content, never by path: the components (kind, shapes,
structural facts, non-numeric parameters), wires, order, phases (data, clamps, schedule,
metrics, records, ``every``) and dtype. Numeric parameters and ``run.epochs`` may change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ngcspec.errors import RunError
from ngcspec.schedule import as_tuples

_FINAL_MODES = ("final",)           # one value per run: the latest replaces the earlier
_FIRST_MODES = ("initial",)         # one value per run: the earliest is kept
_ROW_MODES = ("spike_times",)       # rows of events whose first column is the epoch


def fingerprint(resolved) -> dict[str, str]:
    """A short digest per part of the circuit that a resumed run must share."""
    comps = {}
    for name, rc in resolved.components.items():
        comps[name] = {
            "kind": rc.kind.kind,
            "shapes": {k: list(v) for k, v in sorted(rc.shapes.items())},
            "structure": repr(rc.kind.structure(rc.params)),
            "settings": _non_numeric(rc.params.model_dump()),
            "tie": None if rc.tie is None else rc.tie.model_dump(),
            "normalize": None if rc.normalize is None else rc.normalize.model_dump(),
        }
    wires = [[w.src, w.src_comp, w.dst, w.dst_comp, w.delayed, w.scale is None]
             for w in resolved.wires]
    phases = {}
    for name, ph in resolved.phases.items():
        phases[name] = {
            "data": None if ph.data is None else [ph.data.name, ph.data.n, ph.data.batch_size,
                                                  ph.data.shuffle],
            "clamps": [[c.component, c.compartment, c.source, c.field] for c in ph.clamps],
            "schedule": repr(as_tuples(ph.schedule)),   # the form older runs were written with
            "metrics": {k: list(v) for k, v in ph.metrics.items()},
            "record": sorted(f"{c}.{p}:{m}" for (c, p), m in ph.record.items()),
            "every": ph.every, "batches": ph.batches, "batch_size": ph.batch_size,
        }
    parts = {"components": comps, "wires": wires, "order": list(resolved.order),
             "phases": phases, "dtype": resolved.spec.dtype}
    return {k: _digest(v) for k, v in parts.items()}


def _non_numeric(node: Any) -> Any:
    """Parameters with every number left out (numbers may change between resumed runs)."""
    if isinstance(node, dict):
        return {k: _non_numeric(v) for k, v in sorted(node.items())}
    if isinstance(node, (list, tuple)):
        return [_non_numeric(v) for v in node]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return "#"
    return node


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Parts whose fingerprints differ."""
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def resume(circuit, run, epochs: int | None = None, listener=None, seed: int | None = None):
    """Continue ``run`` (a run directory or :class:`~ngcspec.rundir.RunData`) for ``epochs``
    more epochs (default ``run.epochs`` of the circuit). Returns a RunResult holding the
    whole history, as one run of all the epochs would."""
    from ngcspec.rundir import RunData, load_run

    data: RunData = run if isinstance(run, RunData) else load_run(run)
    if data.resolved is None:
        data = load_run(data.path)
    before = fingerprint(data.resolved)
    diffs = differences(before, fingerprint(circuit.resolved))
    if diffs:
        raise RunError(
            f"--resume: {circuit.resolved.file} is not the circuit of the run {data.path} "
            f"(which ran {data.summary.get('source', 'circuit.yaml')}); they differ in their "
            f"{', '.join(diffs)}. A resumed run continues the same circuit (numbers and "
            "run.epochs may change). Start a new run from its weights with "
            "--resume-weights-only, or resume it with the circuit saved in the run: "
            f"ngc run {data.path / 'circuit.yaml'} --resume {data.path}")
    run_seed = int(data.summary.get("seed", circuit.resolved.spec.seed))
    if seed is not None and seed != run_seed:
        raise RunError(f"--seed {seed} with --resume: a resumed run continues the key stream "
                       f"of its own seed ({run_seed}) so that it equals one longer run; leave "
                       "--seed out, or start a new run from the weights with "
                       "--resume-weights-only")
    start = int(data.summary.get("epochs", 0))
    dtype = circuit.program.dtype
    state = data.state                  # numpy arrays: the program takes them as they are
    for c, comp in state.items():
        for p, v in comp.items():
            if v.dtype.kind == "f" and str(v.dtype) != dtype:
                raise RunError(f"--resume: {c}.{p} is {v.dtype} in the run, the circuit "
                               f"computes in {dtype}")
    result = circuit.run(epochs=epochs, seed=run_seed, state=state, listener=listener,
                         start_epoch=start)
    return merge_history(data, result, circuit.resolved)


def merge_history(earlier, result, resolved):
    """``result`` (a resumed call) with ``earlier``'s history in front of its own, minus
    what phases forced at the end of the earlier run added."""
    prev_epochs = earlier.summary.get("phase_epochs") or {}
    prev_forced = earlier.summary.get("forced") or {}
    keep = {ph: [i for i, e in enumerate(eps) if e not in prev_forced.get(ph, [])]
            for ph, eps in prev_epochs.items()}
    metrics = {}
    for ph, hist in result.metrics.items():
        old = earlier.metrics.get(ph, [])
        idx = keep.get(ph, range(len(old)))
        metrics[ph] = [old[i] for i in idx if i < len(old)] + list(hist)
    phase_epochs = {ph: [prev_epochs.get(ph, [])[i] for i in keep.get(ph, [])] + eps
                    for ph, eps in result.phase_epochs.items()}
    modes = {f"{p}/{c}.{part}": m for p, ph in resolved.phases.items()
             for (c, part), m in ph.record.items()}
    records = dict(result.records)
    for key, old in earlier.records.items():
        mode = modes.get(key)
        ph = key.split("/", 1)[0]
        new = result.records.get(key)
        if mode in _FIRST_MODES or new is None:
            records[key] = old
        elif mode in _FINAL_MODES:
            continue
        elif mode in _ROW_MODES:        # one row per event, the epoch in column 0
            dropped = np.isin(np.asarray(old)[:, 0], prev_forced.get(ph, []))
            records[key] = np.concatenate([np.asarray(old)[~dropped], np.asarray(new)])
        elif np.ndim(old) and len(old) == len(prev_epochs.get(ph, [])):
            kept = np.asarray(old)[keep.get(ph, [])]
            records[key] = np.concatenate([kept, np.asarray(new)]) if len(kept) else new
        else:
            raise RunError(f"--resume: cannot join the record {key} of {earlier.path} "
                           f"(shape {np.shape(old)}) with this run's")
    return dataclasses.replace(result, metrics=metrics, records=records,
                               phase_epochs=phase_epochs, forced=result.forced)


def resume_weights_only(circuit, run, epochs: int | None = None, listener=None,
                        seed: int | None = None):
    """A new run of ``circuit`` that starts from the weights (persistent compartments) of
    ``run``, which may be a run of another circuit with the same compartment shapes."""
    from ngcspec.rundir import RunData, load_checkpoint_into, load_run

    data: RunData = run if isinstance(run, RunData) else load_run(Path(run))
    state = load_checkpoint_into(circuit.init_state(seed=seed), data, circuit.program)
    return circuit.run(epochs=epochs, seed=seed, state=state, listener=listener)
