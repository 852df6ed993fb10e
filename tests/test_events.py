"""Event-driven execution and connection-list synapses (ngcspec.components.events).

The event paths must give the dense paths' results, both as native CPU kernels
(ngcspec.native) and as their XLA twins (NGCSPEC_NATIVE=off, what GPUs run): compaction is
checked against numpy, transmission and plasticity against the dense product and the kinds'
own dense update, and whole circuits with ``event_driven: true`` (or sparse kinds) against
the same circuits run dense. Spikes must agree exactly, weights and currents to float
rounding.
"""

import math

import jax
import numpy as np
import pytest

import ngcspec
from ngcspec.components import events
from ngcspec.components.stdp import TraceSTDPSynapse
from ngcspec.components.spiking import counter_uniform
from ngcspec.errors import CircuitError
from ngcspec.registry import get_kind
from ngcspec.single import Single

jnp = jax.numpy
NEW_KINDS = ["SparseSynapse", "SparseExponentialSynapse", "SpikeCounter"]


@pytest.fixture(params=["native", "xla"])
def paths(request, monkeypatch):
    """Run a test with the native CPU kernels (where they build) and with the XLA twins."""
    if request.param == "xla":
        monkeypatch.setenv("NGCSPEC_NATIVE", "off")
    return request.param


def sparse_matrix(rng, shape, p, values=None):
    x = (rng.random(shape) < p).astype(np.float32)
    if values is not None:
        x *= values
    return x


# ---------------------------------------------------------------------------------------------
# Compaction

