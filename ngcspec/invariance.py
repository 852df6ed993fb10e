"""Which results of a traced function depend on which of its arguments, read from its jaxpr.

The compiler uses this to find compartments a step writes with the same value every step
(a stateless cell copying its clamped input, an error cell's one-step mask set back to 1, a
tie to weights that do not change during advance): after the first step they are constants,
so the loop need not carry them (a loop carry is a buffer XLA copies into every iteration).

The analysis is conservative: an equation's outputs count as depending on all of its inputs
(also for equations holding sub-programs: jit, cond, scan, custom derivatives), so an output
said to be independent truly is.
"""

from __future__ import annotations

from typing import Sequence


def independent_outputs(closed_jaxpr, varying: Sequence[bool]) -> list[bool]:
    """For each output of ``closed_jaxpr`` (from ``jax.make_jaxpr``): whether it depends on
    none of the inputs marked ``varying`` (one flag per input; closed-over values never
    vary)."""
    jaxpr = closed_jaxpr.jaxpr
    if len(varying) != len(jaxpr.invars):
        raise ValueError(f"{len(varying)} flags for {len(jaxpr.invars)} inputs")
    tainted = {id(var) for var, v in zip(jaxpr.invars, varying) if v}
    for eqn in jaxpr.eqns:
        if any(id(x) in tainted for x in eqn.invars if not _is_literal(x)):
            tainted.update(id(x) for x in eqn.outvars)
    return [_is_literal(x) or id(x) not in tainted for x in jaxpr.outvars]


def _is_literal(x) -> bool:
    return hasattr(x, "val")        # a Literal holds its value; a Var does not
