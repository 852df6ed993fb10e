"""Random connectivity drawn in O(synapses) (ngcspec.components.connectivity).

The connection lists must be the network a dense Bernoulli(p) mask would be: checked with
scipy's binomial test on the number of connections and chi-square tests of the in- and
out-degree distributions against Binomial(n, p). They must not depend on how the rows are
split (the work of several devices, simulated by chunks), must address counters past 2^32
exactly (numpy's uint64 arithmetic as reference), and must reproduce jax.random's own dense
draws entry by entry (so a sparse synapse holds the dense synapse's weights).
"""

import jax
import numpy as np
import pytest
from scipy import stats

from ngcspec.components import connectivity as conn
from ngcspec.components import initializers

jnp = jax.numpy
KEY = jax.random.PRNGKey(20)


def _degrees_fit_binomial(degrees, n, p):
    """Chi-square p-value of ``degrees`` against Binomial(n, p), tails pooled so every bin
    expects at least 5."""
    lo, hi = stats.binom.ppf([1e-4, 1 - 1e-4], n, p).astype(int)
    edges = np.arange(lo, hi + 1)
    observed = np.array([np.sum(degrees <= lo)] + [np.sum(degrees == k) for k in edges[1:-1]]
                        + [np.sum(degrees >= hi)], float)
    expected = len(degrees) * np.concatenate([[stats.binom.cdf(lo, n, p)],
                                              stats.binom.pmf(edges[1:-1], n, p),
                                              [stats.binom.sf(hi - 1, n, p)]])
    while expected[0] < 5:                                   # pool the thin tails
        observed[1] += observed[0]
        expected[1] += expected[0]
        observed, expected = observed[1:], expected[1:]
    while expected[-1] < 5:
        observed[-2] += observed[-1]
        expected[-2] += expected[-1]
        observed, expected = observed[:-1], expected[:-1]
    return stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue


@pytest.mark.slow
@pytest.mark.parametrize("n_in,n_out,p", [(3000, 2000, 0.02), (800, 600, 0.3),
                                          (400, 100_000, 80 / 100_000)])
def test_degrees_follow_the_requested_probability(n_in, n_out, p):
    max_out = conn.default_max_out(n_out, p)
    t = np.asarray(jax.jit(lambda k: conn.draw_targets(k, p, (n_in, n_out), max_out))(KEY))
    real = t < n_out
    total = int(real.sum())
    assert stats.binomtest(total, n_in * n_out, p).pvalue > 1e-3
    out_degree = real.sum(axis=1)
    assert _degrees_fit_binomial(out_degree, n_out, p) > 1e-3
    in_degree = np.bincount(t[real], minlength=n_out)
    if n_in * p >= 5:
        assert _degrees_fit_binomial(in_degree, n_in, p) > 1e-3
    # distinct targets, ascending, empty slots at the end
    assert (np.diff(t, axis=1)[real[:, 1:]] > 0).all()
    assert (real[:, 1:] <= real[:, :-1]).all()


@pytest.mark.slow
def test_an_off_by_one_gap_would_be_caught():
    # the same counts for gaps one longer (p' = p / (1 + p)) must fail the binomial test the
    # first test uses, or that test could not see such a bug
    n_in, n_out, p = 3000, 2000, 0.02
    t = np.asarray(conn.draw_targets(KEY, p / (1 + p), (n_in, n_out), 100))
    assert stats.binomtest(int((t < n_out).sum()), n_in * n_out, p).pvalue < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("pieces", [[500], [250, 250],
                                    pytest.param([1, 199, 300], marks=pytest.mark.slow),
                                    pytest.param([123, 77, 100, 200], marks=pytest.mark.slow)])
def test_rows_are_the_same_whatever_the_split(pieces, monkeypatch):
    shape, p, max_out = (500, 3000), 0.01, 60
    init = initializers.parse({"dist": "gaussian", "mean": 0.5, "std": 0.1})
    t_all, w_all = map(np.asarray, conn.draw_connections(KEY, p, shape, max_out, init,
                                                         jnp.float32))
    monkeypatch.setattr(conn, "CHUNK_ENTRIES", 7 * max_out)   # chunks of 7 rows inside too
    starts = np.cumsum([0] + pieces)
    parts = [conn.draw_connections(KEY, p, shape, max_out, init, jnp.float32, int(a), int(b))
             for a, b in zip(starts[:-1], starts[1:])]
    np.testing.assert_array_equal(np.concatenate([np.asarray(t) for t, _ in parts]), t_all)
    np.testing.assert_array_equal(np.concatenate([np.asarray(w) for _, w in parts]), w_all)


@pytest.mark.slow
def test_dense_mask_holds_the_lists_connections():
    shape, p = (300, 400), 0.05
    mask = np.asarray(conn.draw_mask(KEY, p, shape, jnp.float32))
    t = np.asarray(conn.draw_targets(KEY, p, shape, conn.default_max_out(400, p)))
    rebuilt = np.zeros((300, 401))
    np.put_along_axis(rebuilt, t, 1.0, axis=1)
    np.testing.assert_array_equal(rebuilt[:, :400], mask)
    # a list shorter than a row keeps the row's first connections, in column order
    short = np.asarray(conn.draw_targets(KEY, p, shape, 5))
    np.testing.assert_array_equal(short, t[:, :5])
    assert np.asarray(conn.draw_mask(KEY, 1.0, (3, 4), jnp.float32)).all()
    np.testing.assert_array_equal(conn.draw_targets(KEY, 1.0, (2, 5), 3), [[0, 1, 2]] * 2)


