"""Flatten and ThresholdCell, alone and as NIR's Flatten and Threshold nodes.

Expected values are worked by hand, or written from NIR's stated equations in numpy (a
Threshold is 1 where x - theta > 0, else 0; a Flatten lays a (C, H, W) image out C-major).
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
import yaml

import ngcspec
from ngcspec.registry import get_kind
from ngcspec.single import Single

nir = pytest.importorskip("nir")

from ngcspec import nir as exchange


def _image(h, w, c):
    """inputs[h, w, c] = 100 h + 10 w + c: each value names its own index."""
    return (100 * np.arange(h)[:, None, None] + 10 * np.arange(w)[None, :, None]
            + np.arange(c)[None, None, :]).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# the kinds alone

@pytest.mark.parametrize("order, expected", [
    ("hwc", [0, 1, 10, 11, 100, 101, 110, 111]),      # C fastest, then W, then H
    ("chw", [0, 10, 100, 110, 1, 11, 101, 111]),      # W fastest, then H, then C
])
def test_flatten_orders_by_hand(order, expected):
    with jax.enable_x64(True):
        f = Single("Flatten", shape=[2, 2, 2], order=order, dtype="float64")
        out = f.advance(inputs=_image(2, 2, 2)[None])["outputs"]
    assert np.array_equal(np.asarray(out), np.array([expected], np.float64))


def test_flatten_chw_is_numpys_c_major_flatten_of_the_nir_layout():
    x = np.random.default_rng(1).normal(size=(3, 4, 5, 2)).astype(np.float32)  # (B, H, W, C)
    f = Single("Flatten", shape=[4, 5, 2], order="chw", batch_size=3)
    out = np.asarray(f.advance(inputs=x)["outputs"])
    assert np.array_equal(out, x.transpose(0, 3, 1, 2).reshape(3, -1))


def test_threshold_is_strict_at_theta():
    with jax.enable_x64(True):
        t = Single("ThresholdCell", n_units=5, thr=0.5, dtype="float64")
        s = t.advance(j=np.array([[-3.0, 0.4999, 0.5, 0.5001, 7.0]]))["s"]
    assert np.array_equal(np.asarray(s), [[0.0, 0.0, 0.0, 1.0, 1.0]])   # exactly 0 at theta
    assert Single("ThresholdCell", n_units=2).advance(j=np.array([[0.0, 1e-6]]))["s"].tolist() \
        == [[0.0, 1.0]]   # default theta 0


def test_threshold_cell_holds_images():
    t = Single("ThresholdCell", n_units=12, shape=[2, 3, 2], thr=1.0)
    j = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2) / 6.0
    assert np.array_equal(np.asarray(t.advance(j=j)["s"]), (j > 1.0).astype(np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("kind, params", [
    ("Flatten", {"shape": [2, 3, 4], "order": "chw"}),
    ("Flatten", {"shape": [2, 3, 4]}),
    ("ThresholdCell", {"n_units": 4, "thr": 0.1}),
    ("ThresholdCell", {"n_units": 24, "shape": [2, 3, 4]}),
])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kind_contract(kind, params, batch, dtype):
    """Declared roles and shapes; advance returns only declared outputs and states, in the
    state's dtype; stateless kinds have no evolve."""
    cls = get_kind(kind)
    assert not cls.plastic and not cls.stochastic
    with jax.enable_x64(dtype == "float64"):
        one = Single(kind, batch_size=batch, dtype=dtype, **params)
        for name, c in cls.compartments.items():
            assert c.role in ("input", "output") and c.batched
            assert one[name].shape == (batch, *one.shapes[name]) and one[name].dtype == dtype
        drive = {n: np.random.default_rng(0).normal(size=one[n].shape)
                 for n, c in cls.compartments.items() if c.role == "input"}
        one.set(**drive)
        changed = cls.advance(one.p, one.state, one._ctx())
        assert set(changed) == {n for n, c in cls.compartments.items() if c.role == "output"}
        for name, v in changed.items():
            assert v.shape == one[name].shape and v.dtype == one[name].dtype
        with pytest.raises(TypeError):
            cls.evolve(one.p, one.state, one._ctx())


def test_flatten_wired_to_a_mismatched_synapse_is_a_located_error():
    text = """
ngcspec: 1
name: bad-flatten
components:
  img: {kind: RateCell, n_units: 12, shape: [2, 3, 2], tau_m: 0.0}
  flat: {kind: Flatten, shape: [2, 3, 2]}
  W: {kind: StaticSynapse, shape: [10, 4]}
wires: [img.zF -> flat.inputs, flat.outputs -> W.inputs]
schedule: [reset, advance]
"""
    with pytest.raises(ngcspec.CircuitError) as info:
        ngcspec.load(text)
    assert any("12" in p.message and "10" in p.message for p in info.value.problems)


# ---------------------------------------------------------------------------------------------
# NIR's Flatten and Threshold nodes

