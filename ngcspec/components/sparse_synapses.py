"""Synapses stored as connection lists: :class:`SparseSynapse` and
:class:`SparseExponentialSynapse`.

With random connectivity of probability ``p_conn`` a synapse stores, per pre-synaptic unit, a
padded list of its targets ``targets (n_in, max_out)`` and efficacies ``weights (n_in,
max_out)``; a spike scatter-adds its row into the post-synaptic units
(:func:`ngcspec.components.events.sparse_transmit`, a native kernel on the CPU). Memory and
work are O(n_in * max_out), never O(n_in * n_out), the draw at init included
(:mod:`ngcspec.components.connectivity`).
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt

from ngcspec.components import initializers
from ngcspec.components.connectivity import default_max_out, draw_connections
from ngcspec.components.dynamic_synapses import (
    _CONDUCTANCE_DEVIATIONS,
    ConductanceParams,
    ExponentialSynapse,
)
from ngcspec.components.events import sparse_transmit, spike_bound
from ngcspec.components.synapses import DenseParams
from ngcspec.lazy import jnp, random
from ngcspec.registry import Compartment, Component, In, Out, Weight, register


class _ListsMixin:
    """Fields of a synapse stored as connection lists (mixed into a parameter model)."""

    max_out: PositiveInt | None = Field(
        None, description="room for targets per pre-synaptic unit; null = n_out p_conn + 6 "
                          "standard deviations (+1); a unit drawn with more keeps its first")
    max_spikes: PositiveInt | None = Field(
        None, description="XLA path only (the native CPU kernel needs no bound): most "
                          "pre-synaptic units (over the batch) that may spike in a step "
                          "before that step scatters every connection; null = max(32, "
                          "batch * n_in / 32)")

    pre_range: tuple[NonNegativeInt, PositiveInt] | None = Field(
        None, description="[start, stop]: only pre-synaptic units start <= i < stop have "
                          "connections (a sub-population of the input, as Brian's "
                          "P[start:stop]); null = all of them")

    @property
    def rows(self) -> int:
        """Pre-synaptic units with connection lists (stop - start of pre_range, or n_in)."""
        return self.shape[0] if self.pre_range is None else self.pre_range[1] - self.pre_range[0]

    @property
    def slots(self) -> int:
        """Targets stored per pre-synaptic unit (max_out, or its default)."""
        n_out = self.shape[1]
        return min(self.max_out, n_out) if self.max_out else default_max_out(n_out, self.p_conn)


class SparseParams(_ListsMixin, DenseParams):
    pass


class SparseConductanceParams(_ListsMixin, ConductanceParams):
    pass


def _lists_problems(p) -> list[tuple[str, str]]:
    if p.pre_range is not None and not p.pre_range[0] < p.pre_range[1] <= p.shape[0]:
        return [("pre_range", f"pre_range {list(p.pre_range)} must satisfy start < stop <= "
                              f"n_in ({p.shape[0]})")]
    return []


def _lists_initial_problems(p, name: str, value) -> list[str]:
    """A ``targets`` array given in a file must hold each row's connections in its first
    slots (the transmission stops at a row's first empty slot)."""
    if name != "targets":
        return []
    import numpy as np

    t = np.asarray(value)
    n_out = p.shape[1]
    ok = (t >= 0) & (t < n_out)
    late = ok[:, 1:] & ~ok[:, :-1]                       # a connection right after an empty slot
    rows = np.flatnonzero(late.any(axis=1))
    if rows.size == 0:
        return []
    r = int(rows[0])
    s = int(np.flatnonzero(late[r])[0]) + 1
    more = f" (and {rows.size - 1} more rows)" if rows.size > 1 else ""
    return [f"row {r} of targets has a connection (slot {s}) after an empty slot (a target "
            f"outside [0, {n_out})){more}; put each row's connections in its first slots and "
            f"the empty ones ({n_out}) after them"]


def _row_start(p) -> int:
    """The input unit of the lists' first row (pre_range's start): the transmission reads
    the inputs from there in place, rather than a copy of the slice."""
    return 0 if p.pre_range is None else p.pre_range[0]


def _lists_compartments(doc_weights: str) -> dict:
    return {
        "targets": Compartment("weight", "rows, slots",
                               "post-synaptic unit of each stored connection, (n_in, max_out) "
                               "(rows of pre_range only, if given); a row's connections fill "
                               "its first slots, n_out marks the empty ones after them",
                               batched=False, reset=None, integer=True),
        "weights": Weight("rows, slots", doc_weights),
    }


_LISTS_DOC = """
    Storage: per pre-synaptic unit i, ``targets[i]`` lists the post-synaptic units it
    reaches and ``weights[i]`` their efficacies in its first slots, padded to ``max_out``
    slots with empty ones (target n_out, weight 0): a row ends at its first empty slot, so a
    spike reads its row's connections, not every slot. A connection exists with probability
    ``p_conn``, drawn once at init row by row in O(n_in * max_out) (each row from its own
    counter-based stream, so the network does not depend on how the draw is split), from the
    same numbers as the dense synapses' mask and weights (same name, seed and parameters: the
    same network), so memory is n_in * max_out, not n_in * n_out; ``init:`` files may give
    ``targets`` and ``weights`` instead (each row's connections first, then its empty slots:
    checked). max_out defaults to n_out p_conn plus six standard deviations (+1): a unit
    drawn with more targets keeps the first max_out, which happens to about one unit in
    10^9. ``pre_range: [start, stop]`` restricts the connections to the pre-synaptic units
    start..stop-1 (one population of a cell that holds several, as Brian's ``P[:3200]``):
    the lists then have stop - start rows.

    Transmission is event-driven: only the rows of the units with a nonzero input
    scatter-add into the outputs, so a step costs in proportion to its spikes times their
    connections. On the CPU a native kernel does it; elsewhere the active units are found
    with top_k, and a step with more than ``max_spikes`` of them scatters every stored
    connection (correct, slower). Results equal the dense masked product up to the order of
    float sums.
"""


@register
class SparseSynapse(Component):
    __doc__ = """A synapse with random sparse connectivity, stored as connection lists.

    outputs = (inputs @ W) * resist_scale + b,   W[i, targets[i, s]] = weights[i, s]

    The same cable as DenseSynapse with p_conn, for connectivity too sparse to hold as a
    dense matrix (e.g. 2% of 4000 x 4000).
    """ + _LISTS_DOC + """
    Compartments: inputs (B, n_in), outputs (B, n_out); persistent targets and weights
    (n_in, max_out) (n_in = stop - start with pre_range) and biases (n_out,).
    """

    family = "synapses"
    Params = SparseParams
    compartments = {
        "inputs": In("shape[0]", "pre-synaptic signal (spikes), (B, n_in)"),
        "outputs": Out("shape[1]", "(inputs @ W) * resist_scale + biases"),
        **_lists_compartments("efficacy of each stored connection, (n_in, max_out)"),
        "biases": Weight("shape[1]", "bias b, (n_out,); zeros when bias_init is null"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        shape = (p.rows, p.shape[1])
        out = [("weight_init", m) for m in initializers.problems(p.weight_init, shape)]
        if p.bias_init is not None:
            out += [("bias_init", m) for m in initializers.problems(p.bias_init, (p.shape[1],))]
        return out + _lists_problems(p)

    @classmethod
    def check_initial(cls, p, name: str, value) -> list[str]:
        return _lists_initial_problems(p, name, value)

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        shape = (p.rows, p.shape[1])
        targets, weights = draw_connections(key, p.p_conn, shape, p.slots, p.weight_init, dtype)
        k_b = random.split(key, 3)[1]
        biases = jnp.zeros((p.shape[1],), dtype) if p.bias_init is None else \
            initializers.draw(p.bias_init, (p.shape[1],), k_b, dtype)
        return {"targets": targets, "weights": weights, "biases": biases}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        k = spike_bound(p.max_spikes, p.rows, ctx.batch_size)
        out = sparse_transmit(s["inputs"], s["targets"], s["weights"], p.shape[1], k,
                              _row_start(p))
        return {"outputs": out * p.resist_scale + s["biases"]}


@register
class SparseExponentialSynapse(ExponentialSynapse):
    __doc__ = """ExponentialSynapse with random sparse connectivity, stored as connection lists.

        S = inputs @ W                                  (W from the lists below)
        g <- g - (dt / tau_decay) g + g_syn_bar S
        i_syn = outputs = -g * resist_scale * (v - syn_rest)   (-g * resist_scale if syn_rest is null)

    The conductance of ExponentialSynapse with p_conn, for networks such as the COBA
    benchmark (4000 neurons, 2% connectivity), whose connectivity is too sparse to hold or
    multiply as a dense masked matrix. With is_nonplastic (default) every connection has
    weight 1: the stored weights (ones) are not read, and a file may not give them.
    """ + _LISTS_DOC + """
    Compartments: inputs (B, n_in); v, g_syn, i_syn, outputs (B, n_out); persistent
    targets and weights (n_in, max_out) (n_in = stop - start with pre_range).
    """ + _CONDUCTANCE_DEVIATIONS

    Params = SparseConductanceParams
    compartments = {
        **{n: c for n, c in ExponentialSynapse.compartments.items()
           if n not in ("weights", "mask")},
        **_lists_compartments("W of each stored connection, (n_in, max_out): 1 when "
                              "is_nonplastic, else from weight_init"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        out = []
        if p.bias_init is not None:
            out.append(("bias_init", "conductance synapses have no bias; remove it"))
        shape = (p.rows, p.shape[1])
        return out + [("weight_init", m) for m in initializers.problems(p.weight_init, shape)] \
            + _lists_problems(p)

    @classmethod
    def check_initial(cls, p, name: str, value) -> list[str]:
        if name == "weights" and p.is_nonplastic:
            return ["with is_nonplastic: true every connection has weight 1 and the weights "
                    "are not read; set is_nonplastic: false to use these weights, or remove "
                    "them"]
        return _lists_initial_problems(p, name, value)

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        shape = (p.rows, p.shape[1])
        targets, weights = draw_connections(key, p.p_conn, shape, p.slots,
                                            None if p.is_nonplastic else p.weight_init, dtype)
        return {"targets": targets, "weights": weights}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        k = spike_bound(p.max_spikes, p.rows, ctx.batch_size)
        # non-plastic: every weight is 1, so only the targets are read (as Brian2's
        # on_pre: g += w reads no weight), half the memory a spike touches
        summed = sparse_transmit(s["inputs"], s["targets"],
                                 None if p.is_nonplastic else s["weights"], p.shape[1], k,
                                 _row_start(p))
        new = cls.conductance(p, s, p.g_syn_bar * summed, ctx)
        g = new["g_syn"] * p.resist_scale
        i_syn = -g if p.syn_rest is None else -g * (s["v"] - p.syn_rest)
        return {**new, "i_syn": i_syn, "outputs": i_syn}
