"""NIR exchange: export and import hold the numbers, not only the structure.

References are written here from NIR's stated equations (forward Euler at the import's dt),
never from ngcspec's output.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

nir = pytest.importorskip("nir")

import ngcspec  # noqa: E402
from ngcspec import nir as exchange  # noqa: E402
from ngcspec.cli.app import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CIRCUITS = ROOT / "circuits"


def _quiet_export(circuit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exchange.NirWarning)
        return exchange.to_nir(circuit)


def _spikes(result, ref):
    return np.asarray(result.records[f"run/{ref}"])[0, :, 0]


def _lif_network(tmp_path: Path, stimulus: np.ndarray) -> str:
    """x (a pass-through clamped with a current) -> W -> z (LIF), with recurrence z ~> R -> z."""
    np.save(tmp_path / "drive.npy", stimulus)
    return f"""
ngcspec: 1
name: lif-net
dt: 0.25
seed: 3
components:
  x: {{kind: RateCell, n_units: 4, tau_m: 0.0}}
  W: {{kind: StaticSynapse, shape: [4, 6], weight_init: {{dist: gaussian, std: 2.0}},
      bias_init: {{dist: uniform, low: 0.0, high: 0.5}}}}
  R: {{kind: StaticSynapse, shape: [6, 6], weight_init: {{dist: gaussian, std: 1.5}}}}
  z: {{kind: LIFCell, n_units: 6, tau_m: 4.0, resist_m: 1.5, thr: 1.0, v_rest: 0.0,
      v_reset: -0.2, tau_theta: 0.0, refract_time: 0.0}}
wires:
  - x.zF -> W.inputs
  - W.outputs -> z.j
  - z.s ~> R.inputs
  - R.outputs -> z.j
