"""A phase's clamps: unwired inputs held at data, a number, an array or a stimulus.

One function per kind of clamp value, each returning the resolved clamp or None after
reporting why the value cannot set its target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ngcspec.checks.collector import Collector
from ngcspec.checks.refs import compartment_ref
from ngcspec.checks.schedule import max_steps_between_resets
from ngcspec.checks.values import broadcastable, file_array, numeric_list
from ngcspec.errors import one_of, suggest
from ngcspec.loader import Loader
from ngcspec.resolved import ResolvedClamp, ResolvedData
from ngcspec.spec import REF_RE, ConstantClamp, FileClamp, StimulusClamp


class _Target(NamedTuple):      # NamedTuples: far quicker to create at import than dataclasses
    """The compartment a clamp sets."""
    ref: str                      # as written
    component: str
    compartment: str
    shape: tuple[int, ...]        # per sample
    batched: bool


class _PhaseInputs(NamedTuple):
    """What the clamps of one phase can read."""
    data_names: Any               # every data source of the file
    data_name: str | None         # the phase's data source
    data: ResolvedData | None     # ... once loaded (None when it could not be)
    max_steps: int                # steps the schedule advances between resets
    loader: Loader


def check_clamps(col: Collector, path: tuple, clamps_spec: dict, comps, wired: dict,
                 data_names, data_name: str | None, rdata: ResolvedData | None, schedule,
                 loader: Loader) -> list[ResolvedClamp]:
    """The clamps of a phase whose targets are unwired inputs and whose values fit them.
    ``wired``: (component, compartment) -> the wire that drives it; ``schedule``: the
    phase's schedule as written in the file."""
    inputs = _PhaseInputs(data_names, data_name, rdata, max_steps_between_resets(schedule or []),
                          loader)
    out = []
    for ref, value in clamps_spec.items():
        p = path + (ref,)
        target = _target(col, p, ref, comps, wired)
        check = _check_for(value)
        clamp = check(col, p, target, value, inputs) if target is not None and check else None
        if clamp is not None:
            out.append(clamp)
    return out


def _target(col: Collector, p: tuple, ref: str, comps, wired: dict) -> _Target | None:
    r = compartment_ref(col, p, ref, comps, roles=("input",), what="clamp target")
    if r is None:
        return None
    if r in wired:
        w = wired[r]
        col.fail(p, f"{ref} is driven by wire #{w.index} '{w}'; only unwired inputs can be clamped",
                 "remove the wire or clamp another compartment")
        return None
    comp = comps[r[0]]
    return _Target(ref, r[0], r[1], tuple(comp.shapes[r[1]]), comp.kind.compartments[r[1]].batched)


def _check_for(value) -> Callable | None:
    if isinstance(value, str):
        return _data_clamp
    if isinstance(value, (int, float)):
        return _number_clamp
    for model, check in ((ConstantClamp, _constant_clamp), (FileClamp, _file_clamp),
                         (StimulusClamp, _stimulus_clamp)):
        if isinstance(value, model):
            return check
    return None


def _data_clamp(col: Collector, p: tuple, t: _Target, value: str,
                inputs: _PhaseInputs) -> ResolvedClamp | None:
    """``data.field``: a field of the phase's data, per sample or as a per-sample stimulus."""
    found = _data_field(col, p, value, inputs)
    if found is None:
        return None
    name, fld, per = found
    if not t.batched:
        col.fail(p, f"{t.ref} has no batch axis; data can only be clamped on batched inputs")
        return None
    if len(per) == len(t.shape) + 1 and tuple(per[1:]) == t.shape and per[0] > 1:
        # (N, T, *shape): a stimulus of its own for every sample, row k at step k
        if per[0] < inputs.max_steps:
            col.fail(p, f"data field '{name}.{fld}' has {per[0]} time steps per sample "
                     f"but the schedule advances {inputs.max_steps} steps between resets",
                     "give longer series or fewer steps")
            return None
        return ResolvedClamp(t.component, t.compartment, "data_stimulus", field=fld)
    if tuple(per) != t.shape and math.prod(per) != math.prod(t.shape):
        col.fail(p, f"data field '{name}.{fld}' is {tuple(per)} per sample but {t.ref} is {t.shape}",
                 "clamp a compartment of matching size")
        return None
    return ResolvedClamp(t.component, t.compartment, "data", field=fld)


