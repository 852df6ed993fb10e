"""Event-driven execution for spike inputs, and synapses stored as connection lists.

When what enters a synapse is a spike train, most of its rows are idle at any step: the cost
of transmission and of spike-timing plasticity should follow the spikes, not the matrix. This
module holds the machinery the spike synapses share, and the sparse synapse kinds.

On the CPU, transmission (:func:`event_matmul`, :func:`sparse_transmit`) and the STDP
updates run as native kernels (:mod:`ngcspec.native`), which scan the spikes themselves and
need no bound. What follows is their XLA twin, which GPUs/TPUs run (and CPUs without a
compiler).

**Compaction.** The units that spiked in a step (in any sample of the batch: one list for the
batch) are found with ``lax.top_k`` over their 0/1 flags, under a static bound ``k``
(``max_spikes``): :func:`compact` returns ``k`` indices, the spiking ones first.
(``jnp.nonzero`` and ``cumsum`` cost tens of microseconds on a few thousand flags on XLA:CPU;
``top_k`` is a partial sort.) Long flag vectors with a small ``k`` are compacted in two
levels: ``top_k`` over per-block counts picks the blocks that hold spikes, a second
``top_k`` over those blocks picks the units (3.7 instead of 5.5 us for 32 of 3200).

**Sizes.** Everything after compaction is compiled for a few static sizes, 8, 16, 32, ...
up to ``k`` (:func:`buckets`); a step runs the smallest that holds its spiking units, so its
cost follows the spikes within a factor of two.

**Dense weights, event-driven** (``event_driven: true`` on the STDP synapses):

- transmission ``x @ W`` gathers the rows of ``W`` of the units that spiked and sums them
  (``lax.switch`` over the sizes); when more than ``k`` units spike, the dense product.
- plasticity whose change is zero outside the rows of pre-synaptic spikes and the columns of
  post-synaptic spikes (trace STDP, exponential STDP, event STDP) rewrites only those rows and
  columns, each computed by the kind's own update rule on the slices of its weights and
  factors, so the two paths evaluate the same formula. Rows are written first, then columns
  one by one, skipping the rows already written. When either side has more than ``k``
  spiking units, or a term touches every weight (weight decay), the dense update runs.

Two XLA:CPU facts shape the code: a ``lax.cond``/``switch`` that *returns* a large matrix
copies it on every call, while a ``while_loop`` updates its carry in place; and a loop that
only *reads* a large matrix gets a copy of it. So in-place updates are ``while_loop`` s of zero
or one trip (:func:`_once`) that carry every matrix they touch, returned unchanged
(``event_update`` hands back the mask with the weights), and read-only gathers go through
``switch``.

Results equal the dense path's up to the order of floating-point sums (the dense product adds
zeros in another order); spikes and weights agree to float rounding.

**Connection lists** (:class:`SparseSynapse`, :class:`SparseExponentialSynapse`): with random
connectivity of probability ``p_conn`` a synapse stores, per pre-synaptic unit, a padded list
of its targets ``targets (n_in, max_out)`` and efficacies ``weights (n_in, max_out)``; a spike
scatter-adds its row into the post-synaptic units. Memory and work are O(n_in * max_out),
never O(n_in * n_out), the draw at init included (:mod:`ngcspec.components.connectivity`).
"""

from __future__ import annotations

import functools
from typing import Callable

from ngcspec import native
from ngcspec.components.connectivity import default_max_out, draw_connections  # noqa: F401
from ngcspec.lazy import jnp, lax

#: Smallest static size of an event path (and the granularity of ``max_spikes``).
CHUNK = 8
#: Flag vectors up to this length are compacted with one ``top_k``; longer ones in two levels.
FLAT_MAX = 1024
#: Units per block of the two-level compaction.
BLOCK = 16


