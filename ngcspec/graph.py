"""The wiring as a graph: execution order and undelayed loops (networkx)."""

from __future__ import annotations

from typing import Sequence

import networkx as nx


def wiring_graph(names: Sequence[str], wires, *, all_wires: bool = False) -> nx.MultiDiGraph:
    """Components as nodes; edges for the wires that order a step (all with ``all_wires``).

    Delayed wires read the previous step, and wires into inputs only plasticity reads
    (a Hebbian synapse's ``pre``/``post``) are read at ``evolve``: neither orders a step."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(names)
    for w in wires:
        if all_wires or w.orders_step:
            g.add_edge(w.src, w.dst, wire=w)
    return g


def find_undelayed_cycle(names: Sequence[str], wires):
    """The wires of one loop of undelayed wires, or None when there is none."""
    g = wiring_graph(names, wires)
    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return None
    return [g.edges[u, v, k]["wire"] for u, v, k in edges]


def execution_order(names: Sequence[str], wires) -> list[str]:
    """Topological order of the undelayed wires; ties broken by the order in the file."""
    g = nx.DiGraph()
    g.add_nodes_from(names)
    g.add_edges_from((w.src, w.dst) for w in wires if w.orders_step and w.src != w.dst)
    rank = {n: i for i, n in enumerate(names)}
    return list(nx.lexicographical_topological_sort(g, key=rank.__getitem__))


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