clamps: {{x.j: {{stimulus: {tmp_path / 'drive.npy'}}}}}
schedule: [reset, {{advance: {len(stimulus)}}}]
run: {{record: {{z.s: per_step}}}}
"""


@pytest.mark.slow
def test_handwritten_affine_lif_graph_runs_nirs_equations():
    """NIR's documented example, a LIF layer fed by an Affine, against numpy Euler steps of
    tau dv/dt = (v_leak - v) + r (W x + b), spike where v > v_threshold, v = v_reset."""
    rng = np.random.default_rng(0)
    n_in, n, T, dt = 4, 5, 80, 0.5
    W = rng.normal(0, 1, (n, n_in)).astype(np.float32)
    b = rng.normal(0, 0.1, n).astype(np.float32)
    tau, r, v_leak, v_thr, v_reset = 5.0, 1.5, 0.2, 1.0, -0.1
    graph = nir.NIRGraph.from_list(
        nir.Affine(weight=W, bias=b),
        nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak),
                v_threshold=np.full(n, v_thr), v_reset=np.full(n, v_reset)))
    x = rng.uniform(0, 3, (T, n_in)).astype(np.float32)
    imported = exchange.from_nir(graph, dt=dt)
    imported.data["clamps"] = {"input.j": {"constant": 0.0}}
    circuit = imported.load()
    # the imported graph clamped with a per-step current (the stimulus written inline)
    data = yaml.safe_load(imported.yaml_text()[0])
    assert data["dt"] == dt and data["components"]["lif"]["tau_m"] == tau
    state = circuit.init_state(batch_size=1)
    import jax
    step = jax.jit(circuit.step)
    got = []
    for t in range(T):
        state = {**state, "input": {**state["input"], "j": x[t][None]}}
        state = step(circuit.params, state, t, jax.random.PRNGKey(0))
        got.append(np.asarray(state["lif"]["s"])[0])
    v = np.full(n, v_leak)   # cells start at rest
    want = []
    for t in range(T):
        v = v + dt / tau * ((v_leak - v) + r * (W.astype(np.float64) @ x[t] + b))
        z = v > v_thr
        v = np.where(z, v_reset, v)
        want.append(z)
    assert np.array_equal(np.array(got), np.array(want, np.float32))
    assert np.array(want).sum() > 10      # the drive makes the layer fire


@pytest.mark.slow
def test_cuba_lif_runs_current_then_membrane():
    """CubaLIF: tau_syn dI/dt = -I + w_in S, then the LIF equation on the new current."""
    n, T, dt = 3, 60, 1.0
    tau_syn, tau_mem, w_in, r, thr = 4.0, 8.0, 2.0, 1.0, 0.5
    graph = nir.NIRGraph(
        nodes={"inp": nir.Input(input_type={"input": np.array([n])}),
               "cu": nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem),
                                 r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.full(n, thr),
                                 v_reset=np.zeros(n), w_in=np.full(n, w_in)),
               "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("inp", "cu"), ("cu", "out")])
    spikes_in = (np.random.default_rng(1).uniform(size=(T, n)) < 0.3).astype(np.float32)
    imported = exchange.from_nir(graph, dt=dt)
    assert imported.data["wires"][0] == "cu_syn.zF -> cu.j"
    circuit = imported.load()
    import jax
    state = circuit.init_state(batch_size=1)
    got = []
    for t in range(T):
        state = {**state, "inp": {**state["inp"], "j": spikes_in[t][None]}}
        state = circuit.step(circuit.params, state, t, jax.random.PRNGKey(0))
        got.append(np.asarray(state["cu"]["s"])[0])
    i_syn, v, want = np.zeros(n), np.zeros(n), []
    for t in range(T):
        i_syn = i_syn + dt / tau_syn * (-i_syn + w_in * spikes_in[t])
        v = v + dt / tau_mem * (-v + r * i_syn)
        z = v > thr
        v = np.where(z, 0.0, v)
        want.append(z)
    assert np.array_equal(np.array(got), np.array(want, np.float32))
    assert np.array(want).sum() > 3


@pytest.mark.slow
def test_lif_network_exported_and_imported_spikes_identically(tmp_path):
    T = 120
    drive = np.random.default_rng(2).uniform(0, 1.2, (T, 4)).astype(np.float32)
    text = _lif_network(tmp_path, drive)
    original = ngcspec.load(text)
    want = _spikes(original.run(), "z.s")
    assert 5 < want.sum() < want.size - 5
    exchange.write(_quiet_export(original), tmp_path / "net.nir")
    graph = exchange.read(tmp_path / "net.nir")
    assert set(graph.nodes) >= {"x", "W", "R", "z"} and isinstance(graph.nodes["x"], nir.Input)
    assert isinstance(graph.nodes["W"], nir.Affine) and isinstance(graph.nodes["R"], nir.Linear)
    weights = np.asarray(original.init_state(batch_size=1)["W"]["weights"])
    assert np.array_equal(graph.nodes["W"].weight, weights.T)        # exactly, transposed
    # back into ngcspec through the metadata: the same file, the same spikes
    restored = exchange.from_nir(graph)
    assert restored.data["components"] == yaml.safe_load(text)["components"]
    assert np.array_equal(_spikes(restored.load().run(), "z.s"), want)
    # as another tool writes it (no ngcspec metadata): rebuilt from NIR's numbers alone
    for node in graph.nodes.values():
        node.metadata = {}
    foreign = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges)
    rebuilt = exchange.from_nir(foreign, dt=0.25)
    assert "z.s ~> R.inputs" in rebuilt.data["wires"]        # the loop's edge reads one step late
    rebuilt.data["clamps"] = {"x.j": {"stimulus": str(tmp_path / "drive.npy")}}
    rebuilt.data["schedule"] = ["reset", {"advance": T}]
    assert np.array_equal(_spikes(rebuilt.load().run(), "z.s"), want)


def test_weights_changed_by_another_tool_are_imported_exactly(tmp_path):
    text = (CIRCUITS / "diehl_cook_digits.yaml").read_text()
    graph = _quiet_export(ngcspec.load(CIRCUITS / "diehl_cook_digits.yaml"))
    trained = np.random.default_rng(4).uniform(0, 0.3, graph.nodes["W1"].weight.shape).astype(np.float32)
    graph.nodes["W1"].weight = trained
    graph.nodes["z1i"].tau = np.full_like(graph.nodes["z1i"].tau, 50.0)
    imported = exchange.from_nir(graph)
    assert any("W1" in w and "z1i" in w for w in imported.warnings)
    w1 = imported.data["components"]["W1"]
    original = yaml.safe_load(text)["components"]
    assert w1["kind"] == "TraceSTDPSynapse" and w1["A_plus"] == original["W1"]["A_plus"]
    assert imported.data["components"]["z1i"]["tau_m"] == 50.0
    assert imported.data["components"]["z1i"]["refract_time"] == 5.0     # kept from metadata
    out = tmp_path / "dc.yaml"
    imported.origin_dir = str(CIRCUITS)
    imported.write(out)
    state = ngcspec.load(out).init_state(batch_size=1)
    assert np.array_equal(np.asarray(state["W1"]["weights"]), trained.T)


@pytest.mark.parametrize("name", ["lif_fI", "diehl_cook_digits"])
def test_round_trip_gives_back_the_file(name, tmp_path):
    _round_trip(CIRCUITS / f"{name}.yaml", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(CIRCUITS.glob("*.yaml")), ids=lambda p: p.stem)
def test_round_trip_every_shipped_circuit(path, tmp_path):
    _round_trip(path, tmp_path)


def _round_trip(path: Path, tmp_path: Path) -> None:
    graph = _quiet_export(ngcspec.load(path))
    exchange.write(graph, tmp_path / "c.nir")
    imported = exchange.from_nir(exchange.read(tmp_path / "c.nir"))
    # written beside the original, the file is the original (comments aside)
    text, _ = imported.yaml_text("c.npz", str(path.parent))
    assert yaml.safe_load(text) == yaml.safe_load(path.read_text())


def test_relative_data_paths_name_the_same_files(tmp_path):
    src = tmp_path / "a"
    src.mkdir()
    np.save(src / "w.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (src / "c.yaml").write_text("""
