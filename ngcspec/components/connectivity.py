"""Random connectivity drawn in O(synapses), one counter-based stream per pre-synaptic row.

A connection list drawn from a dense Bernoulli(p) mask costs O(n_in n_out) time and memory
at init: 10^10 draws for 100,000 neurons, where the network has 8 * 10^6 synapses. Here the
connections of row ``i`` are the positions of a Bernoulli(p) process along its ``n_out``
columns, generated gap by gap: the distance to the next connection is Geometric(p), drawn by
inverting its distribution function on a uniform (an exact Bernoulli process, not an
approximation). Row ``i``'s ``k``-th uniform is a pure function of ``(key, i, k)``: the
threefry hash of the counter ``i * n_out + k``, the layout of ``jax.random`` for an
``(n_in, n_out)`` draw. Hence:

- a row costs O(max_out) and a list O(n_in max_out) = O(synapses);
- any subset of rows (a chunk of the work, one device's share) draws on its own and gets
  the rows the whole draw has: the network does not depend on how the work is split;
- a dense synapse draws its mask (:func:`draw_mask`) from the same uniforms, taking every
  gap of a row, so a dense and a sparse synapse of one name and seed hold the same
  connections (the lists keep a row's first ``max_out``, in column order).

Weights stay what the dense synapses draw, ``initializers.draw(weight_init, (n_in, n_out),
k_w)``: with JAX's partitionable threefry (its default since 0.5) entry ``(i, j)`` of a draw
is the hash of counter ``i * n_out + j``, so :func:`weight_entries` computes just the
entries a list holds, bit for bit. (With ``jax_threefry_partitionable`` off it falls back to
the dense draw and a gather: same numbers, O(n_in n_out) memory.)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ngcspec.lazy import jnp, lax, random

#: Entries (rows x slots) drawn per chunk: bounds the temporaries of a large draw.
CHUNK_ENTRIES = 1 << 22


def default_max_out(n_out: int, p_conn: float) -> int:
    """Room per pre-synaptic unit: the mean n_out p plus six standard deviations (+1).

    A unit drawn with more targets keeps the first ``max_out`` (in target order); at six
    standard deviations that happens to about one unit in 10^9."""
    mean = n_out * p_conn
    return max(1, min(n_out, math.ceil(mean + 6.0 * math.sqrt(mean * (1.0 - p_conn))) + 1))


# ---------------------------------------------------------------------------------------------
# Counter-based bits

def _key_words(key):
    """The two uint32 words of a threefry key (a raw ``PRNGKey`` or a typed key)."""
    import jax

    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = random.key_data(key)
    if key.shape != (2,):
        raise ValueError(f"connection draws need a threefry key (2 words), got shape {key.shape}")
    return key[0], key[1]


def _mul_wide(a, b: int):
    """(hi, lo) uint32 words of the 64-bit product of uint32 ``a`` and a Python int ``b``
    (< 2^32), by 16-bit halves: without x64 there is no 64-bit integer to do it in."""
    u32 = jnp.uint32
    a0, a1 = a & u32(0xFFFF), a >> u32(16)
    b0, b1 = u32(b & 0xFFFF), u32(b >> 16)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1      # each < 2^32
    mid = (p00 >> u32(16)) + (p01 & u32(0xFFFF)) + (p10 & u32(0xFFFF))
    lo = (mid << u32(16)) | (p00 & u32(0xFFFF))
    hi = p11 + (p01 >> u32(16)) + (p10 >> u32(16)) + (mid >> u32(16))
    return hi, lo


def flat_counter(rows, cols, n_cols: int):
    """(hi, lo) uint32 words of ``rows * n_cols + cols``, exact beyond 2^32."""
    hi, lo = _mul_wide(jnp.asarray(rows).astype(jnp.uint32), n_cols)
    lo2 = lo + jnp.asarray(cols).astype(jnp.uint32)
    return hi + (lo2 < lo).astype(jnp.uint32), lo2


def entry_bits(key, shape, rows, cols, nbits: int = 32):
    """``random.bits(key, shape)[rows, cols]`` under partitionable threefry, computed for the
    given entries only (``rows`` and ``cols`` broadcast together)."""
    from jax.extend.random import threefry2x32_p

    k1, k2 = _key_words(key)
    hi, lo = flat_counter(rows, cols, shape[1])
    b1, b2 = threefry2x32_p.bind(k1, k2, hi, lo)
    if nbits == 64:
        return (b1.astype(jnp.uint64) << jnp.uint64(32)) | b2.astype(jnp.uint64)
    return b1 ^ b2


def uniform_from_bits(bits, dtype, low=0.0, high=1.0):
    """The float ``random.uniform`` makes of ``bits``: the top mantissa bits under exponent 0,
    minus 1, scaled to [low, high).

    Compiled as one program taking the bounds as arguments, as ``random.uniform`` is: XLA
    may fuse the scaling into a multiply-add, so the rounding depends on it (eager calls and
    calls inside a larger program round alike only if both sides are built alike)."""
    dtype = np.dtype(dtype)
    return _compiled(_uniform, 1)(bits, dtype.name, np.asarray(low, dtype), np.asarray(high, dtype))




def _uniform(bits, dtype, lo, hi):
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    uint = bits.dtype
    one = np.array(1.0, dtype).view(uint)
    fbits = (bits >> np.array(info.bits - info.nmant, uint)) | one
    floats = lax.bitcast_convert_type(fbits, dtype) - np.array(1.0, dtype)
    return jnp.maximum(lo, floats * (hi - lo) + lo)


def normal_from_bits(bits, dtype):
    """The float ``random.normal`` makes of ``bits``: sqrt(2) erfinv(u), u uniform on (-1, 1)."""
    dtype = np.dtype(dtype)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = uniform_from_bits(bits, dtype, lo, 1.0)
    return np.array(np.sqrt(2), dtype) * lax.erf_inv(u)


# ---------------------------------------------------------------------------------------------
# Connections

def _positions(key, p_conn: float, shape, rows, n_gaps: int):
    """Column of each of the first ``n_gaps`` connections of ``rows`` (R,), (R, n_gaps) int32;
    ``n_out`` where the row has fewer."""
    n_out = shape[1]
    cap = n_out + 1
    if p_conn >= 1.0:
        gaps = jnp.ones((rows.shape[0], n_gaps), jnp.int32)
    else:
        k = jnp.arange(n_gaps, dtype=jnp.uint32)
        u = uniform_from_bits(entry_bits(key, shape, rows[:, None], k[None, :]), np.float32)
        # Geometric(p) on {1, 2, ...}: P(gap > g) = (1 - p)^g, inverted on 1 - u in (0, 1]
        g = jnp.floor(jnp.log1p(-u) / np.float32(math.log1p(-p_conn))) + 1.0
        gaps = jnp.clip(g, 1.0, float(cap)).astype(jnp.int32)
    # running sum that saturates at n_out + 1, so no row can overflow int32
    pos = lax.associative_scan(lambda a, b: jnp.minimum(a + b, cap), gaps, axis=1) - 1
    return jnp.minimum(pos, n_out)


def draw_targets(key, p_conn: float, shape, max_out: int, start: int = 0, stop: int | None = None):
    """Targets of rows ``start`` to ``stop`` of an (n_in, n_out) Bernoulli(p_conn) network,
    (stop - start, max_out) int32, ascending, ``n_out`` in empty slots.

    Row ``i`` depends on ``key`` and ``i`` only, so rows drawn in any split are the rows of
    the whole draw. Work and memory O(rows * max_out), in chunks of :data:`CHUNK_ENTRIES`."""
    stop = shape[0] if stop is None else stop
    args = (float(p_conn), tuple(int(n) for n in shape), min(int(max_out), int(shape[1])),
            int(stop) - int(start), CHUNK_ENTRIES)
    return _compiled(_targets, 2, 3, 4, 5, 6)(key, jnp.uint32(start), *args)


def _targets(key, start, p_conn, shape, max_out, n, chunk_entries):
    per = max(1, chunk_entries // max_out)
    if n <= per:
        return _positions(key, p_conn, shape, start + jnp.arange(n, dtype=jnp.uint32), max_out)
    n_chunks = -(-n // per)
    firsts = start + per * jnp.arange(n_chunks, dtype=jnp.uint32)
    chunks = lax.map(lambda r0: _positions(key, p_conn, shape,
                                           r0 + jnp.arange(per, dtype=jnp.uint32), max_out),
                     firsts)
    return chunks.reshape(n_chunks * per, max_out)[:n]


def draw_mask(key, p_conn: float, shape, dtype):
    """The dense (n_in, n_out) 0/1 mask of the network :func:`draw_targets` draws (every
    connection of every row: no ``max_out``). O(n_in n_out), as the matrix it fills."""
    if p_conn >= 1.0:
        return jnp.ones(shape, dtype)
    return _compiled(_mask, 1, 2, 3)(key, float(p_conn), tuple(int(n) for n in shape),
                                     np.dtype(dtype).name)


def _mask(key, p_conn, shape, dtype):
    n_in, n_out = shape
    pos = _positions(key, p_conn, shape, jnp.arange(n_in, dtype=jnp.uint32), n_out)
    rows = jnp.broadcast_to(jnp.arange(n_in)[:, None], pos.shape)
    return jnp.zeros((n_in, n_out + 1), dtype).at[rows, pos].set(1)[:, :n_out]


@functools.cache
def _compiled(fn, *static):
    """``fn`` compiled once (inlined where a caller is compiled): the draws are many small
    operations, slow one by one when a synapse is built eagerly."""
    import jax

    return jax.jit(fn, static_argnums=static)


# Complexity over 10 on purpose: one branch per initializer distribution, each the entry-wise twin
# of initializers.draw.
def weight_entries(init, shape, key, rows, cols, dtype):  # noqa: C901
    """``initializers.draw(init, shape, key, dtype)[rows, cols]`` for a 2-D ``shape``,
    computed for those entries only (``rows`` and ``cols`` broadcast together)."""
    import jax

    from ngcspec.components import initializers

    dtype = np.dtype(dtype)
    if not jax.config.jax_threefry_partitionable:             # entries not addressable
        return initializers.draw(init, shape, key, dtype)[rows, cols]
    rows, cols = jnp.broadcast_arrays(jnp.asarray(rows), jnp.asarray(cols))
    k_values, k_masks = random.split(key)
    bits = (lambda: entry_bits(k_values, shape, rows, cols, np.finfo(dtype).bits))
    d = init.dist
    if d == "constant":
        w = jnp.full(rows.shape, init.value, dtype)
    elif d == "uniform":
        w = uniform_from_bits(bits(), dtype, init.low, init.high)
    elif d == "gaussian":
        w = init.mean + init.std * normal_from_bits(bits(), dtype)
    elif d == "fan_in_gaussian":
        w = math.sqrt(1.0 / shape[0]) * normal_from_bits(bits(), dtype)
    elif d == "fan_in_uniform":
        r = math.sqrt(1.0 / shape[0])
        w = uniform_from_bits(bits(), dtype, -r, r)
    elif d == "log_gaussian":
        w = jnp.exp(init.sigma * normal_from_bits(bits(), dtype))
    elif d == "diag_offdiag":
        w = jnp.where(rows == cols, init.on_diag, init.off_diag).astype(dtype)
    else:
        raise ValueError(f"unknown initialiser {d!r}")
    if init.amin is not None:
        w = jnp.maximum(w, init.amin)
    if init.amax is not None:
        w = jnp.minimum(w, init.amax)
    zero = jnp.zeros((), dtype)
    if init.lower_triangle:
        w = jnp.where(cols <= rows, w, zero)
    if init.upper_triangle:
        w = jnp.where(cols >= rows, w, zero)
    if init.hollow:
        w = jnp.where(rows == cols, zero, w)
    if init.eye:
        w = jnp.where(rows == cols, w, zero)
    k_col, k_row = random.split(k_masks)
    if init.col_mask is not None:
        w = w * initializers._keep(init.col_mask, shape[1], k_col, dtype)[cols]
    if init.row_mask is not None:
        w = w * initializers._keep(init.row_mask, shape[0], k_row, dtype)[rows]
    return jnp.asarray(w, dtype)


def draw_connections(key, p_conn: float, shape, max_out: int, weight_init, dtype,
                     start: int = 0, stop: int | None = None):
    """Connection lists of rows ``start`` to ``stop`` of the network a dense synapse with
    this ``key`` (split as the dense synapses split it: ``k_w, k_b, k_mask``) holds.

    Returns ``targets`` (rows, max_out) int32 (``n_out`` marks an empty slot) and
    ``weights``: the dense draw of ``weight_init`` at each connection (1 when
    ``weight_init`` is None), 0 in empty slots. O(rows * max_out) time and memory."""
    stop = shape[0] if stop is None else stop
    args = (float(p_conn), tuple(int(n) for n in shape), min(int(max_out), int(shape[1])),
            weight_init, np.dtype(dtype).name, int(stop) - int(start), CHUNK_ENTRIES)
    return _compiled(_connections, 2, 3, 4, 5, 6, 7, 8)(key, jnp.uint32(start), *args)


def _connections(key, start, p_conn, shape, max_out, weight_init, dtype, n, chunk_entries):
    n_out = shape[1]
    k_w, _, k_mask = random.split(key, 3)
    targets = _targets(k_mask, start, p_conn, shape, max_out, n, chunk_entries)
    ok = targets < n_out
    if weight_init is None:
        return targets, ok.astype(dtype)
    rows = (start + jnp.arange(n, dtype=jnp.uint32)).astype(jnp.int32)[:, None]
    w = weight_entries(weight_init, shape, k_w, rows, jnp.minimum(targets, n_out - 1), dtype)
    return targets, jnp.where(ok, w, 0.0).astype(dtype)
