"""Sizes no machine can hold, refused before anything is allocated.

Two limits: XLA indexes an array's elements with 32-bit integers (a compartment of 2^31
numbers or more cannot exist, whatever the memory), and the state must fit in this
machine's memory, as :func:`ngcspec.memory.estimate_parts` (the project's one estimator)
counts it. Counts are exact integers: a shape of [10**40, 3] gives a message, not an
OverflowError. The peak of a whole run (records, temporaries) is ``ngc validate --deep``'s.
"""

from __future__ import annotations

import math
import os

from ngcspec.checks.collector import Collector

XLA_ELEMENTS = 2**31


def check_resources(col: Collector, comps, phases, dtype: str) -> None:
    """Report compartments over XLA's element limit; if there are none, a state larger than
    this machine's memory. Both at the largest batch of any phase."""
    batch = max([ph.data.batch_size if ph.data else ph.batch_size for ph in phases.values()] or [1])
    if _over_element_limit(col, comps, batch):
        return
    from ngcspec import memory

    # the state alone: no phases, so no records or data are counted
    est = memory.estimate_parts(comps, {}, dtype, batch_size=batch)
    compartments = {f"{name}.{c}" for name, rc in comps.items() for c in rc.kind.compartments}
    state = sum(b for what, b in est.items if what in compartments)
    ram = _physical_memory()
    if ram and state > ram:
        col.fail(("components",), f"the state needs {_count(state)} bytes "
                 f"({_gib(state)} GiB) but this machine has {_gib(ram)} GiB",
                 "reduce the sizes or the batch size")


def _over_element_limit(col: Collector, comps, batch: int) -> bool:
    refused = False
    for name, rc in comps.items():
        too_big = []
        for cname, c in rc.kind.compartments.items():
            n = math.prod(int(d) for d in rc.shapes[cname]) * (batch if c.batched else 1)
            if n >= XLA_ELEMENTS:
                too_big.append(f"{cname} ({_count(n)})")
        if too_big:
            refused = True
            col.fail(("components", name), f"{name} is too large: compartment(s) "
                     f"{', '.join(too_big)} would exceed 2^31 numbers each",
                     "XLA arrays are limited to 2^31 elements; reduce the sizes")
    return refused


def _count(n: int) -> str:
    """A possibly astronomically large count, readable."""
    return f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f}" if n < 10**18 else f"about 10^{len(str(n // 2**30)) - 1}"


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