ngcspec: 1
name: paths
components:
  x: {kind: RateCell, n_units: 2, tau_m: 0.0}
  W: {kind: StaticSynapse, shape: [2, 3], init: {weights: {file: w.npy}}}
wires: [x.zF -> W.inputs]
schedule: [reset, advance]
""")
    graph = _quiet_export(ngcspec.load(src / "c.yaml"))
    dst = tmp_path / "b" / "deeper"
    dst.mkdir(parents=True)
    exchange.from_nir(graph).write(dst / "c.yaml")
    entry = yaml.safe_load((dst / "c.yaml").read_text())["components"]["W"]
    assert (dst / entry["init"]["weights"]["file"]).resolve() == (src / "w.npy").resolve()
    state = ngcspec.load(dst / "c.yaml").init_state(batch_size=1)
    assert np.array_equal(np.asarray(state["W"]["weights"]), np.arange(6).reshape(2, 3))


@pytest.mark.slow
def test_conv_and_sum_pool_import_against_numpy():
    """Conv2d (OIHW, padding 1) then SumPool2d 2x2, against a direct numpy sum."""
    rng = np.random.default_rng(5)
    c_in, c_out, h, w = 2, 3, 6, 6
    k = rng.normal(size=(c_out, c_in, 3, 3)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)
    graph = nir.NIRGraph(
        nodes={"img": nir.Input(input_type={"input": np.array([c_in, h, w])}),
               "conv": nir.Conv2d(input_shape=(h, w), weight=k, stride=1, padding=1, dilation=1,
                                  groups=1, bias=bias),
               "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                     padding=np.array([0, 0])),
               "out": nir.Output(output_type={"output": np.array([c_out, 3, 3])})},
        edges=[("img", "conv"), ("conv", "pool"), ("pool", "out")])
    imported = exchange.from_nir(graph, dt=1.0)
    assert imported.data["components"]["conv"]["padding"] == "SAME"
    circuit = imported.load()
    x = rng.normal(size=(c_in, h, w)).astype(np.float32)
    import jax
    state = circuit.init_state(batch_size=1)
    state = {**state, "img": {**state["img"], "j": x.transpose(1, 2, 0)[None]}}
    state = circuit.step(circuit.params, state, 0, jax.random.PRNGKey(0))
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    conv = np.zeros((c_out, h, w))
    for o in range(c_out):
        for i in range(h):
            for j in range(w):
                conv[o, i, j] = np.sum(padded[:, i:i + 3, j:j + 3] * k[o]) + bias[o]
    pooled = conv.reshape(c_out, 3, 2, 3, 2).sum(axis=(2, 4))
    got = np.asarray(state["pool"]["outputs"])[0].transpose(2, 0, 1)
    np.testing.assert_allclose(got, pooled, rtol=1e-5, atol=1e-5)


def test_scale_nodes_become_wire_scales_or_rows():
    n = 3
    w = np.eye(n, dtype=np.float32)
    graph = nir.NIRGraph(
        nodes={"i": nir.Input(input_type={"input": np.array([n])}),
               "lin": nir.Linear(weight=w),
               "rows": nir.Scale(scale=np.array([1.0, 2.0, 3.0])),
               "half": nir.Scale(scale=np.full(n, 0.5)),
               "li": nir.LI(tau=np.full(n, 2.0), r=np.ones(n), v_leak=np.zeros(n))},
        edges=[("i", "lin"), ("lin", "rows"), ("rows", "half"), ("half", "li")])
    data = exchange.from_nir(graph, dt=1.0).data
    assert "0.5 * lin.outputs -> li.j" in data["wires"]
    assert np.array_equal(data["components"]["lin"]["init"]["weights"], np.diag([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("node, expected", [
    (nir.Delay(delay=np.ones(4)), "Delay node 'bad': has no ngcspec equivalent"),
    (nir.LIF(tau=np.array([1.0, 2.0, 1.0, 1.0]), r=np.ones(4), v_leak=np.zeros(4),
             v_threshold=np.ones(4)), "'tau' differs across its 4 neurons"),
    (nir.IF(r=-np.ones(4), v_threshold=np.ones(4)), "'r' is -1"),
    (nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.full(4, 0.5)), "v_leak is 0.5"),
])
def test_inexpressible_nodes_are_named_errors(node, expected):
    graph = nir.NIRGraph(nodes={"i": nir.Input(input_type={"input": np.array([4])}), "bad": node},
                         edges=[("i", "bad")], type_check=False)
    with pytest.raises(ngcspec.CircuitError) as info:
        exchange.from_nir(graph, source="net.nir")
    problem = info.value.problems[0]
    assert expected in problem.message and problem.path == "nodes.bad" and problem.file == "net.nir"


def _ngc(*args, capsys):
    import sys
    old = sys.argv
    sys.argv = ["ngc", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


def test_cli_export_then_import(tmp_path, capsys):
    code, text = _ngc("export", CIRCUITS / "lif_fI.yaml", tmp_path / "lif.nir", "--to", "nir",
                      capsys=capsys)
    assert code == 0 and "refractory period (2 ms)" in text
    code, text = _ngc("import", tmp_path / "lif.nir", "--to", tmp_path / "lif.yaml", capsys=capsys)
    assert code == 0
    assert yaml.safe_load((tmp_path / "lif.yaml").read_text())["components"] == \
        yaml.safe_load((CIRCUITS / "lif_fI.yaml").read_text())["components"]
    code, text = _ngc("import", tmp_path / "lif.nir", "--to", tmp_path / "lif.yaml", capsys=capsys)
    assert code == 2 and "exists" in text                    # nothing the user had is lost


def test_cli_import_errors_are_located_without_traceback(tmp_path, capsys):
    graph = nir.NIRGraph(
        nodes={"i": nir.Input(input_type={"input": np.array([4])}),
               "late": nir.Delay(delay=np.ones(4))},
        edges=[("i", "late")])
    exchange.write(graph, tmp_path / "t.nir")
    code, text = _ngc("import", tmp_path / "t.nir", "--to", tmp_path / "t.yaml", capsys=capsys)
    assert code == 1 and "Delay node 'late'" in text and "'~>'" in text and "Traceback" not in text
    assert not (tmp_path / "t.yaml").exists()
    (tmp_path / "junk.nir").write_text("not hdf5")
    code, text = _ngc("import", tmp_path / "junk.nir", "--to", tmp_path / "j.yaml", capsys=capsys)
    assert code == 1 and "cannot read" in text and "Traceback" not in text


def test_graph_metadata_is_json_that_other_tools_can_ignore():
    graph = _quiet_export(ngcspec.load(CIRCUITS / "lif_fI.yaml"))
    meta = json.loads(graph.metadata["ngcspec"])
    original = yaml.safe_load((CIRCUITS / "lif_fI.yaml").read_text())
    assert meta["file"]["clamps"] == original["clamps"]
    assert meta["order"] == list(original["components"])
    assert json.loads(graph.nodes["z"].metadata["ngcspec"])["entry"]["refract_time"] == 2.0