def _conv_flatten_affine_threshold(rng, theta):
    c_in, c_out, h, w, n = 2, 3, 4, 5, 7
    k = rng.normal(size=(c_out, c_in, 3, 3)).astype(np.float32)
    kb = rng.normal(size=c_out).astype(np.float32)
    W = rng.normal(0, 0.3, size=(n, c_out * h * w)).astype(np.float32)
    b = rng.normal(size=n).astype(np.float32)
    graph = nir.NIRGraph(
        nodes={"img": nir.Input(input_type={"input": np.array([c_in, h, w])}),
               "conv": nir.Conv2d(input_shape=(h, w), weight=k, stride=1, padding=1, dilation=1,
                                  groups=1, bias=kb),
               "flat": nir.Flatten(input_type={"input": np.array([c_out, h, w])}, start_dim=0,
                                   end_dim=-1),
               "fc": nir.Affine(weight=W, bias=b),
               "th": nir.Threshold(threshold=np.full(n, theta)),
               "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("img", "conv"), ("conv", "flat"), ("flat", "fc"), ("fc", "th"), ("th", "out")])
    return graph, (k, kb, W, b)


def _nir_reference(x, k, kb, W, b, theta):
    """NIR's equations in numpy, float64: conv (padding 1), C-major flatten, W x + b, step."""
    c_out, (_, h, w) = k.shape[0], x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    conv = np.array([[[np.sum(padded[:, i:i + 3, j:j + 3] * k[o]) + kb[o] for j in range(w)]
                      for i in range(h)] for o in range(c_out)])
    flat = conv.reshape(-1)
    a = W.astype(np.float64) @ flat + b
    return conv, flat, a, (a - theta > 0).astype(np.float64)


@pytest.mark.slow
def test_conv_flatten_affine_threshold_graph_against_numpy():
    rng = np.random.default_rng(7)
    theta = 0.3
    graph, (k, kb, W, b) = _conv_flatten_affine_threshold(rng, theta)
    imported = exchange.from_nir(graph, dt=1.0)
    entries = imported.data["components"]
    assert entries["flat"] == {"kind": "Flatten", "shape": [4, 5, 3], "order": "chw"}
    assert entries["th"] == {"kind": "ThresholdCell", "n_units": 7, "thr": theta}
    assert np.array_equal(entries["fc"]["init"]["weights"], W.T)     # NIR's weights, exactly
    circuit = imported.load()
    xs = rng.normal(size=(3, 2, 4, 5)).astype(np.float32)             # 3 samples, (C, H, W)
    state = circuit.init_state(batch_size=3)
    state = {**state, "img": {**state["img"], "j": xs.transpose(0, 2, 3, 1)}}
    state = jax.jit(circuit.step)(circuit.params, state, 0, jax.random.PRNGKey(0))
    conv = np.asarray(state["conv"]["outputs"])                      # (B, H, W, C)
    # the flatten is an exact permutation of the conv's output, in NIR's order
    assert np.array_equal(np.asarray(state["flat"]["outputs"]),
                          conv.transpose(0, 3, 1, 2).reshape(3, -1))
    for i, x in enumerate(xs):
        want_conv, want_flat, want_a, want_s = _nir_reference(x, k, kb, W, b, theta)
        np.testing.assert_allclose(conv[i].transpose(2, 0, 1), want_conv, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(state["flat"]["outputs"])[i], want_flat,
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(state["fc"]["outputs"])[i], want_a, rtol=1e-5,
                                   atol=1e-4)
        assert np.min(np.abs(want_a - theta)) > 1e-3    # no decision within float32 noise
        assert np.array_equal(np.asarray(state["th"]["s"])[i], want_s)
    assert 0 < np.asarray(state["th"]["s"]).sum() < 21  # both sides of the threshold are met


def test_foreign_graph_exports_back_to_the_same_nodes(tmp_path):
    """NIR -> ngcspec file -> NIR: Flatten and Threshold come back as the nodes they were."""
    graph, _ = _conv_flatten_affine_threshold(np.random.default_rng(3), 0.25)
    path = tmp_path / "net.yaml"
    exchange.from_nir(graph, dt=1.0).write(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exchange.NirWarning)
        back = exchange.to_nir(ngcspec.load(path))
    flat, th = back.nodes["flat"], back.nodes["th"]
    assert isinstance(flat, nir.Flatten) and isinstance(th, nir.Threshold)
    assert np.array_equal(flat.input_type["input"], [3, 4, 5])
    assert np.array_equal(flat.output_type["output"], [60])
    assert np.array_equal(th.threshold, np.full(7, 0.25))
    assert np.array_equal(back.nodes["fc"].weight, graph.nodes["fc"].weight)
    assert {("conv", "flat"), ("flat", "fc"), ("fc", "th")} <= set(back.edges)


SHAPED = """
ngcspec: 1
name: shaped
dt: 1.0
seed: 2
components:
  img: {kind: RateCell, n_units: 18, shape: [3, 3, 2], tau_m: 0.0}
  conv: {kind: StaticConvSynapse, shape: [2, 2, 2, 2], x_shape: [3, 3], padding: SAME}
  flat: {kind: Flatten, shape: [3, 3, 2], order: ORDER}
  W: {kind: StaticSynapse, shape: [18, 4]}
  th: {kind: ThresholdCell, n_units: 4, thr: 0.5}
wires: [img.zF -> conv.inputs, conv.outputs -> flat.inputs, flat.outputs -> W.inputs,
        W.outputs -> th.j]
schedule: [reset, advance]
run: {record: {th.s: per_step}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("order", ["chw", "hwc"])
def test_export_import_round_trip_gives_the_same_file(order, tmp_path):
    src = tmp_path / "shaped.yaml"
    src.write_text(SHAPED.replace("ORDER", order))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", exchange.NirWarning)
        graph = exchange.to_nir(ngcspec.load(src))
    told = " ".join(str(w.message) for w in caught)
    if order == "chw":
        assert isinstance(graph.nodes["flat"], nir.Flatten)
        assert "flat (Flatten)" not in told
    else:   # NIR flattens C-major only: the hwc Flatten rides in the metadata, and says so
        assert "flat" not in graph.nodes and "flat (Flatten)" in told
    assert isinstance(graph.nodes["th"], nir.Threshold)
    exchange.write(graph, tmp_path / "shaped.nir")
    imported = exchange.from_nir(exchange.read(tmp_path / "shaped.nir"))
    text, _ = imported.yaml_text("shaped.npz", str(tmp_path))
    assert yaml.safe_load(text) == yaml.safe_load(src.read_text())


def test_hwc_flatten_of_one_channel_is_nirs_flatten():
    """With C = 1 both orders visit the pixels alike, so NIR's node says it exactly."""
    text = SHAPED.replace("ORDER", "hwc").replace("[2, 2, 2, 2]", "[2, 2, 2, 1]") \
        .replace("shape: [3, 3, 2], order", "shape: [3, 3, 1], order").replace("[18, 4]", "[9, 4]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exchange.NirWarning)
        graph = exchange.to_nir(ngcspec.load(text))
    assert np.array_equal(graph.nodes["flat"].input_type["input"], [1, 3, 3])
    assert exchange.from_nir(graph).data["components"]["flat"]["order"] == "hwc"


def test_changed_threshold_is_rebuilt_from_nir(tmp_path):
    src = tmp_path / "shaped.yaml"
    src.write_text(SHAPED.replace("ORDER", "chw"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exchange.NirWarning)
        graph = exchange.to_nir(ngcspec.load(src))
    graph.nodes["th"].threshold = np.full(4, 0.75)          # another tool retunes it
    data = exchange.from_nir(graph).data
    assert data["components"]["th"] == {"kind": "ThresholdCell", "n_units": 4, "thr": 0.75}


def test_flatten_shape_is_taken_from_the_node_before_it():
    graph = nir.NIRGraph(
        nodes={"i": nir.Input(input_type={"input": np.array([2, 3, 4])}),
               "f": nir.Flatten(input_type=None, start_dim=0, end_dim=-1),
               "th": nir.Threshold(threshold=np.zeros(24))},
        edges=[("i", "f"), ("f", "th")], type_check=False)
    entries = exchange.from_nir(graph, dt=1.0).data["components"]
    assert entries["f"] == {"kind": "Flatten", "shape": [3, 4, 2], "order": "chw"}


def test_flat_flatten_passes_through():
    graph = nir.NIRGraph(
        nodes={"i": nir.Input(input_type={"input": np.array([5])}),
               "f": nir.Flatten(input_type={"input": np.array([5])}, start_dim=0, end_dim=-1),
               "th": nir.Threshold(threshold=np.zeros(5))},
        edges=[("i", "f"), ("f", "th")])
    circuit = exchange.from_nir(graph, dt=1.0).load()
    state = circuit.init_state(batch_size=1)
    j = np.array([[-1.0, 0.0, 2.0, -0.5, 3.0]], np.float32)
    state = {**state, "i": {**state["i"], "j": j}}
    state = circuit.step(circuit.params, state, 0, jax.random.PRNGKey(0))
    assert np.asarray(state["th"]["s"]).tolist() == [[0.0, 0.0, 1.0, 0.0, 1.0]]


@pytest.mark.parametrize("node, expected", [
    (nir.Flatten(input_type={"input": np.array([2, 2, 1])}, start_dim=1),
     "flattens (2, 2, 1) to (2, 2)"),
    (nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=0),
     "flattens (2, 2) to (4,)"),
    (nir.Threshold(threshold=np.array([1.0, 2.0, 1.0, 1.0])),
     "'threshold' differs across its 4 neurons"),
])
def test_inexpressible_shaping_nodes_are_named_errors(node, expected):
    graph = nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([4])}), "bad": node},
                         edges=[("i", "bad")], type_check=False)
    with pytest.raises(ngcspec.CircuitError) as info:
        exchange.from_nir(graph, source="net.nir")
    problem = info.value.problems[0]
    assert expected in problem.message and problem.path == "nodes.bad" and problem.file == "net.nir"
