"""A phase's schedule: what one batch runs, and how long it runs without a reset."""

from __future__ import annotations

from ngcspec.checks.collector import Collector
from ngcspec.errors import one_of, suggest
from ngcspec.schedule import AdvanceOp, EvolveOp, RepeatOp, ResetOp
from ngcspec.spec import Advance, Evolve, Repeat, Reset


def check_schedule(col: Collector, path: tuple, entries, comps) -> tuple:
    """The file's schedule entries as typed ops (``ngcspec.schedule``); an evolve keeps the
    names it may evolve (plastic components whose learned weights are not tied away)."""
    if entries is None:
        return ()
    out = []
    for i, e in enumerate(entries):
        p = path + (i,)
        if isinstance(e, Reset):
            out.append(ResetOp())
        elif isinstance(e, Advance):
            out.append(AdvanceOp(e.advance))
        elif isinstance(e, Evolve):
            names = [n for j, n in enumerate(e.evolve) if _may_evolve(col, p + ("evolve", j), n, comps)]
            out.append(EvolveOp(tuple(names)))
        elif isinstance(e, Repeat):
            out.append(RepeatOp(e.repeat, check_schedule(col, p + ("do",), e.do, comps)))
    return tuple(out)


def _may_evolve(col: Collector, path: tuple, n: str, comps) -> bool:
    if n not in comps:
        if n not in col.declared:
            col.fail(path, f"unknown component '{n}'", suggest(n, comps))
        return False
    kind = comps[n].kind
    if not kind.plastic:
        plastic = [c for c, rc in comps.items() if rc.kind.plastic]
        col.fail(path, f"{n} is a {kind.kind}, which has no plasticity",
                 f"plastic components here: {one_of(plastic)}" if plastic else
                 "use a plastic kind such as HebbianSynapse")
        return False
    tie = comps[n].tie
    weights = ("weights",) + tuple(c for c, spec in kind.compartments.items() if spec.role == "weight")
    if tie is not None and tie.compartment in weights:
        col.fail(path, f"{n}.{tie.compartment} is tied to {tie.to}, so what {n} learns would be "
                 f"overwritten at its next step", f"evolve {tie.to.split('.')[0]} instead, or remove the tie")
        return False
    return True


def max_steps_between_resets(entries) -> int:
    """Largest number of advance steps the file's schedule runs without a reset in between."""
    best = cur = 0

    def walk(block, times):
        nonlocal best, cur
        for _ in range(min(times, 2)):  # two passes reveal growth across iterations
            for e in block:
                if isinstance(e, Reset):
                    cur = 0
                elif isinstance(e, Advance):
                    cur += e.advance
                    best = max(best, cur)
                elif isinstance(e, Repeat) and _has_reset(e.do):
                    walk(e.do, e.repeat)
                elif isinstance(e, Repeat):
                    cur += _count_steps(e.do) * e.repeat
                    best = max(best, cur)

    walk(entries, 1)
    return best


def _has_reset(block) -> bool:
    return any(isinstance(e, Reset) or (isinstance(e, Repeat) and _has_reset(e.do)) for e in block)


def _count_steps(block) -> int:
    n = 0
    for e in block:
        if isinstance(e, Advance):
            n += e.advance
        elif isinstance(e, Repeat):
            n += _count_steps(e.do) * e.repeat
    return n
