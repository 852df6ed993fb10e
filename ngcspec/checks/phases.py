"""Data sources and phases: what each phase reads, sets, runs, measures and records."""

from __future__ import annotations

import math

import numpy as np

from ngcspec.checks.clamps import check_clamps
from ngcspec.checks.collector import Collector
from ngcspec.checks.refs import compartment_ref
from ngcspec.checks.schedule import check_schedule
from ngcspec.errors import NgcspecError, one_of, suggest
from ngcspec.loader import Loader
from ngcspec.resolved import ResolvedData, ResolvedPhase, ResolvedWire
from ngcspec.schedule import RepeatOp, flatten
from ngcspec.spec import AccuracyMetric, CircuitSpec, MeanMetric, Phase


def check_phases(col: Collector, spec: CircuitSpec, comps, wires: list[ResolvedWire],
                 loader: Loader) -> dict[str, ResolvedPhase]:
    """Every phase that checks out, by name; a file without ``phases`` has one, ``run``,
    on its only data source (if any) with the top-level clamps, schedule and records."""
    data = {}
    for dname, ds in spec.data.items():
        rd = data_source(col, loader, ("data", dname), dname, ds)
        if rd is not None:
            data[dname] = rd
    if spec.phases:
        items = [(n, p, ("phases", n)) for n, p in spec.phases.items()]
    else:
        if len(spec.data) > 1:
            col.fail(("data",), "with more than one data source, name each phase's data",
                     "add 'phases: {train: {data: ...}, test: {data: ...}}'")
        only = next(iter(spec.data)) if len(spec.data) == 1 else None
        items = [("run", Phase(data=only), ())]
    wired = {(w.dst, w.dst_comp): w for w in wires}
    return {pname: _phase(col, spec, comps, wired, data, loader, pname, ph, path)
            for pname, ph, path in items}


def _phase(col: Collector, spec: CircuitSpec, comps, wired, data, loader: Loader,
           pname: str, ph: Phase, path: tuple) -> ResolvedPhase:
    rdata = None
    if ph.data is not None:
        if ph.data not in spec.data:
            col.fail(path + ("data",), f"unknown data source '{ph.data}'",
                     suggest(ph.data, spec.data) or f"data sources: {one_of(spec.data) or 'none defined'}")
        else:
            rdata = data.get(ph.data)
    # a phase without its own clamps, schedule or records uses the file's (located there)
    clamps_spec = ph.clamps if ph.clamps is not None else spec.clamps
    cpath = path + ("clamps",) if ph.clamps is not None else ("clamps",)
    schedule = ph.schedule if ph.schedule is not None else spec.schedule
    spath = path + ("schedule",) if ph.schedule is not None else ("schedule",)
    clamps = check_clamps(col, cpath, clamps_spec, comps, wired, spec.data, ph.data, rdata,
                          schedule, loader)
    sched = check_schedule(col, spath, schedule, comps)
    metrics, units = _metrics(col, comps, ph, path, rdata)
    record = _record(col, spec, comps, ph, path, sched)
    return ResolvedPhase(pname, rdata, tuple(clamps), sched, metrics, record,
                         ph.every, ph.batches, ph.batch_size, units)


def data_source(col: Collector, loader: Loader, path: tuple, name: str, ds) -> ResolvedData | None:
    """A data source loaded and checked: finite numbers, at least one batch of samples."""
    try:
        arrays = loader.data_source(ds)
    except NgcspecError as exc:
        col.fail(path + (("dataset",) if ds.dataset else ("file",)),
                 getattr(exc, "message", str(exc)), getattr(exc, "hint", ""))
        return None
    if ds.limit is not None:
        arrays = {k: v[: ds.limit] for k, v in arrays.items()}
    n = len(next(iter(arrays.values())))
    for k, v in arrays.items():
        if v.dtype.kind in "f" and not np.all(np.isfinite(v)):
            col.fail(path, f"field '{k}' of data '{name}' contains NaN or Inf values")
            return None
    if ds.batch_size > n:
        col.fail(path + ("batch_size",), f"batch_size {ds.batch_size} is larger than the "
                 f"{n} samples of data '{name}'", f"use at most {n}")
        return None
    return ResolvedData(name, arrays, ds.batch_size, ds.shuffle)


