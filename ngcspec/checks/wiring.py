"""Wires, ties and the execution order: how components read each other."""

from __future__ import annotations

from ngcspec import graph
from ngcspec.checks.collector import Collector
from ngcspec.checks.refs import compartment_ref
from ngcspec.errors import suggest
from ngcspec.resolved import ResolvedComponent, ResolvedWire
from ngcspec.spec import CircuitSpec


def check_wires(col: Collector, spec: CircuitSpec, raw_wires, comps) -> list[ResolvedWire]:
    """The wires whose ends exist, fit in shape and role, and are each written once.
    ``raw_wires``: the file's ``wires`` as written (a wire is a string or a mapping)."""
    raw_wires = raw_wires if isinstance(raw_wires, list) else []
    out = []
    for i, w in enumerate(spec.wires):
        is_map = i < len(raw_wires) and isinstance(raw_wires[i], dict)
        rw = _wire(col, i, w, is_map, comps)
        if rw is not None:
            out.append(rw)
    _repeated_wires(col, out)
    _wired_inputs_as_sources(col, out)
    return out


def _wire(col: Collector, i: int, w, is_map: bool, comps) -> ResolvedWire | None:
    path = ("wires", i)
    a = compartment_ref(col, path + ("from",) if is_map else path, w.source, comps, within=not is_map)
    b = compartment_ref(col, path + ("to",) if is_map else path, w.target, comps, roles=("input",),
                        what="wire target", within=not is_map)
    if a is None or b is None:
        return None
    ca = comps[a[0]].kind.compartments[a[1]]
    cb = comps[b[0]].kind.compartments[b[1]]
    sa, sb = comps[a[0]].shapes[a[1]], comps[b[0]].shapes[b[1]]
    if sa != sb or ca.batched != cb.batched:
        def show(c, s):
            return f"(batch, {', '.join(map(str, s))})" if c.batched else str(tuple(s))
        col.fail(path, f"shape mismatch: {w.source} is {show(ca, sa)} but {w.target} "
                 f"expects {show(cb, sb)}", "check the sizes (n_units, shape) of both components")
        return None
    if w.delayed and cb.evolve_only:
        col.fail(path, f"{w.target} is read only by plasticity (evolve), which always "
                 "reads the current value, so '~>' would have no effect",
                 f"write '{w.source} -> {w.target}'")
        return None
    return ResolvedWire(i, a[0], a[1], b[0], b[1], w.scale, w.delayed, cb.evolve_only)


def _repeated_wires(col: Collector, wires: list[ResolvedWire]) -> None:
    """The same wire twice would silently double the input: say so, unless a scale on
    either shows that the sum is meant."""
    first: dict[tuple, ResolvedWire] = {}
    for w in wires:
        key = (w.src, w.src_comp, w.dst, w.dst_comp, w.delayed)
        if key in first and w.scale is None and first[key].scale is None:
            where = col.src.problem(("wires", first[key].index), "")
            col.fail(("wires", w.index),
                     f"'{w}' is written twice (also at line {where.line}); its input "
                     "would receive the source twice",
                     f"remove one, or write '2 * {w}' if the doubled input is meant")
        first.setdefault(key, w)


def _wired_inputs_as_sources(col: Collector, wires: list[ResolvedWire]) -> None:
    """A wired input is a view of its sources, so it cannot be a source itself."""
    targets = {(w.dst, w.dst_comp) for w in wires}
    for w in wires:
        if (w.src, w.src_comp) not in targets:
            continue
        feeding = [str(v) for v in wires if (v.dst, v.dst_comp) == (w.src, w.src_comp)]
        origin = feeding[0].split(" ")[-3] if " * " in feeding[0] else feeding[0].split(" ")[0]
        col.fail(("wires", w.index), f"{w.src}.{w.src_comp} is an input driven by "
                 f"'{feeding[0]}'; wires read outputs and states, not wired inputs",
                 f"wire from {origin} directly")


