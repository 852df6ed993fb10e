"""The wiring as a graph: execution order and undelayed loops.

The order is a topological sort of the wires that order a step, ties broken by the order of
the file (a small heap-based Kahn sort: it runs on every validation, and importing networkx
costs a quarter of `ngc validate`'s time). networkx, imported on demand, extracts the loop to
report when there is one and backs `ngc graph`.
"""

from __future__ import annotations

import heapq
from typing import Sequence


def wiring_graph(names: Sequence[str], wires, *, all_wires: bool = False):
    """Components as nodes; edges for the wires that order a step (all with ``all_wires``).

    Delayed wires read the previous step, and wires into inputs only plasticity reads
    (a Hebbian synapse's ``pre``/``post``) are read at ``evolve``: neither orders a step."""
    import networkx as nx

    g = nx.MultiDiGraph()
    g.add_nodes_from(names)
    for w in wires:
        if all_wires or w.orders_step:
            g.add_edge(w.src, w.dst, wire=w)
    return g


def find_undelayed_cycle(names: Sequence[str], wires):
    """The wires of one loop of undelayed wires, or None when there is none."""
    import networkx as nx

    g = wiring_graph(names, wires)
    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return None
    return [g.edges[u, v, k]["wire"] for u, v, k in edges]


def execution_order(names: Sequence[str], wires) -> list[str] | None:
    """Topological order of the wires that order a step, ties broken by the order in the
    file; None when they form a loop (see :func:`find_undelayed_cycle`)."""
    rank = {n: i for i, n in enumerate(names)}
    after: dict[str, set[str]] = {n: set() for n in names}
    for w in wires:
        if w.orders_step:
            after[w.src].add(w.dst)
    indegree = {n: 0 for n in names}
    for targets in after.values():
        for t in targets:
            indegree[t] += 1
    ready = [rank[n] for n in names if indegree[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = names[heapq.heappop(ready)]
        order.append(n)
        for t in after[n]:
            indegree[t] -= 1
            if indegree[t] == 0:
                heapq.heappush(ready, rank[t])
    return order if len(order) == len(names) else None


def to_dot(name: str, order: Sequence[str], components: dict, wires) -> str:
    lines = [f'digraph "{name}" {{', "  rankdir=LR;"]
    for i, n in enumerate(order):
        lines.append(f'  "{n}" [label="{i}: {n}\\n{components[n].kind.kind}", shape=box];')
    for w in wires:
        style = ', style=dashed' if w.delayed else ''
        label = f"{w.src_comp} -> {w.dst_comp}" + (f" x{w.scale:g}" if w.scale is not None else "")
        lines.append(f'  "{w.src}" -> "{w.dst}" [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines)