def auto_max_spikes(n: int, batch_size: int) -> int:
    """Default bound on the units (of ``n``) that spike in one step, over a batch.

    At least 32, or 1/32 of the units per sample of the batch; a multiple of :data:`CHUNK`.
    Steps with more spiking units than the bound take the dense path (correct, slower)."""
    k = max(32, -(-batch_size * n // 32))
    return _round_up(min(k, n), CHUNK)


def spike_bound(max_spikes: int | None, n: int, batch_size: int) -> int:
    """The static bound used for ``n`` units: ``max_spikes`` or :func:`auto_max_spikes`."""
    k = auto_max_spikes(n, batch_size) if max_spikes is None else max_spikes
    return _round_up(max(1, min(int(k), n)), CHUNK)


def _round_up(k: int, m: int) -> int:
    return -(-k // m) * m


# ---------------------------------------------------------------------------------------------
# Compaction

def compact(flags, k: int):
    """Indices of the nonzero entries of a 1-D ``flags``, at most ``k`` of them.

    Returns ``(ids, valid)``, both of length ``k``: the indices of nonzero entries come
    first (``valid`` True); the rest are other indices, distinct, possibly past the end of
    ``flags`` (``valid`` False). Complete when ``flags`` has at most ``k`` nonzero entries.
    """
    f = (flags != 0).astype(jnp.float32)
    n = f.shape[0]
    if n < k:
        f = jnp.pad(f, (0, k - n))
        n = k
    if n <= FLAT_MAX or 2 * k * BLOCK > n:       # two levels pay only when k is small
        vals, ids = _top_k(f, k)
        return ids, vals > 0
    nb = -(-n // BLOCK)
    blocks = jnp.pad(f, (0, nb * BLOCK - n)).reshape(nb, BLOCK)
    counts, bids = _top_k(jnp.sum(blocks, axis=1), min(k, nb))
    cand = (blocks[bids] * (counts > 0)[:, None]).reshape(-1)
    vals, pos = _top_k(cand, k)
    return bids[pos // BLOCK] * BLOCK + pos % BLOCK, vals > 0


def _top_k(x, k):
    """``lax.top_k`` kept a partial sort. XLA:CPU rewrites top_k into a full sort followed by
    a slice and back into its TopK kernel only when that slice is the sole use; the event
    paths slice the result at several sizes, so the barrier hides those slices from it."""
    return lax.optimization_barrier(lax.top_k(x, k))


def buckets(k: int) -> tuple[int, ...]:
    """Static sizes an event path is compiled for: 8, 16, 32, ... up to ``k``.

    A step uses the smallest size that holds its spiking units, so its cost follows the
    spikes within a factor of two; ``k`` is the largest."""
    sizes, b = [], CHUNK
    while b < k:
        sizes.append(b)
        b *= 2
    return tuple(sizes) + (k,)


def _which(count, sizes):
    """Index of the smallest of ``sizes`` >= ``count``; ``len(sizes)`` when none is."""
    return sum((count > b).astype(jnp.int32) for b in sizes)


def _events(x):
    """Flags (n,) of the units nonzero in any sample of ``x`` (B, n), and how many there are."""
    flags = jnp.any(x != 0, axis=0)
    return flags, jnp.sum(flags.astype(jnp.int32))


def _once(pred, fn, value):
    """``fn(value)`` if ``pred`` else ``value``, as a while loop of zero or one trip.

    Unlike ``lax.cond``, a loop carry is updated in place: a conditional that returns a large
    matrix makes XLA:CPU copy it on every call. (The converse holds for arrays a loop only
    reads: XLA copies those into the loop, so every large array a loop touches is carried.)"""
    def body(carry):
        return jnp.zeros((), bool), fn(carry[1])
    return lax.while_loop(lambda carry: carry[0], body, (pred, value))[1]


# ---------------------------------------------------------------------------------------------
# Dense weights

def event_matmul(x, w, k: int):
    """``x @ w`` for a mostly-zero ``x`` (B, n_in), summing only the rows of ``w`` (n_in, n_out)
    of units nonzero in each sample: on the CPU by a native kernel (:mod:`ngcspec.native`),
    elsewhere by :func:`event_matmul_xla` with the bound ``k``."""
    x = x.astype(w.dtype)
    return native.on_cpu(native.spike_rows, functools.partial(event_matmul_xla, k=k), x, w)


def event_matmul_xla(x, w, k: int):
    """:func:`event_matmul` in XLA operations. More than ``k`` units nonzero in some sample:
    the dense product.

    The rows are gathered at one of the sizes of :func:`buckets` (a ``lax.switch``, which
    reads ``w`` in place): 8, 16, ... rows, the smallest that holds the spiking units."""
    flags, count = _events(x)
    ids, valid = compact(flags, k)
    sizes = buckets(k)

    def gathered(b):
        def run(x, w):
            sl, ok = ids[:b], valid[:b]
            xs = jnp.where(ok, jnp.take(x, sl, axis=1, mode="clip"), 0.0)
            return xs @ jnp.take(w, sl, axis=0, mode="clip")
        return run

    branches = [gathered(b) for b in sizes] + [lambda x, w: x @ w]
    return lax.switch(_which(count, sizes), branches, x, w)


def event_update(rule: Callable, mats: dict, pre: dict, post: dict, pre_events, post_events,
                 k_pre: int, k_post: int, dense=False) -> dict:
    """New matrices from ``rule``, rewriting only the rows and columns that spikes touch.

    ``rule(mats, pre, post) -> weights`` is the kind's dense update: elementwise in the
    (n_in, n_out) matrices ``mats`` (``mats["weights"]`` among them), reading pre-synaptic
    factors (B, n_in) from ``pre`` and post-synaptic ones (B, n_out) from ``post``. It must
    leave ``W[i, j]`` unchanged unless ``pre_events[:, i]`` or ``post_events[:, j]`` is
    nonzero in some sample (``pre_events`` None: only post events change weights). It is
    called on row blocks (factors of those rows, every post factor), on single columns, or on
    everything (the fallback: ``dense`` true, or more than ``k_pre``/``k_post`` units active).

    Returns ``mats`` with the new weights. Every matrix goes through the loops and comes back
    (unchanged but for the weights): returning them lets XLA keep them in place, where a
    matrix a loop only reads is copied into it. Callers store all of them.
    """
    n_in = mats["weights"].shape[0]
    if pre_events is None:
        row_flags, n_rows = jnp.zeros((n_in,), bool), jnp.zeros((), jnp.int32)
    else:
        row_flags, n_rows = _events(pre_events)
    col_flags, n_cols = _events(post_events)
    use_dense = jnp.asarray(dense) | (n_rows > k_pre) | (n_cols > k_post)

    def set_weights(m, w):
        return {**m, "weights": w.astype(m["weights"].dtype)}

    mats = _once(use_dense, lambda m: set_weights(m, rule(m, pre, post)), mats)

    if pre_events is not None:
        rows, rows_ok = compact(row_flags, k_pre)
        sizes = buckets(k_pre)
        which = jnp.where(use_dense, -1, _which(n_rows, sizes))
        for i, b in enumerate(sizes):
            sl, ok = rows[:b], rows_ok[:b]
            pre_rows = {n: jnp.take(v, sl, axis=1, mode="clip") for n, v in pre.items()}

            def update_rows(m, sl=sl, ok=ok, pre_rows=pre_rows):
                block = {n: jnp.take(v, sl, axis=0, mode="clip") for n, v in m.items()}
                new = rule(block, pre_rows, post)
                return set_weights(m, m["weights"].at[jnp.where(ok, sl, n_in)].set(
                    new.astype(m["weights"].dtype), mode="drop"))

            mats = _once((which == i) & (n_rows > 0), update_rows, mats)

    cols, _ = compact(col_flags, k_post)

    def column(c, m):
        j = cols[c]
        block = {n: lax.dynamic_slice_in_dim(v, j, 1, axis=1) for n, v in m.items()}
        new = rule(block, pre, {n: lax.dynamic_slice_in_dim(v, j, 1, axis=1)
                                for n, v in post.items()})
        old = block["weights"]
        new = jnp.where(row_flags[:, None], old, new.astype(old.dtype))   # rows done above
        return set_weights(m, lax.dynamic_update_slice_in_dim(m["weights"], new, j, axis=1))

    return lax.fori_loop(0, jnp.where(use_dense, 0, n_cols), column, mats)


# ---------------------------------------------------------------------------------------------
# Connection lists

def row_connections(targets, n_out: int):
    """``targets`` with every slot from a row's first empty one on (a target outside
    [0, n_out)) set to ``n_out``: the connections a list holds, as the kernel reads them
    (a row ends at its first empty slot)."""
    ok = (targets >= 0) & (targets < n_out)
    return jnp.where(lax.cummin(ok.astype(jnp.int32), axis=targets.ndim - 1) > 0, targets, n_out)


def dense_from_lists(targets, weights, n_out: int):
    """The dense (n_in, n_out) matrix of connection lists (for checks and plots)."""
    n_in = targets.shape[0]
    rows = jnp.broadcast_to(jnp.arange(n_in)[:, None], targets.shape)
    if weights is None:
        weights = jnp.ones(targets.shape, jnp.float32)
    return jnp.zeros((n_in, n_out), weights.dtype).at[rows, row_connections(targets, n_out)].add(
        weights, mode="drop")


def sparse_transmit(x, targets, weights, n_out: int, k: int, row_start: int = 0):
    """``x[:, rows] @ W`` for connection lists, ``rows`` = ``row_start`` onwards, one per row
    of ``targets``: each nonzero input scatter-adds its row of ``weights`` (1 everywhere when
    None) times its value into its ``targets``. On the CPU a native kernel does it
    (:mod:`ngcspec.native`, reading ``x`` in place), elsewhere :func:`sparse_transmit_xla`
    with the bound ``k``."""
    dtype = weights.dtype if weights is not None else \
        x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    x = x.astype(dtype)
    return native.on_cpu(functools.partial(native.spike_scatter, n_out=n_out, row_start=row_start),
                         functools.partial(sparse_transmit_xla, n_out=n_out, k=k,
                                           row_start=row_start),
                         x, targets, weights)


def sparse_transmit_xla(x, targets, weights, n_out: int, k: int, row_start: int = 0):
    """:func:`sparse_transmit` in XLA operations. Up to ``k`` active units: the rows of the
    active units only, at one of the sizes of :func:`buckets` (cost in proportion to the
    spikes); more: one scatter of every stored connection."""
    x = x[:, row_start:row_start + targets.shape[0]]
    if weights is None:
        weights = jnp.ones(targets.shape, x.dtype)
    flags, count = _events(x)
    ids, valid = compact(flags, k)
    sizes = buckets(k)
    zero = jnp.zeros((x.shape[0], n_out), jnp.result_type(x, weights))

    def gathered(b):
        def run(x, targets, weights):
            sl, ok = ids[:b], valid[:b]
            xs = jnp.where(ok, jnp.take(x, sl, axis=1, mode="clip"), 0.0)     # (B, b)
            t = row_connections(jnp.take(targets, sl, axis=0, mode="clip"), n_out)  # (b, max_out)
            v = xs[:, :, None] * jnp.take(weights, sl, axis=0, mode="clip")[None]
            return zero.at[:, t].add(v.astype(zero.dtype), mode="drop")
        return run

    def everything(x, targets, weights):
        v = x[:, :, None] * weights[None]
        return zero.at[:, row_connections(targets, n_out)].add(v.astype(zero.dtype), mode="drop")

    branches = [gathered(b) for b in sizes] + [everything]
    return lax.switch(_which(count, sizes), branches, x, targets, weights)


# ---------------------------------------------------------------------------------------------
# Sparse synapse kinds

from pydantic import Field, NonNegativeInt, PositiveInt  # noqa: E402

from ngcspec.components import initializers  # noqa: E402
from ngcspec.components.dynamic_synapses import (  # noqa: E402
    ConductanceParams, ExponentialSynapse, _CONDUCTANCE_DEVIATIONS)
from ngcspec.components.synapses import DenseParams  # noqa: E402
from ngcspec.lazy import random  # noqa: E402
from ngcspec.registry import (  # noqa: E402
    Compartment, Component, In, Out, Weight, register)


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