# ---------------------------------------------------------------------------------------------
# metrics and records


def _metrics(col: Collector, comps, ph: Phase, path: tuple, rdata: ResolvedData | None):
    """name -> (mean|accuracy, component, compartment), and for mean metrics name -> (unit,
    scale)."""
    metrics, units = {}, {}
    for mname, m in ph.metrics.items():
        mp = path + ("metrics", mname)
        what = "mean" if isinstance(m, MeanMetric) else "accuracy"
        ref = m.mean if isinstance(m, MeanMetric) else m.accuracy
        r = compartment_ref(col, mp + (what,), ref, comps)
        if r is None:
            continue
        if isinstance(m, MeanMetric) and not _unit_exists(col, mp, m, ref, comps[r[0]].shapes[r[1]]):
            continue
        if isinstance(m, AccuracyMetric) and not _can_score(col, mp, ref, comps[r[0]], r[1], ph, rdata):
            continue
        metrics[mname] = (what, *r)
        if isinstance(m, MeanMetric):
            units[mname] = (m.unit, m.scale)
    return metrics, units


def _unit_exists(col: Collector, mp: tuple, m: MeanMetric, ref: str, shape) -> bool:
    if m.unit is None:
        return True
    n_units = math.prod(shape)
    if m.unit >= n_units:
        col.fail(mp + ("unit",), f"{ref} has {n_units} unit(s) per sample, so "
                 f"there is no unit {m.unit}", f"give a unit from 0 to {n_units - 1}")
        return False
    return True


def _can_score(col: Collector, mp: tuple, ref: str, c, part: str, ph: Phase,
               rdata: ResolvedData | None) -> bool:
    """Accuracy needs a batched compartment, labelled data and a unit per label (a label
    beyond the units is reported without dropping the metric)."""
    if not c.kind.compartments[part].batched:
        col.fail(mp, f"{ref} has no batch axis, so it has no per-sample prediction")
        return False
    if rdata is not None and "label" not in rdata.arrays:
        col.fail(mp, f"accuracy needs integer labels, and data '{ph.data}' has none",
                 "use a classification data set or give 'label' in the data source")
        return False
    if ph.data is None:
        col.fail(mp, "accuracy needs a data source with labels", "set the phase's 'data'")
        return False
    if rdata is not None:
        n_cls = int(rdata.arrays["label"].max()) + 1
        if c.shapes[part][-1] < n_cls:
            col.fail(mp, f"{ref} has {c.shapes[part][-1]} units but the labels go up to {n_cls - 1}")
    return True


def _record(col: Collector, spec: CircuitSpec, comps, ph: Phase, path: tuple,
            sched: tuple) -> dict[tuple[str, str], str]:
    record = {}
    rec_spec = ph.record if ph.record is not None else spec.run.record
    rpath = path + ("record",) if ph.record is not None else ("run", "record")
    for ref, mode in rec_spec.items():
        r = compartment_ref(col, rpath + (ref,), ref, comps)
        if r is not None and _record_mode(col, rpath + (ref,), r, mode, comps, sched):
            record[r] = mode
    return record


def _record_mode(col: Collector, path: tuple, ref: tuple[str, str], mode: str, comps,
                 sched: tuple) -> bool:
    """Whether ``mode`` can record ``ref`` (see ngcspec.monitors); reports why not."""
    name, part = ref
    if mode in ("spike_times", "rate") and not comps[name].kind.compartments[part].batched:
        col.fail(path, f"'{mode}' records one value per sample, and {name}.{part} has no "
                 "batch axis", "record it as per_step, per_batch, final or initial")
        return False
    if mode == "per_repeat" and sched is not None and not any(
            isinstance(e, RepeatOp) for e in flatten(sched)):
        col.fail(path, "'per_repeat' records at the end of each pass of a 'repeat' block, "
                 "and this schedule has none", "record it as per_step")
        return False
    return True