@pytest.mark.parametrize("n,k", [(50, 8), (784, 32), (3200, 32), (3200, 104), (4000, 16)])
def test_compact_lists_every_nonzero_entry_first(n, k):
    rng = np.random.default_rng(n + k)
    fn = jax.jit(lambda f: events.compact(f, k))
    for count in (0, 1, k // 2, k):
        flags = np.zeros(n, np.float32)
        flags[rng.choice(n, count, replace=False)] = rng.uniform(-2, 2, count)
        flags[flags == 0] = 0.0
        ids, valid = map(np.asarray, fn(flags))
        expect = np.flatnonzero(flags)
        assert valid[:len(expect)].all() and not valid[len(expect):].any()
        assert sorted(ids[valid]) == sorted(expect)
        assert len(np.unique(ids)) == len(ids)                      # distinct, so no clash


def test_buckets_end_at_the_bound():
    assert events.buckets(32) == (8, 16, 32)
    assert events.buckets(104) == (8, 16, 32, 64, 104)
    assert events.buckets(8) == (8,)
    assert events.spike_bound(None, 784, 1) == 32 and events.spike_bound(None, 3200, 1) == 104
    assert events.spike_bound(5, 784, 1) == 8                       # a multiple of CHUNK
    assert events.spike_bound(None, 10, 4) == 16                    # may exceed n: padded


# ---------------------------------------------------------------------------------------------
# Dense weights

@pytest.mark.slow
@pytest.mark.parametrize("batch,p", [(1, 0.01), (3, 0.02), (2, 0.5)])
def test_event_matmul_is_the_dense_product(batch, p, paths):
    rng = np.random.default_rng(batch)
    w = rng.normal(size=(300, 40)).astype(np.float32)
    fn = jax.jit(lambda x, w: events.event_matmul(x, w, 32))
    for _ in range(4):
        # graded and negative values count as events too; p = 0.5 exceeds the bound (dense)
        x = sparse_matrix(rng, (batch, 300), p, rng.uniform(-1, 2, (batch, 300)))
        np.testing.assert_allclose(fn(x, w), x @ w, rtol=1e-5, atol=1e-5)


def _trace_rule(mats, pre, post):
    class P:
        A_plus, A_minus, eta, mu, pretrace_target, w_bound, tau_w = 0.3, 0.2, 1.0, 0.0, 0.1, 1.0, 0.0
    return TraceSTDPSynapse.rule(P, {**mats, **pre, **post}, None)[0]


@pytest.mark.slow
@pytest.mark.parametrize("batch,p_pre,p_post", [(1, 0.05, 0.1), (4, 0.05, 0.1), (2, 0.6, 0.1),
                                                (2, 0.05, 0.9), (3, 0.0, 0.2), (1, 0.1, 0.0)])
def test_event_update_rewrites_what_the_dense_rule_would(batch, p_pre, p_post):
    rng = np.random.default_rng(int(100 * p_pre + 10 * p_post) + batch)
    n_in, n_out = 120, 30
    w = rng.uniform(0, 1, (n_in, n_out)).astype(np.float32)
    mask = (rng.random((n_in, n_out)) < 0.8).astype(np.float32)
    w *= mask
    pre_s = sparse_matrix(rng, (batch, n_in), p_pre)
    post_s = sparse_matrix(rng, (batch, n_out), p_post)
    pre = {"preSpike": pre_s, "preTrace": rng.uniform(0, 1, (batch, n_in)).astype(np.float32)}
    post = {"postSpike": post_s, "postTrace": rng.uniform(0, 1, (batch, n_out)).astype(np.float32)}
    mats = {"weights": w, "mask": mask}
    dense = _trace_rule(mats, pre, post)
    ev = jax.jit(lambda m, a, b: events.event_update(_trace_rule, m, a, b, a["preSpike"],
                                                     b["postSpike"], 16, 8))(mats, pre, post)
    np.testing.assert_allclose(ev["weights"], dense, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ev["mask"], mask)                 # carried through unchanged


# ---------------------------------------------------------------------------------------------
# Whole circuits: event_driven true vs false

NETWORK = """
ngcspec: 1
name: event-vs-dense
dt: 1.0
seed: 3
components:
  W: {kind: KIND, shape: [200, 40], EXTRA resist_scale: 25.0, p_conn: 0.8,
      weight_init: {dist: uniform, low: 0.0, high: 0.3}}
  inp: {kind: PoissonCell, n_units: 200, target_freq: 63.75}
  out: {kind: LIFCell, n_units: 40, tau_m: 20.0, refract_time: 2.0, tau_theta: 0.0, thr: -55.0}
  tr_in: {kind: VarTrace, n_units: 200, tau_tr: 20.0, a_delta: 0.0}
  tr_out: {kind: VarTrace, n_units: 40, tau_tr: 20.0, a_delta: 0.0}
wires:
  - inp.outputs ~> W.inputs
  - W.outputs -> out.j
  - inp.outputs -> tr_in.inputs
  - out.s -> tr_out.inputs
  - PRE
  - out.s -> W.postSpike
  - TRACES
phases:
  run:
    batch_size: BATCH
    clamps: {inp.inputs: 0.5}
    schedule:
      - reset
      - repeat: 150
        do: [advance, {evolve: [W]}]
    record: {out.s: per_step, W.weights: final, W.outputs: per_step}
"""

KINDS = {
    "TraceSTDPSynapse": ("A_plus: 0.02, A_minus: 0.01,", True),
    "ExpSTDPSynapse": ("A_plus: 0.02, A_minus: 0.01, exp_beta: 1.0,", True),
    "EventSTDPSynapse": ("eta: 0.02,", False),
    "MSTDPETSynapse": ("A_plus: 0.02, A_minus: 0.01, tau_elg: 10.0,", True),
}


def _network(kind, event, batch):
    extra, traces = KINDS[kind]
    text = (NETWORK.replace("KIND", kind).replace("BATCH", str(batch))
            .replace("EXTRA", extra + (" event_driven: true, max_spikes: 16," if event else "")))
    if traces:
        text = text.replace("PRE", "inp.outputs -> W.preSpike").replace(
            "TRACES", "tr_in.outputs -> W.preTrace\n  - tr_out.outputs -> W.postTrace")
    else:
        text = text.replace("PRE", "inp.tols -> W.pre_tols").replace("  - TRACES\n", "")
    if kind == "MSTDPETSynapse":
        text = text.replace("clamps: {inp.inputs: 0.5}", "clamps: {inp.inputs: 0.5, W.modulator: 1.0}")
    return text


@pytest.mark.slow
@pytest.mark.parametrize("kind,batch", [("TraceSTDPSynapse", 1), ("TraceSTDPSynapse", 3),
                                        ("ExpSTDPSynapse", 2), ("EventSTDPSynapse", 2),
                                        ("MSTDPETSynapse", 1)])
def test_event_driven_circuit_matches_the_dense_one(kind, batch, paths):
    runs = [ngcspec.load(_network(kind, ev, batch)).run().records for ev in (False, True)]
    dense, event = runs
    spikes = dense["run/out.s"]
    assert spikes.sum() > 20 and spikes.mean() < 0.5                  # sparse, but spiking
    # (at 200 x 0.5 x 6% ~ 6 spikes a step, some steps exceed max_spikes 16: both paths run)
    np.testing.assert_array_equal(event["run/out.s"], spikes)
    np.testing.assert_allclose(event["run/W.outputs"], dense["run/W.outputs"], rtol=1e-5,
                               atol=1e-5)
    w0, w1 = dense["run/W.weights"], event["run/W.weights"]
    assert np.abs(w0 - w1).max() < 1e-6
    assert np.abs(w0 - np.asarray(ngcspec.load(_network(kind, False, batch)).init_state()
                                  ["W"]["weights"])).max() > 1e-3        # it learned


def test_event_driven_parameters_are_structure_and_documented():
    for kind in KINDS:
        cls = get_kind(kind)
        fields = cls.Params.model_fields
        assert {"event_driven", "max_spikes"} <= set(fields)
        assert "event_driven" in cls.__doc__
    assert "event_driven" not in get_kind("BCMSynapse").Params.model_fields


def test_event_driven_reset_clips_weights_into_the_rules_bounds():
    c = Single("TraceSTDPSynapse", shape=[3, 2], A_plus=1.0, A_minus=1.0, event_driven=True,
               w_bound=0.5, weight_init={"dist": "constant", "value": 0.8})
    assert np.allclose(c["weights"], 0.5)


# ---------------------------------------------------------------------------------------------
# Connection lists

@pytest.mark.slow
def test_lists_hold_the_dense_synapses_network(paths):
    kw = dict(shape=[60, 50], p_conn=0.1, seed=7)
    dense = Single("DenseSynapse", weight_init={"dist": "uniform", "low": 0.1, "high": 1.0}, **kw)
    lists = Single("SparseSynapse", weight_init={"dist": "uniform", "low": 0.1, "high": 1.0},
                   batch_size=2, **kw)
    w = np.asarray(dense["weights"]) * np.asarray(dense["mask"])
    p = lists.model
    assert lists["targets"].shape == (60, p.slots) and lists["targets"].dtype == np.int32
    rebuilt = events.dense_from_lists(lists["targets"], lists["weights"], 50)
    np.testing.assert_allclose(rebuilt, w)
    t = np.asarray(lists["targets"])
    for row in t:                                   # targets ascending, empty slots last
        real = row[row < 50]
        assert (np.diff(real) > 0).all() and (row[len(real):] == 50).all()
    rng = np.random.default_rng(0)
    for p_spike in (0.05, 0.9):                     # events, and more than max_spikes (all)
        x = sparse_matrix(rng, (2, 60), p_spike)
        np.testing.assert_allclose(lists.advance(inputs=x)["outputs"], x @ w, rtol=1e-5,
                                   atol=1e-5)


def test_max_out_default_and_truncation():
    assert events.default_max_out(4000, 0.02) == math.ceil(80 + 6 * math.sqrt(80 * 0.98)) + 1
    assert events.default_max_out(10, 1.0) == 10
    c = Single("SparseSynapse", shape=[5, 20], p_conn=1.0, max_out=4,
               weight_init={"dist": "constant", "value": 1.0})
    np.testing.assert_array_equal(c["targets"], np.tile(np.arange(4), (5, 1)))  # the first 4


def test_pre_range_connects_a_sub_population():
    c = Single("SparseSynapse", shape=[10, 6], p_conn=1.0, pre_range=[3, 7],
               weight_init={"dist": "constant", "value": 1.0})
    assert c["targets"].shape == (4, 6)
    x = np.zeros((1, 10), np.float32)
    x[0, [0, 4, 5, 9]] = 1.0                         # only units 4 and 5 are in the range
    np.testing.assert_allclose(c.advance(inputs=x)["outputs"], np.full((1, 6), 2.0))
    bad = """
ngcspec: 1
name: bad
components:
  s: {kind: SparseSynapse, shape: [10, 6], pre_range: [4, 12]}
schedule: [advance]
"""
    with pytest.raises(CircuitError, match="pre_range"):
        ngcspec.load(bad)


LISTS_FROM_FILES = """
ngcspec: 1
name: lists
components:
  s: {kind: KIND, shape: [3, 5], p_conn: 0.5, max_out: 3, INIT}
schedule: [advance]
"""


def _lists_circuit(tmp_path, kind, extra="", **arrays):
    np.savez(tmp_path / "lists.npz", **arrays)
    init = ", ".join(f"{n}: {{file: {tmp_path / 'lists.npz'}, key: {n}}}" for n in arrays)
    return LISTS_FROM_FILES.replace("KIND", kind).replace("INIT", extra + f"init: {{{init}}}")


@pytest.mark.slow
def test_targets_from_a_file_hold_each_rows_connections_first(tmp_path, paths):
    # a row ends at its first empty slot (5 = n_out, or any target outside [0, 5)), so a
    # file whose row has a connection after an empty slot is refused, naming the row
    bad = np.array([[0, 4, 5], [2, 5, 3], [-1, 5, 5]], np.int32)
    text = _lists_circuit(tmp_path, "SparseSynapse", targets=bad)
    with pytest.raises(CircuitError, match=r"row 1 of targets has a connection \(slot 2\) "
                                           r"after an empty slot.*first slots"):
        ngcspec.load(text)
    good = np.array([[0, 4, 5], [2, 3, 7], [-1, 5, 5]], np.int32)
    weights = np.array([[1.0, 2.0, 9.0], [3.0, 4.0, 9.0], [9.0, 9.0, 9.0]], np.float32)
    c = ngcspec.load(_lists_circuit(tmp_path, "SparseSynapse", targets=good, weights=weights))
    state = c.init_state()
    state["s"]["inputs"] = jnp.ones((1, 3), jnp.float32)
    out = c.step(c.params, state, 0, jax.random.PRNGKey(0))
    # unit 0 -> 0 (1.0), 4 (2.0); unit 1 -> 2 (3.0), 3 (4.0); unit 2 none
    np.testing.assert_allclose(out["s"]["outputs"], [[1.0, 0.0, 3.0, 4.0, 2.0]])


def test_non_plastic_lists_refuse_weights_from_a_file(tmp_path):
    # is_nonplastic: every connection has weight 1 and the weights are never read, so a file
    # that gives them would be ignored: refused, with the fix
    weights = np.full((3, 3), 0.5, np.float32)
    kind = "SparseExponentialSynapse"
    extra = "tau_decay: 5.0, g_syn_bar: 1.0, syn_rest: null, "
    with pytest.raises(CircuitError, match="is_nonplastic: false"):
        ngcspec.load(_lists_circuit(tmp_path, kind, extra, weights=weights))
    ngcspec.load(_lists_circuit(tmp_path, kind, extra + "is_nonplastic: false, ",
                                weights=weights))


EI_NETWORK = """
ngcspec: 1
name: ei
dt: 0.1
seed: 11
components:
  EE: {kind: KIND, shape: [160, 160], p_conn: 0.4, tau_decay: 5.0, g_syn_bar: 1.5, syn_rest: 0.0,
       init: {g_syn: {file: INIT, key: ge_e}}}
  EI: {kind: KIND, shape: [160, 40], p_conn: 0.4, tau_decay: 5.0, g_syn_bar: 1.5, syn_rest: 0.0,
       init: {g_syn: {file: INIT, key: ge_i}}}
  IE: {kind: KIND, shape: [40, 160], p_conn: 0.4, tau_decay: 10.0, g_syn_bar: 6.7,
       syn_rest: -80.0, init: {g_syn: {file: INIT, key: gi_e}}}
  II: {kind: KIND, shape: [40, 40], p_conn: 0.4, tau_decay: 10.0, g_syn_bar: 6.7,
       syn_rest: -80.0, init: {g_syn: {file: INIT, key: gi_i}}}
  E: {kind: LIFCell, n_units: 160, tau_m: 20.0, thr: -50.0, v_rest: -60.0, v_reset: -60.0,
      refract_time: 5.0, tau_theta: 0.0, init: {v: {file: INIT, key: v_e}}}
  I: {kind: LIFCell, n_units: 40, tau_m: 20.0, thr: -50.0, v_rest: -60.0, v_reset: -60.0,
      refract_time: 5.0, tau_theta: 0.0, init: {v: {file: INIT, key: v_i}}}
wires:
  - E.s ~> EE.inputs
  - E.s ~> EI.inputs
  - I.s ~> IE.inputs
  - I.s ~> II.inputs
  - E.v ~> EE.v
  - E.v ~> IE.v
  - I.v ~> EI.v
  - I.v ~> II.v
  - EE.outputs -> E.j
  - IE.outputs -> E.j
  - EI.outputs -> I.j
  - II.outputs -> I.j
phases:
  run:
    schedule: [reset, {advance: 500}]
    record: {E.s: per_step, I.s: per_step, EE.g_syn: per_step}
"""


@pytest.mark.slow
def test_sparse_conductance_network_matches_the_dense_masked_one(tmp_path, paths):
    # a small COBA-like E/I network (stronger excitation), kicked off by random initial
    # conductances; 50 ms at dt 0.1
    rng = np.random.default_rng(5)
    init = {"v_e": -65 + 5 * rng.standard_normal(160), "v_i": -65 + 5 * rng.standard_normal(40),
            "ge_e": 8 + 3 * rng.standard_normal(160), "ge_i": 8 + 3 * rng.standard_normal(40),
            "gi_e": 10 + 5 * rng.standard_normal(160), "gi_i": 10 + 5 * rng.standard_normal(40)}
    np.savez(tmp_path / "init.npz", **{k: v.astype(np.float32) for k, v in init.items()})
    runs = {}
    for kind in ("ExponentialSynapse", "SparseExponentialSynapse"):
        text = EI_NETWORK.replace("KIND", kind).replace("INIT", str(tmp_path / "init.npz"))
        runs[kind] = ngcspec.load(text).run().records
    dense, sparse = runs["ExponentialSynapse"], runs["SparseExponentialSynapse"]
    assert dense["run/E.s"].sum() > 50 and dense["run/I.s"].sum() > 10
    np.testing.assert_array_equal(sparse["run/E.s"], dense["run/E.s"])
    np.testing.assert_array_equal(sparse["run/I.s"], dense["run/I.s"])
    np.testing.assert_allclose(sparse["run/EE.g_syn"], dense["run/EE.g_syn"], rtol=1e-5,
                               atol=1e-5)


def test_sparse_exponential_single_spike_kernel():
    c = Single("SparseExponentialSynapse", shape=[3, 2], p_conn=1.0, tau_decay=5.0,
               g_syn_bar=2.0, syn_rest=None)
    g = [float(c.advance(inputs=[[1.0, 0.0, 0.0]] if k == 0 else [[0.0, 0.0, 0.0]])["g_syn"][0, 0])
         for k in range(3)]
    np.testing.assert_allclose(g, [2.0, 1.6, 1.28], rtol=1e-6)       # the reference's numbers


# ---------------------------------------------------------------------------------------------
# Small pieces: counters, the encoders' generator, registration

def test_spike_counter_counts_since_reset():
    c = Single("SpikeCounter", n_units=3, batch_size=2)
    for x in ([[1, 0, 1], [0, 0, 1]], [[1, 1, 0], [0, 0, 1]]):
        c.advance(inputs=x)
    np.testing.assert_array_equal(c["counts"], [[2, 1, 1], [0, 0, 2]])
    c.reset()
    assert float(np.sum(c["counts"])) == 0.0


@pytest.mark.slow
def test_counter_uniform_is_uniform_fresh_and_reproducible():
    key = jax.random.PRNGKey(0)
    u = np.asarray(counter_uniform(key, (1000, 100), jnp.float32)).ravel()
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    np.testing.assert_array_equal(counter_uniform(key, (4, 5), jnp.float32),
                                  counter_uniform(key, (4, 5), jnp.float32))
    other = counter_uniform(jax.random.fold_in(key, 1), (4, 5), jnp.float32)
    assert not np.allclose(other, counter_uniform(key, (4, 5), jnp.float32))
    # counts in equal bins over many keys: chi-square far below its 0.1% tail (df 9: 27.9)
    draws = np.concatenate([np.asarray(counter_uniform(jax.random.fold_in(key, t), (784,),
                                                       jnp.float32)) for t in range(50)])
    hist = np.histogram(draws, bins=10, range=(0, 1))[0]
    expected = len(draws) / 10
    assert ((hist - expected) ** 2 / expected).sum() < 27.9
    with jax.enable_x64(True):
        u64 = np.asarray(counter_uniform(key, (1000,), jnp.float64))
        assert u64.dtype == np.float64 and 0 <= u64.min() and u64.max() < 1
        assert len(np.unique(u64)) == 1000


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_new_kinds_are_registered_and_documented(kind):
    cls = get_kind(kind)
    assert cls is not None and cls.__doc__
    assert all(f.description for f in cls.Params.model_fields.values()), kind
    cls.Params.model_json_schema()
    if kind.startswith("Sparse"):
        assert "Storage" in cls.__doc__ and cls.compartments["targets"].integer
        assert cls.compartments["targets"].persistent and cls.compartments["weights"].persistent