def test_counters_past_two_to_the_32_are_exact():
    rows = np.array([0, 1, 4295, 799_999, 999_999, 2**31 - 1], np.uint64)
    cols = np.array([5, 999_999, 967_296, 3, 999_999, 2**31 - 1], np.uint64)
    for n_cols in (1_000_000, 2**32 - 1, 65_537):
        hi, lo = conn.flat_counter(jnp.asarray(rows.astype(np.uint32)),
                                   jnp.asarray(cols.astype(np.uint32)), n_cols)
        full = rows * np.uint64(n_cols) + cols
        np.testing.assert_array_equal(hi, (full >> np.uint64(32)).astype(np.uint32))
        np.testing.assert_array_equal(lo, (full & np.uint64(0xFFFFFFFF)).astype(np.uint32))


@pytest.mark.slow
def test_rows_of_a_million_unit_network_draw_alone():
    # rows 800,000.. of 1,000,000 x 1,000,000: counters beyond 2^32, and only 50 rows drawn
    n, p = 1_000_000, 80 / 1_000_000
    max_out = conn.default_max_out(n, p)
    far = np.asarray(conn.draw_targets(KEY, p, (n, n), max_out, 800_000, 800_050))
    near = np.asarray(conn.draw_targets(KEY, p, (n, n), max_out, 0, 50))
    assert far.shape == (50, max_out) and not np.array_equal(far, near)
    assert stats.binomtest(int((far < n).sum()), 50 * n, p).pvalue > 1e-3


@pytest.mark.slow
def test_bits_are_jax_randoms_bits():
    shape = (37, 53)
    rows, cols = jnp.arange(37)[:, None], jnp.arange(53)[None, :]
    np.testing.assert_array_equal(conn.entry_bits(KEY, shape, rows, cols),
                                  jax.random.bits(KEY, shape))
    np.testing.assert_array_equal(conn.entry_bits(jax.random.key(20), shape, rows, cols),
                                  jax.random.bits(KEY, shape))


INITS = [{"dist": "uniform", "low": 0.1, "high": 1.0}, {"dist": "uniform", "low": -0.3, "high": 0.7},
         {"dist": "gaussian", "mean": 1.0, "std": 0.3}, {"dist": "fan_in_gaussian"},
         {"dist": "fan_in_uniform"}, {"dist": "log_gaussian", "sigma": 0.5},
         {"dist": "constant", "value": 2.0, "hollow": True},
         {"dist": "diag_offdiag", "on_diag": 1.0, "off_diag": 0.5, "lower_triangle": True},
         {"dist": "uniform", "upper_triangle": True, "eye": True},
         {"dist": "gaussian", "amin": -0.5, "amax": 0.5, "col_mask": 10, "row_mask": [1, 2, 30]}]


@pytest.mark.slow
@pytest.mark.parametrize("inits", [INITS[1:3], pytest.param(INITS, marks=pytest.mark.slow)],
                         ids=["two", "all"])
def test_weight_entries_are_the_dense_draws(inits):
    shape = (37, 53)
    rows = jnp.asarray([[0], [5], [36]])
    cols = jnp.asarray([[0, 5, 52, 17], [3, 5, 6, 40], [36, 0, 1, 52]])

    def both(init, dtype):
        dense = jax.jit(lambda k: initializers.draw(init, shape, k, dtype))(KEY)
        some = jax.jit(lambda k: conn.weight_entries(init, shape, k, rows, cols, dtype))(KEY)
        assert some.dtype == np.dtype(dtype)
        return some, np.asarray(dense)[rows, cols]

    for spec in inits:
        np.testing.assert_array_equal(*both(initializers.parse(spec), "float32"), err_msg=spec)
    for spec in INITS[1:3]:
        init = initializers.parse(spec)
        with jax.enable_x64(True):
            np.testing.assert_array_equal(*both(init, "float64"), err_msg=spec)
        # eagerly too (random.uniform compiles itself; rounding must follow it)
        np.testing.assert_array_equal(conn.weight_entries(init, shape, KEY, rows, cols, "float32"),
                                      np.asarray(initializers.draw(init, shape, KEY))[rows, cols])


def test_drawing_lists_never_allocates_the_dense_matrix():
    # 2,000 rows of a 100,000 x 100,000 network: the dense rows would be 800 MB
    fn = jax.jit(lambda k: conn.draw_connections(
        k, 80 / 100_000, (100_000, 100_000), 135,
        initializers.parse({"dist": "uniform"}), jnp.float32, 0, 2000))
    mem = fn.lower(KEY).compile().memory_analysis()
    if mem is None:
        pytest.skip("no memory analysis on this backend")
    lists = 2000 * 135 * 4
    assert mem.temp_size_in_bytes < 20 * lists and mem.output_size_in_bytes < 2 * lists + 1024