def _data_field(col: Collector, p: tuple, value: str, inputs: _PhaseInputs):
    """(data name, field, per-sample shape) of ``data.field`` in the phase's data; None when
    it names other data, or its data could not be loaded (reported there)."""
    m = REF_RE.match(value)
    dname, fld = m.group(1), m.group(2)
    if dname not in inputs.data_names:
        col.fail(p, f"unknown data source '{dname}'", suggest(dname, inputs.data_names) or
                 f"data sources: {one_of(inputs.data_names) or 'none defined'}")
        return None
    if dname != inputs.data_name:
        col.fail(p, f"clamp reads data '{dname}' but this phase runs on "
                 f"{repr(inputs.data_name) if inputs.data_name else 'no data'}",
                 f"use '{inputs.data_name}.{fld}'" if inputs.data_name else "set the phase's 'data'")
        return None
    if inputs.data is None:
        return None
    if fld not in inputs.data.arrays:
        col.fail(p, f"data '{dname}' has no field '{fld}'",
                 suggest(fld, inputs.data.arrays) or f"fields: {one_of(inputs.data.arrays)}")
        return None
    return dname, fld, inputs.data.arrays[fld].shape[1:]


def _number_clamp(col: Collector, p: tuple, t: _Target, value, inputs) -> ResolvedClamp:
    return ResolvedClamp(t.component, t.compartment, "constant", value=np.asarray(float(value)))


def _constant_clamp(col: Collector, p: tuple, t: _Target, value: ConstantClamp,
                    inputs) -> ResolvedClamp | None:
    """``{constant: ...}``: a number or nested list that broadcasts to the target."""
    p = p + ("constant",)
    arr = np.asarray(value.constant, dtype=float) if not isinstance(value.constant, list) \
        else numeric_list(value.constant)
    if arr is None:
        col.fail(p, "constant must be a number or a nested list of numbers",
                 f"a list must be rectangular and fit {t.ref} {t.shape}")
        return None
    if not np.all(np.isfinite(arr)):
        col.fail(p, "constant must hold finite numbers (no .inf or .nan)")
        return None
    if not broadcastable(arr.shape, t.shape):
        col.fail(p, f"constant of shape {arr.shape} does not fit {t.ref} {t.shape}")
        return None
    return ResolvedClamp(t.component, t.compartment, "constant", value=arr)


def _file_clamp(col: Collector, p: tuple, t: _Target, value: FileClamp,
                inputs: _PhaseInputs) -> ResolvedClamp | None:
    """``{file: ...}``: an array that broadcasts to the target, held at every step."""
    arr = file_array(col, inputs.loader, p + ("file",), value)
    if arr is None:
        return None
    if not broadcastable(arr.shape, t.shape):
        col.fail(p + ("file",), f"{value.file} has shape {arr.shape}, which does not fit {t.ref} {t.shape}")
        return None
    return ResolvedClamp(t.component, t.compartment, "constant", value=arr)


def _stimulus_clamp(col: Collector, p: tuple, t: _Target, value: StimulusClamp,
                    inputs: _PhaseInputs) -> ResolvedClamp | None:
    """``{stimulus: ...}``: (T, *shape), row k at step k after a reset."""
    p = p + ("stimulus",)
    arr = file_array(col, inputs.loader, p, value)
    if arr is None:
        return None
    if arr.ndim < 1 or not broadcastable(arr.shape[1:], t.shape):
        col.fail(p, f"{value.stimulus} has shape {arr.shape}; a stimulus is "
                 f"(T, *{t.shape}) with time first")
        return None
    if arr.shape[0] < inputs.max_steps:
        col.fail(p, f"{value.stimulus} has {arr.shape[0]} time steps but the "
                 f"schedule advances {inputs.max_steps} steps between resets",
                 "give a longer stimulus or fewer steps")
        return None
    return ResolvedClamp(t.component, t.compartment, "stimulus", value=arr)
