"""Event-driven execution for spike inputs.

When what enters a synapse is a spike train, most of its rows are idle at any step: the cost
of transmission and of spike-timing plasticity should follow the spikes, not the matrix. This
module holds the machinery the spike synapses share.

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

**Connection lists**: :func:`sparse_transmit` scatter-adds the padded lists of the synapses
stored that way (:mod:`ngcspec.components.sparse_synapses`).
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


def __getattr__(name: str):
    # The connection-list kinds live in sparse_synapses.py; their old address still works.
    if name in ("SparseSynapse", "SparseExponentialSynapse", "SparseParams",
                "SparseConductanceParams"):
        from ngcspec.components import sparse_synapses
        return getattr(sparse_synapses, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
