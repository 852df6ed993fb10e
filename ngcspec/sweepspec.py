"""What a sweep names, and the members it expands to.

A sweep (the ``sweep:`` section of a circuit file, or ``ngc sweep --param ...``) names
parameters as ``--set`` does (``W1.eta``, ``z1.prior.leak``, ``dt``) and gives each a list or
a range of values; the members are the combinations (grid, zip or a seeded random draw from
the grid), each run once per seed. A parameter is *numeric* when it is a traced leaf of the
parameter pytree (floats; members differing only in those share one compiled program and
run as one ``vmap``) and *structural* otherwise (sizes, activation names, integrators:
each value gets its own program). Pure Python: ``ngc validate`` checks sweeps without JAX.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ngcspec.errors import one_of, suggest
from ngcspec.params import numeric_leaves
from ngcspec.spec import (COMMON_FIELDS, IntRange, Linspace, Logspace, OptunaCombine,
                          RandomCombine, SweepSpec)

#: fail(path, message, hint) reports a located problem (the resolver's ``fail``)
Fail = Callable[..., None]


@dataclass(frozen=True)
class SweptParam:
    name: str                   # as written: "W1.eta", "z1.prior.leak", "dt"
    component: str | None       # None for the top-level dt
    path: tuple[str, ...]       # inside the component's parameters
    numeric: bool
    values: tuple


@dataclass(frozen=True)
class Member:
    index: int
    values: dict[str, Any]      # swept parameter (as written) -> value
    seed: int


def classify(name: str, components) -> tuple[str | None, tuple[str, ...], bool]:
    """(component, path, numeric) of a swept name; ValueError(message, hint) if unknown."""
    if name == "dt":
        return None, (), True
    comp, *path = name.split(".")
    if comp not in components:
        raise ValueError(f"'{comp}' is not a component, so {name} is not a parameter",
                         suggest(comp, list(components) + ["dt"]) or
                         f"components: {one_of(components)}; or dt")
    rc = components[comp]
    if not path or any(not p for p in path):
        raise ValueError(f"{name} names no parameter of {comp}",
                         f"write {comp}.PARAMETER, e.g. {comp}.{_example(rc)}")
    node: Any = numeric_leaves(rc.params)
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, float):
        return comp, tuple(path), True
    fields = set(type(rc.params).model_fields) | COMMON_FIELDS - {"kind"}
    if path[0] in fields:
        return comp, tuple(path), False
    raise ValueError(f"{rc.kind.kind} {comp} has no parameter '{path[0]}'",
                     suggest(path[0], fields) or f"parameters: {one_of(fields)}")


def _example(rc) -> str:
    leaves = numeric_leaves(rc.params)
    return next(iter(leaves), next(iter(type(rc.params).model_fields), "param"))


def expand_values(values) -> list:
    """The values of a list or a range, as Python numbers (ranges of floats as floats)."""
    if isinstance(values, Linspace):
        return [float(v) for v in np.linspace(*values.linspace, values.n)]
    if isinstance(values, Logspace):
        lo, hi = (math.log10(v) for v in values.logspace)
        return [float(v) for v in np.logspace(lo, hi, values.n)]
    if isinstance(values, IntRange):
        return list(range(*values.range))
    return list(values)


def seeds_of(sweep: SweepSpec | None, default: int) -> list[int]:
    if sweep is None or sweep.seeds is None:
        return [default]
    if isinstance(sweep.seeds, IntRange):
        return list(range(*sweep.seeds.range))
    return list(sweep.seeds)


def swept_params(sweep: SweepSpec, components) -> list[SweptParam]:
    """The swept parameters, classified and expanded (assumes :func:`check_sweep` passed)."""
    out = []
    for name, values in sweep.params.items():
        comp, path, numeric = classify(name, components)
        vals = expand_values(values)
        if numeric:
            vals = [float(v) for v in vals]
        out.append(SweptParam(name, comp, path, numeric, tuple(vals)))
    return out


def combinations(params: list[SweptParam], combine, seed: int) -> list[dict[str, Any]]:
    """One dict per combination: every one (grid), the i-th values together (zip), or
    ``random`` combinations drawn from the grid without replacement, seeded by ``seed``."""
    if not params:
        return [{}]
    names = [p.name for p in params]
    if combine == "zip":
        return [dict(zip(names, vals)) for vals in zip(*(p.values for p in params))]
    grid = [dict(zip(names, vals)) for vals in itertools.product(*(p.values for p in params))]
    if isinstance(combine, RandomCombine):
        picked = np.random.default_rng(seed).choice(len(grid), combine.random, replace=False)
        return [grid[i] for i in sorted(int(i) for i in picked)]
    return grid


def members(sweep: SweepSpec, components, default_seed: int) -> list[Member]:
    """Every member of a (checked) sweep: combinations x seeds, seeds varying fastest."""
    params = swept_params(sweep, components)
    combos = combinations(params, sweep.combine, default_seed)
    seeds = seeds_of(sweep, default_seed)
    return [Member(i, combo, seed) for i, (combo, seed) in
            enumerate(itertools.product(combos, seeds))]


def report_of(sweep: SweepSpec | None, phases) -> tuple[str, str] | None:
    """(phase.metric, goal) the results are sorted by: the sweep's ``report``, else the first
    accuracy (goal max), else the first metric (goal min), else None."""
    if sweep is not None and sweep.report is not None:
        return sweep.report.metric, sweep.report.goal
    found = [(f"{p}.{m}", kind) for p, ph in phases.items() for m, (kind, _, _) in ph.metrics.items()]
    for name, kind in found:
        if kind == "accuracy":
            return name, "max"
    return (found[0][0], "min") if found else None


# ---------------------------------------------------------------------------------------------
# checks, reported like every other problem of the file


# Complexity over 10 on purpose: one located problem per rule the issue lists for a sweep entry;
# each rule is two lines.
def check_sweep(sweep: SweepSpec, components, phases, fail: Fail, entry_model) -> None:  # noqa: C901
    """Report unknown parameters, values of the wrong kind or out of range, structural
    parameters given a numeric range, zip lists of unequal length and an unknown report
    metric, each located at the sweep entry. ``entry_model(kind)`` is the resolver's model
    of one component entry (for checking structural values)."""
    base = ("sweep", "params")
    lengths = {}
    for name, values in sweep.params.items():
        path = base + (name,)
        try:
            comp, ppath, numeric = classify(name, components)
        except ValueError as exc:
            fail(path, exc.args[0], exc.args[1], key=True)
            continue
        vals = expand_values(values)
        lengths[name] = len(vals)
        if numeric:
            _check_numeric(path, name, comp, ppath, values, vals, components, fail)
        elif isinstance(values, (Linspace, Logspace)):
            fail(path, f"{name} is structural (it changes the compiled program), so it cannot "
                       "take a numeric range", "list its values, e.g. [64, 128], or give "
                       "integers as {range: [start, stop]}")
        else:
            _check_structural(path, name, components[comp], ppath, values, vals, fail,
                              entry_model)
    combine = sweep.combine
    if combine == "zip" and len(set(lengths.values())) > 1:
        fail(("sweep", "combine"), "zip pairs the i-th values of every parameter, but the "
             f"lists have different lengths ({', '.join(f'{k}: {v}' for k, v in lengths.items())})",
             "give every parameter as many values, or use grid")
    if isinstance(combine, RandomCombine) and lengths:
        size = math.prod(lengths.values())
        if combine.random > size:
            fail(("sweep", "combine", "random"), f"asks for {combine.random} combinations of a "
                 f"grid that has {size}", f"ask for at most {size}, or use grid")
    if isinstance(combine, OptunaCombine) and not sweep.params:
        fail(("sweep", "combine"), "an optuna search needs parameters to search",
             "add sweep.params with ranges, e.g. W1.eta: {logspace: [0.0001, 0.01], n: 8}")
    if sweep.report is not None:
        phase, _, metric = sweep.report.metric.partition(".")
        known = [f"{p}.{m}" for p, ph in phases.items() for m in ph.metrics]
        if phase not in phases or metric not in phases[phase].metrics:
            fail(("sweep", "report", "metric"), f"no metric {sweep.report.metric}",
                 suggest(sweep.report.metric, known) or
                 (f"metrics: {one_of(known)}" if known else "define metrics in a phase"))


def _check_numeric(path, name, comp, ppath, values, vals, components, fail) -> None:
    for i, v in enumerate(vals):
        where = path + (i,) if isinstance(values, list) else path
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            fail(where, f"{name} is a number, not {v!r}", "give numbers")
            return
        if not math.isfinite(v):
            fail(where, f"{name} = {v} is not a finite number", "give finite numbers")
            return
        if comp is None:
            if v <= 0:
                fail(where, f"dt must be > 0, got {v:g}")
                return
            continue
        problem = _invalid(components[comp].params, ppath, float(v))
        if problem:
            fail(where, f"{name} = {v:g}: {problem}")
            return


def _invalid(model, path, value) -> str:
    """Why ``model`` with ``path`` set to ``value`` does not validate ('' if it does)."""
    from pydantic import ValidationError

    from ngcspec.params import with_field

    try:
        with_field(model, path, value)
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return ""


def _check_structural(path, name, rc, ppath, values, vals, fail, entry_model) -> None:
    from pydantic import ValidationError

    for i, v in enumerate(vals):
        where = path + (i,) if isinstance(values, list) else path
        data = {"kind": rc.kind.kind, **rc.params.model_dump(by_alias=True, exclude_unset=True)}
        node = data
        for part in ppath[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            fail(where, f"{name}: cannot set a field inside a non-mapping")
            return
        node[ppath[-1]] = v
        try:
            params = entry_model(rc.kind).model_validate(data)
            model = rc.kind.Params.model_validate(
                {k: getattr(params, k) for k in rc.kind.Params.model_fields})
            bad = list(rc.kind.check(model))
        except ValidationError as exc:
            bad = [(None, exc.errors()[0]["msg"])]
        if bad:
            fail(where, f"{name} = {v!r}: {bad[0][1]}")
            return