def check_ties(col: Collector, comps: dict[str, ResolvedComponent]) -> None:
    """A tie shares a compartment of another component: it must exist, be owned by that
    component (not tied itself) and have the same shape (transposed with ``transpose``)."""
    for name, rc in comps.items():
        if rc.tie is not None:
            _tie(col, name, rc, comps)


def _tie(col: Collector, name: str, rc: ResolvedComponent, comps) -> None:
    path = ("components", name, "tie")
    t = rc.tie
    if t.compartment not in rc.kind.compartments:
        col.fail(path + ("compartment",), f"{rc.kind.kind} has no compartment '{t.compartment}'",
                 suggest(t.compartment, rc.kind.compartments))
        return
    target = compartment_ref(col, path + ("to",), t.to, comps)
    if target is None:
        return
    if target[0] == name:
        col.fail(path + ("to",), "a component cannot be tied to itself")
        return
    other = comps[target[0]]
    if other.tie is not None:
        col.fail(path + ("to",), f"{target[0]} is itself tied; tie to the component that owns the value",
                 f"tie to {other.tie.to}")
        return
    mine = rc.shapes[t.compartment]
    theirs = other.shapes[target[1]]
    if t.transpose and (len(mine) != 2 or len(theirs) != 2):
        col.fail(path + ("transpose",), f"transpose ties join 2-D compartments; "
                 f"{name}.{t.compartment} is {mine} and {t.to} is {theirs}",
                 "tie without transpose, or tie 2-D weights")
        return
    if t.transpose:
        theirs = tuple(reversed(theirs))
    if mine != theirs:
        col.fail(path, f"{name}.{t.compartment} has shape {mine} but "
                 f"{'the transpose of ' if t.transpose else ''}{t.to} is {theirs}",
                 "fix the shapes or set transpose: true" if mine == tuple(reversed(theirs)) else "")


def check_order(col: Collector, spec: CircuitSpec, comps, wires: list[ResolvedWire]) -> list[str]:
    """The order components run in within a step: derived from the undelayed wires, or the
    file's ``order``, which must list each component once and agree with those wires."""
    names = list(comps)
    derived = graph.execution_order(names, wires)
    if derived is None:
        _report_loop(col, graph.find_undelayed_cycle(names, wires))
        return names
    if spec.order is None:
        return derived
    if not _order_lists_each_once(col, spec.order, names, comps):
        return names
    path = ("order",)
    pos = {n: i for i, n in enumerate(spec.order)}
    for w in wires:
        if w.orders_step and w.src != w.dst and pos[w.src] > pos[w.dst]:
            col.fail(path + (pos[w.dst],),
                     f"the order runs {w.dst} before {w.src}, but wire #{w.index} '{w}' "
                     f"(line {col.src.locate(('wires', w.index))[0]}) needs {w.src} first",
                     f"move {w.src} before {w.dst}, or delay the wire: "
                     f"'{w.src}.{w.src_comp} ~> {w.dst}.{w.dst_comp}'")
    return list(spec.order)


def _report_loop(col: Collector, cycle) -> None:
    if cycle is None:
        return
    loop = " -> ".join([w.src for w in cycle] + [cycle[0].src])
    lines = "\n".join(f"      wire #{w.index}: {w}" for w in cycle)
    last = cycle[-1]
    col.fail(("wires", last.index), f"loop of undelayed wires: {loop}\n{lines}",
             f"delay one wire of the loop, e.g. '{last.src}.{last.src_comp} ~> "
             f"{last.dst}.{last.dst_comp}' (reads the previous step's value)")


def _order_lists_each_once(col: Collector, order: list[str], names: list[str], comps) -> bool:
    path = ("order",)
    unknown = [n for n in order if n not in comps]
    for n in unknown:
        if n not in col.declared:
            col.fail(path + (order.index(n),), f"unknown component '{n}'", suggest(n, names))
    missing = [n for n in names if n not in order]
    if missing:
        col.fail(path, f"the order leaves out {', '.join(missing)}", "list every component once")
    dupes = {n for n in order if order.count(n) > 1}
    if dupes:
        col.fail(path, f"the order lists {', '.join(sorted(dupes))} more than once")
    return not (unknown or missing or dupes)
