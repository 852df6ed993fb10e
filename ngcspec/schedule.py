"""The resolved schedule: what one batch does, as small typed entries.

The file's schedule (``spec.Reset``/``Advance``/``Evolve``/``Repeat``, pydantic models with
source locations) is checked by the resolver and becomes a tuple of the frozen entries
below, which the compiler, the memory estimate and the plots read. They hold only what
running needs (no locations, no unknown names), compare by value and hash, so a resolved
schedule can key a cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union


@dataclass(frozen=True)
class ResetOp:
    """Restore every component's reset values and re-apply the phase's clamps."""


@dataclass(frozen=True)
class AdvanceOp:
    """Advance every component ``steps`` times."""
    steps: int


@dataclass(frozen=True)
class EvolveOp:
    """Apply the plasticity of ``names``, in that order."""
    names: tuple[str, ...]


@dataclass(frozen=True)
class RepeatOp:
    """Run ``block`` ``times`` times."""
    times: int
    block: tuple["Op", ...]


Op = Union[ResetOp, AdvanceOp, EvolveOp, RepeatOp]


def flatten(block) -> Iterator[Op]:
    """Every entry of ``block``, nested repeat blocks included (each after its repeat)."""
    for op in block:
        yield op
        if isinstance(op, RepeatOp):
            yield from flatten(op.block)


def steps_per_batch(block) -> int:
    """Steps one pass of ``block`` advances (repeats multiplied out)."""
    n = 0
    for op in block:
        if isinstance(op, AdvanceOp):
            n += op.steps
        elif isinstance(op, RepeatOp):
            n += op.times * steps_per_batch(op.block)
    return n


def evolved(block) -> list[str]:
    """The names ``block`` evolves, in schedule order (repeats listed once)."""
    return [n for op in flatten(block) if isinstance(op, EvolveOp) for n in op.names]


def has_repeat(block) -> bool:
    return any(isinstance(op, RepeatOp) for op in block)


def starts_with_reset(block) -> bool:
    return bool(block) and isinstance(block[0], ResetOp)


def as_tuples(block) -> tuple:
    """The schedule as nested tuples, ``("advance", n)``, ``("repeat", n, (...))``, ...:
    the form run directories' fingerprints were written with, so a run made before the
    typed entries can still be resumed."""
    out = []
    for op in block:
        if isinstance(op, ResetOp):
            out.append(("reset",))
        elif isinstance(op, AdvanceOp):
            out.append(("advance", op.steps))
        elif isinstance(op, EvolveOp):
            out.append(("evolve", op.names))
        else:
            out.append(("repeat", op.times, as_tuples(op.block)))
    return tuple(out)
