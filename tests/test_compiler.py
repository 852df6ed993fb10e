"""The compiler and run loop against hand-computed steps and numpy recursions written here.

Circuits are inline YAML; arrays they read are written to a temporary folder and referred to
by absolute path. Most circuits use linear, stateless parts (RateCell with tau_m 0 gives
z = j + j_td; StaticSynapse with weights from a file gives x @ W), so every expected value
is a short numpy recursion of the step semantics of DESIGN.md section 3 and reference 1.4:
components run in topological order of the undelayed wires; an undelayed wire reads the
source's value of this step, a delayed wire (``~>``) its value at the end of the previous
step; several wires into one input are summed, each times its scale.

Compiles dominate the cost, so each circuit is loaded and run once per module (fixtures).
"""

from __future__ import annotations

import re
from string import Template

import numpy as np
import pytest

import ngcspec
from ngcspec.components.graded import RateCell
from ngcspec.lazy import jax, jnp, random

F32 = dict(rtol=2e-6, atol=1e-6)


def yaml(text: str, **paths) -> str:
    """Fill ``$name`` placeholders (array file paths) into a circuit text."""
    return Template(text).substitute({k: str(v) for k, v in paths.items()})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Arrays shared by the circuits of this module, saved as .npy/.npz files."""
    d = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(1234)
    arrays = {
        "w22": np.array([[0.5, -1.0], [2.0, 0.25]]),
        "w23": np.array([[0.5, -1.0, 0.3], [2.0, 0.25, -0.7]]),
        "stim4": rng.normal(size=(4, 2)),            # float64: float32 runs round it
        "stim5": np.array([[1.0, 0.5], [-0.5, 2.0], [0.25, 0.25], [1.5, -1.0], [0.0, 1.0]]),
        "r2": np.array([0.75, -0.125]),
    }
    out = {"dir": d}
    for name, a in arrays.items():
        np.save(d / f"{name}.npy", a)
        out[name] = a
        out[name + "_path"] = d / f"{name}.npy"
    # a labelled data set of 10 samples (batch 4 leaves a final partial batch of 2)
    x = rng.normal(size=(10, 3))
    label = np.argmax(x, axis=1)
    label[[1, 4, 7, 9]] = (label[[1, 4, 7, 9]] + 1) % 3        # 6 of 10 are right
    np.savez(d / "data.npz", x=x, label=label)
    out.update(data_x=x, data_label=label, data_path=d / "data.npz")
    return out


# =============================================================================================
# 1. execution order

PC_LIKE = """
ngcspec: 1
name: order
components:
$comps
wires:
  - z1.zF -> W1.inputs
  - W1.outputs -> e0.mu
  - e0.dmu ~> E1.inputs
  - E1.outputs -> z1.j
  - z1.zF -> W1.pre
  - e0.dmu -> W1.post
clamps:
  e0.target: {constant: 1.0}
schedule: [reset, advance]
"""
PC_COMPS = {
    "z1": "  z1: {kind: RateCell, n_units: 3, tau_m: 20.0}",
    "W1": "  W1: {kind: HebbianSynapse, shape: [3, 4]}",
    "e0": "  e0: {kind: GaussianErrorCell, n_units: 4}",
    "E1": "  E1: {kind: StaticSynapse, shape: [4, 3]}",
    "u": "  u: {kind: RateCell, n_units: 1, tau_m: 0.0}",
    "v": "  v: {kind: RateCell, n_units: 1, tau_m: 0.0}",
}


def pc_like(listing):
    return yaml(PC_LIKE, comps="\n".join(PC_COMPS[n] for n in listing))


@pytest.mark.parametrize("listing", [
    ["e0", "W1", "z1", "E1"],
    ["z1", "W1", "e0", "E1"],
    ["E1", "e0", "z1", "W1"],
])
def test_order_follows_undelayed_wires_whatever_the_listing(listing):
    # E1 -> z1 -> W1 -> e0 are undelayed; e0 ~> E1 is delayed and W1.pre/post are read at
    # evolve, so neither constrains (nor closes a loop in) the step.
    assert ngcspec.load(pc_like(listing)).order == ("E1", "z1", "W1", "e0")


def test_order_ties_are_broken_by_file_order():
    # lexicographic topological sort by position in the file, done by hand:
    # ready {v, u, E1} -> v; ready {u, E1} -> u; then the chain E1, z1, W1, e0
    assert ngcspec.load(pc_like(["e0", "v", "W1", "z1", "u", "E1"])).order == \
        ("v", "u", "E1", "z1", "W1", "e0")
    assert ngcspec.load(pc_like(["u", "e0", "W1", "v", "z1", "E1"])).order == \
        ("u", "v", "E1", "z1", "W1", "e0")


# =============================================================================================
# 2. delayed and undelayed wires; 6. stimulus clamps; 12. float64

DELAY = """
ngcspec: 1
name: delays
components:
  c: {kind: RateCell, n_units: 2, tau_m: 0.0}
  b: {kind: RateCell, n_units: 2, tau_m: 0.0}
  S: {kind: StaticSynapse, shape: [2, 2], init: {weights: {file: $w}}}
  d: {kind: RateCell, n_units: 2, tau_m: 0.0}
  a: {kind: RateCell, n_units: 2, tau_m: 0.0}
wires:
  - S.outputs -> b.j
  - a.zF -> S.inputs
  - 1.0 * b.zF ~> a.j_td     # a written scale is a traced parameter (grad test)
  - a.zF ~> c.j
  - b.zF -> c.j_td
  - d.zF ~> d.j
  - a.zF -> d.j_td
clamps:
  a.j: {stimulus: $s}
schedule: [reset, {advance: 3}, reset, {advance: 4}]
run:
  check_finite: false     # (tested below; it multiplies compile time of small circuits)
  record: {a.z: per_step, b.z: per_step, c.z: per_step, d.z: per_step}
"""


def delay_reference(w, s, segments=(3, 4), g=1.0):
    """Numpy recursion of the DELAY circuit; ``g`` scales the wire b.zF ~> a.j_td.

    a_k = s_k + g b_{k-1}   (a.j from the stimulus row k since the reset, b delayed)
    b_k = a_k @ W           (S and b run after a: this step's values)
    c_k = a_{k-1} + b_k     (delayed although a runs earlier; b undelayed)
    d_k = d_{k-1} + a_k     (delayed self-loop: an accumulator)
    with every *_{-1} = 0 after a reset."""
    out = {k: [] for k in "abcd"}
    for n in segments:
        a_prev = b_prev = d_prev = np.zeros(2)
        for k in range(n):
            a = s[k] + g * b_prev
            b = a @ w
            c = a_prev + b
            d = d_prev + a
            for name, v in zip("abcd", (a, b, c, d)):
                out[name].append(v)
            a_prev, b_prev, d_prev = a, b, d
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def delay_circuit(files):
    return ngcspec.load(yaml(DELAY, w=files["w22_path"], s=files["stim4_path"]))


@pytest.fixture(scope="module")
def delay_run(delay_circuit):
    return delay_circuit.run()


def test_delay_order_is_derived(delay_circuit):
    # undelayed: a -> S -> b -> c and a -> d; c and d tie-break on file position
    assert delay_circuit.order == ("a", "S", "b", "c", "d")


def test_delayed_and_undelayed_wires_match_numpy_recursion(files, delay_run):
    ref = delay_reference(files["w22"], files["stim4"].astype(np.float32))
    for name in "abcd":
        rec = delay_run.records[f"run/{name}.z"]
        assert rec.shape == (1, 7, 1, 2), name            # (epochs, steps, samples, units)
        assert rec.dtype == np.float32
        np.testing.assert_allclose(rec[0, :, 0], ref[name], **F32, err_msg=name)


def test_stimulus_row_k_after_each_reset(files, delay_run):
    # a = s_k + b_{k-1}: at the first step after each reset a reads row 0 exactly
    a = delay_run.records["run/a.z"][0, :, 0]
    s = files["stim4"].astype(np.float32)
    np.testing.assert_array_equal(a[0], s[0])
    np.testing.assert_array_equal(a[3], s[0])


def test_float64_on_request(files):
    c = ngcspec.load(yaml(DELAY, w=files["w22_path"], s=files["stim4_path"]),
                     overrides={"dtype": "float64"})
    r = c.run()
    ref = delay_reference(files["w22"], files["stim4"])       # float64 all through
    for name in "abcd":
        rec = r.records[f"run/{name}.z"]
        assert rec.dtype == np.float64
        np.testing.assert_allclose(rec[0, :, 0], ref[name], rtol=1e-13, atol=1e-14)
    for comp in r.state.values():
        for cname, v in comp.items():
            if np.issubdtype(np.asarray(v).dtype, np.floating):
                assert np.asarray(v).dtype == np.float64, cname
    assert np.asarray(r.state["S"]["weights"]).dtype == np.float64
    assert jnp.zeros(1).dtype == jnp.float32           # x64 does not leak out of the run


def test_step_is_a_pure_jittable_function_for_custom_loops(files, delay_circuit):
    # a custom loop over circuit.step: clamps are the caller's business (write a.j first)
    w, s = files["w22"], files["stim4"].astype(np.float32)
    step = jax.jit(delay_circuit.step)
    params = delay_circuit.params
    state = delay_circuit.init_state(batch_size=1)
    key = random.PRNGKey(0)
    got = []
    for k in range(4):
        state = {**state, "a": {**state["a"], "j": jnp.asarray(s[k][None])}}
        state = step(params, state, k, key)
        got.append(np.asarray(state["b"]["z"][0]))
    np.testing.assert_allclose(np.array(got), delay_reference(w, s, (4,))["b"], **F32)


def test_grad_through_step_over_wire_scale(files, delay_circuit):
    # d/dg of sum(b_3), g the scale of wire #2 (b.zF ~> a.j_td), against central differences
    # of the float64 numpy recursion
    w, s = files["w22"], files["stim4"]
    assert "b.zF ~> a.j_td" in str(delay_circuit.resolved.wires[2])
    s32 = jnp.asarray(s, jnp.float32)

    def final_b(params):
        state = delay_circuit.init_state(batch_size=1)
        for k in range(4):
            state = {**state, "a": {**state["a"], "j": s32[k][None]}}
            state = delay_circuit.step(params, state, k, random.PRNGKey(0))
        return jnp.sum(state["b"]["z"])

    grads = jax.jit(jax.grad(final_b))(delay_circuit.params)
    h = 1e-6
    fd = (delay_reference(w, s, (4,), g=1 + h)["b"][-1].sum()
          - delay_reference(w, s, (4,), g=1 - h)["b"][-1].sum()) / (2 * h)
    np.testing.assert_allclose(float(grads["wire_scale"][2]), fd, rtol=1e-4)


# =============================================================================================
# 3. fan-in and scales; 6. constant and file clamps

FAN_IN = """
ngcspec: 1
name: fan-in
components:
  y: {kind: RateCell, n_units: 2, tau_m: 0.0}
  p: {kind: RateCell, n_units: 2, tau_m: 0.0}
  q: {kind: RateCell, n_units: 2, tau_m: 0.0}
  r: {kind: RateCell, n_units: 2, tau_m: 0.0}
wires:
  - -0.5 * p.zF -> y.j
  - {from: q.zF, to: y.j, scale: 2.0}
  - r.zF -> y.j
  - 0.25*p.zF->y.j_td
  - {from: r.zF, to: y.j_td, scale: -3.0, delayed: true}
clamps:
  p.j: {constant: [1.0, 2.0]}
  q.j: 3.0
  r.j: {file: $r}
phases:
  run: {batch_size: 3}
schedule: [reset, {advance: 2}]
run:
  check_finite: false
  record: {y.z: per_step}
"""


def test_fan_in_sums_scaled_wires_and_constant_clamps_hold(files):
    r = ngcspec.load(yaml(FAN_IN, r=files["r2_path"])).run()
    p, q, rr = np.array([1.0, 2.0]), np.full(2, 3.0), files["r2"]
    undelayed = -0.5 * p + 2.0 * q + rr + 0.25 * p
    expected = np.array([undelayed,                  # step 0: r ~> y.j_td reads r's reset 0
                         undelayed - 3.0 * rr])      # step 1: reads r of step 0
    rec = r.records["run/y.z"]
    assert rec.shape == (1, 2, 3, 2)
    for b in range(3):                               # constants broadcast over the batch
        np.testing.assert_allclose(rec[0, :, b], expected, **F32)


# =============================================================================================
# 4. ties

TIE = """
ngcspec: 1
name: tie
components:
  z: {kind: RateCell, n_units: 2, tau_m: 0.0}
  E: {kind: StaticSynapse, shape: [3, 2], tie: {to: W.weights, transpose: true}}
  x: {kind: RateCell, n_units: 2, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [2, 3], eta: 0.1, sign_value: -1.0, w_bound: 0.0,
      init: {weights: {file: $w}}}
  y: {kind: RateCell, n_units: 3, tau_m: 0.0}
wires:
  - x.zF -> W.inputs
  - W.outputs -> y.j
  - y.zF -> E.inputs
  - E.outputs -> z.j
  - x.zF -> W.pre
  - y.zF -> W.post
clamps:
  x.j: {constant: [1.0, -2.0]}
schedule: [reset, advance, {evolve: [W]}, advance, {evolve: [W]}]
run:
  check_finite: false
  record: {z.z: per_step, E.weights: final}
"""


def tie_reference(w0, x, eta, n):
    """z_k = (x W_k) W_k^T with W_{k+1} = W_k + eta x^T (x W_k) (sgd, sign -1, no bound)."""
    w, zs = w0.copy(), []
    for _ in range(n):
        y = x @ w
        zs.append(y @ w.T)
        w = w + eta * np.outer(x, y)
    return np.array(zs), w


@pytest.fixture(scope="module")
def tie_run(files):
    return ngcspec.load(yaml(TIE, w=files["w23_path"])).run()


def test_tied_feedback_follows_the_source_after_evolve(files, tie_run):
    zs, w_end = tie_reference(files["w23"], np.array([1.0, -2.0]), 0.1, 2)
    np.testing.assert_allclose(tie_run.records["run/z.z"][0, :, 0], zs, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(tie_run.state["W"]["weights"]), w_end, rtol=1e-5)


def test_tied_compartment_in_final_state_matches_its_source(tie_run):
    # The schedule ends with an evolve of W; the tied E.weights must still be W^T in the
    # state the run returns (and in the 'final' record / checkpoint), not W's old value.
    w = np.asarray(tie_run.state["W"]["weights"])
    np.testing.assert_allclose(np.asarray(tie_run.state["E"]["weights"]), w.T, rtol=1e-6)
    np.testing.assert_allclose(tie_run.records["run/E.weights"], w.T, rtol=1e-6)  # final: no epoch axis


TIE_ERR = """
ngcspec: 1
name: tie-errors
components:
  W: {kind: StaticSynapse, shape: [2, 3]}
  V: {kind: StaticSynapse, shape: [2, 3], tie: {to: W.weights}}
  E: {kind: StaticSynapse, shape: [$shape], tie: $tie}
schedule: [reset, advance]
"""


@pytest.mark.parametrize("shape, tie, needles", [
    ("3, 2", "{to: W.weights}", ["E", "(3, 2)", "(2, 3)", "transpose"]),
    ("2, 3", "{to: W.weights, transpose: true}", ["E", "(2, 3)", "(3, 2)", "transpose of"]),
    ("4, 2", "{to: W.weights, transpose: true}", ["E", "(4, 2)", "(3, 2)"]),
    ("2, 3", "{to: W.weight}", ["no compartment 'weight'", "'weights'"]),
    ("2, 3", "{to: V.weights}", ["V", "itself tied", "W.weights"]),
    ("2, 3", "{to: E.weights}", ["itself"]),
    ("2, 3", "{to: W.weights, compartment: weight}", ["no compartment 'weight'", "'weights'"]),
])
def test_tie_errors(shape, tie, needles):
    with pytest.raises(ngcspec.CircuitError) as exc:
        ngcspec.load(yaml(TIE_ERR, shape=shape, tie=tie))
    text = str(exc.value)
    assert "components.E.tie" in text
    for n in needles:
        assert n in text, (n, text)


# =============================================================================================
# 5. loops and explicit orders

LOOP = """
ngcspec: 1
name: loop
components:
  a: {kind: RateCell, n_units: 2, tau_m: 0.0}
  S: {kind: StaticSynapse, shape: [2, 2]}
  b: {kind: RateCell, n_units: 2, tau_m: 0.0}
  u: {kind: RateCell, n_units: 2, tau_m: 0.0}
wires:
  - a.zF -> S.inputs
  - S.outputs -> b.j
  - $back
schedule: [reset, advance]
$order
"""


def test_loop_of_undelayed_wires_is_an_error_that_prints_the_loop():
    with pytest.raises(ngcspec.CircuitError) as exc:
        ngcspec.load(yaml(LOOP, back="b.zF -> a.j", order=""))
    text = str(exc.value)
    assert "loop" in text
    # the loop, in wiring order from some component of it
    assert re.search(r"(a -> S -> b -> a|S -> b -> a -> S|b -> a -> S -> b)", text), text
    for w in ("a.zF -> S.inputs", "S.outputs -> b.j", "b.zF -> a.j"):
        assert w in text, w
    # names one of the loop's wires, delayed, as the fix
    m = re.search(r"'(\w+\.\w+) ~> (\w+\.\w+)'", text)
    assert m is not None, text
    assert f"{m[1]} -> {m[2]}" in ("a.zF -> S.inputs", "S.outputs -> b.j", "b.zF -> a.j")
    # and the fix it names works
    looped = yaml(LOOP, back="b.zF -> a.j", order="")
    fixed = looped.replace(f"- {m[1]} -> {m[2]}", f"- {m[1]} ~> {m[2]}")
    assert fixed != looped
    ngcspec.load(fixed)


def test_undelayed_self_loop_is_an_error():
    with pytest.raises(ngcspec.CircuitError) as exc:
        ngcspec.load(yaml(LOOP, back="u.zF -> u.j", order=""))
    assert "loop" in str(exc.value) and "u.zF ~> u.j" in str(exc.value)
    assert ngcspec.load(yaml(LOOP, back="u.zF ~> u.j", order="")).order == ("a", "S", "b", "u")


def test_explicit_order_contradicting_an_undelayed_wire_is_an_error():
    with pytest.raises(ngcspec.CircuitError) as exc:
        ngcspec.load(yaml(LOOP, back="b.zF ~> a.j", order="order: [a, b, S, u]"))
    text = str(exc.value)
    assert "S.outputs -> b.j" in text and "~>" in text and "order" in text


@pytest.mark.parametrize("order, problem", [
    ("[a, S, b]", "leaves out u"),
    ("[a, S, b, u, a]", "more than once"),
    ("[a, S, b, u, w]", "unknown component 'w'"),
])
def test_explicit_order_must_list_every_component_once(order, problem):
    with pytest.raises(ngcspec.CircuitError, match=problem):
        ngcspec.load(yaml(LOOP, back="b.zF ~> a.j", order=f"order: {order}"))


def test_valid_explicit_order_is_used():
    # derived: a, S, b, u (u is free and last in the file); the explicit order puts u first
    assert ngcspec.load(yaml(LOOP, back="b.zF ~> a.j", order="")).order == ("a", "S", "b", "u")
    c = ngcspec.load(yaml(LOOP, back="b.zF ~> a.j", order="order: [u, a, S, b]"))
    assert c.order == ("u", "a", "S", "b")
    assert c.program.order == ("u", "a", "S", "b")


# =============================================================================================
# 7. schedules

HEBB = """
ngcspec: 1
name: hebb-schedule
components:
  y: {kind: RateCell, n_units: 3, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [2, 3], eta: 0.05, sign_value: -1.0, w_bound: 0.0,
      init: {weights: {file: $w}}}
  x: {kind: RateCell, n_units: 2, tau_m: 0.0}
wires:
  - x.zF -> W.inputs
  - W.outputs -> y.j
  - x.zF -> W.pre
  - y.zF -> W.post
clamps:
  x.j: {stimulus: $s}
schedule:
  - reset
  - repeat: 3
    do: [advance, {evolve: [W]}]
  - advance: 2
run:
  check_finite: false
  record: {y.z: per_step}
"""


def test_evolve_runs_where_it_is_listed(files):
    r = ngcspec.load(yaml(HEBB, w=files["w23_path"], s=files["stim5_path"])).run()
    s, w = files["stim5"], files["w23"].copy()
    ys = []
    for k in range(5):
        y = s[k] @ w
        ys.append(y)
        if k < 3:                                   # evolve after each of the first 3 steps
            w = w + 0.05 * np.outer(s[k], y)        # W - eta * sign * pre^T post, sign -1
    rec = r.records["run/y.z"]
    assert rec.shape == (1, 5, 1, 3)
    np.testing.assert_allclose(rec[0, :, 0], np.array(ys), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(r.state["W"]["weights"]), w, rtol=1e-5)
    assert int(r.state["W"]["opt_count"]) == 3


STEPS = """
ngcspec: 1
name: steps
components:
  z: {kind: RateCell, n_units: 1, tau_m: 50.0}
clamps:
  z.j: 1.0
phases:
  run: {batches: 2, batch_size: 2}
schedule:
  - reset
  - advance: 2
  - repeat: 2
    do:
      - advance
      - repeat: 2
        do: [{advance: 2}]
  - reset
  - advance: 3
run:
  epochs: 2
  check_finite: false
  record: {z.z: per_step}
"""


def test_per_step_records_count_every_advance_in_schedule_order():
    # tau 50, j 1, identity, Euler from 0: z_k = 0.02 k (reference 4.1, verified trajectory).
    # 2 + 2 * (1 + 2 * 2) = 12 steps, a reset, then 3 more.
    r = ngcspec.load(STEPS).run()
    rec = r.records["run/z.z"]
    assert rec.shape == (2, 15, 4, 1)              # (epochs, steps, batches * batch_size, 1)
    expected = 0.02 * np.r_[np.arange(1, 13), np.arange(1, 4)]
    np.testing.assert_allclose(rec, np.broadcast_to(expected[None, :, None, None], rec.shape),
                               rtol=1e-5)


# =============================================================================================
# 8. determinism

DET = """
ngcspec: 1
name: determinism
data:
  train: {file: $data, batch_size: 5, shuffle: true}
components:
  x: {kind: RateCell, n_units: 3, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [3, 2], eta: 0.01, weight_init: {dist: gaussian, std: 0.5}}
  n: {kind: LeakyNoiseCell, n_units: 2, tau_x: 5.0}
  m: {kind: LeakyNoiseCell, n_units: 2, tau_x: 5.0}
wires:
  - x.zF -> W.inputs
  - W.outputs -> n.j_input
  - x.zF -> W.pre
  - n.r -> W.post
clamps:
  x.j: train.x
schedule: [reset, {advance: 2}, {evolve: [W]}]
phases:
  train:
    data: train
    record: {x.zF: per_batch, n.r: per_batch, m.r: per_step}
run:
  epochs: 2
  check_finite: false
"""


def leaves(result):
    out = {f"record {k}": np.asarray(v) for k, v in result.records.items()}
    for comp, d in result.state.items():
        for cname, v in d.items():
            out[f"state {comp}.{cname}"] = np.asarray(v)
    return out


def assert_bitwise_equal(r1, r2):
    a, b = leaves(r1), leaves(r2)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def det(files):
    c = ngcspec.load(yaml(DET, data=files["data_path"]))
    return c, c.run(), c.run(), c.run(seed=1)


@pytest.mark.slow
def test_same_seed_gives_bitwise_identical_runs(files, det):
    c, r1, r2, _ = det
    assert_bitwise_equal(r1, r2)
    # a fresh load with the seed in the file equals run(seed=...) on the first circuit
    fresh = ngcspec.load(yaml(DET, data=files["data_path"]), overrides={"seed": 1})
    assert_bitwise_equal(fresh.run(), det[3])


def test_different_seed_gives_different_weights_noise_and_order(det):
    c, r1, _, r_other = det
    w0, w1 = (np.asarray(c.init_state(seed=s)["W"]["weights"]) for s in (0, 1))
    assert np.array_equal(w0, np.asarray(c.init_state(seed=0)["W"]["weights"]))
    assert not np.allclose(w0, w1)
    assert abs(w0.std() - 0.5) < 0.35 and abs(w0.mean()) < 0.5      # gaussian std 0.5, 6 draws
    assert not np.allclose(r1.records["train/m.r"], r_other.records["train/m.r"])
    assert not np.array_equal(r1.records["train/x.zF"], r_other.records["train/x.zF"])


def test_shuffle_is_a_fresh_permutation_each_epoch(files, det):
    _, r1, _, _ = det
    x = files["data_x"].astype(np.float32)
    rec = r1.records["train/x.zF"]                  # (epochs, samples, 3): x.zF = x
    assert rec.shape == (2, 10, 3)
    rows = {tuple(v) for v in x}
    for e in range(2):
        assert sorted(map(tuple, rec[e])) == sorted(rows)               # a permutation
    assert not np.array_equal(rec[0], x) or not np.array_equal(rec[1], x)
    assert not np.array_equal(rec[0], rec[1])


def test_noise_differs_between_steps_samples_batches_and_epochs(det):
    _, r1, _, _ = det
    m = r1.records["train/m.r"]                     # (epochs, steps, samples, units)
    assert m.shape == (2, 2, 10, 2)
    flat = m.reshape(-1)
    assert len(np.unique(flat)) == flat.size        # no draw is reused anywhere


# =============================================================================================
# 9. numeric parameters are data: no recompilation

RECOMP = """
ngcspec: 1
name: recompile
components:
  x: {kind: RateCell, n_units: 2, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [2, 3], eta: 0.1, sign_value: -1.0, w_bound: 0.0,
      init: {weights: {file: $w}}}
  y: {kind: RateCell, n_units: 3, tau_m: $tau}
wires:
  - x.zF -> W.inputs
  - W.outputs -> y.j
  - x.zF -> W.pre
  - y.zF -> W.post
clamps:
  x.j: {constant: [1.0, -2.0]}
schedule: [reset, advance, {evolve: [W]}]
run:
  check_finite: false
  record: {y.z: final, y.zF: final}   # end-of-run values of per-sample compartments
"""


@pytest.fixture
def trace_count(monkeypatch):
    """Counts how often RateCell.advance is traced (called from Python)."""
    calls = {"n": 0}
    original = RateCell.advance.__func__

    def counting(cls, p, s, ctx):
        calls["n"] += 1
        return original(cls, p, s, ctx)

    monkeypatch.setattr(RateCell, "advance", classmethod(counting))
    return calls


def test_new_numeric_parameter_does_not_recompile(files, trace_count):
    x, w0 = np.array([1.0, -2.0]), files["w23"]
    hebb = np.outer(x, x @ w0)                           # pre^T post of the only step
    c = ngcspec.load(yaml(RECOMP, w=files["w23_path"], tau="0.0"))
    r1 = c.run()
    traced = trace_count["n"]
    assert traced > 0
    np.testing.assert_allclose(np.asarray(r1.state["W"]["weights"]), w0 + 0.1 * hebb, rtol=1e-5)

    c2 = c.with_params(**{"W.eta": 0.001})
    r2 = c2.run()
    assert trace_count["n"] == traced                    # same program, new eta
    np.testing.assert_allclose(np.asarray(r2.state["W"]["weights"]), w0 + 0.001 * hebb,
                               rtol=1e-5)
    r3 = c.with_params(W__sign_value=1.0, dt=0.5).run()  # '__' form, and dt
    assert trace_count["n"] == traced
    np.testing.assert_allclose(np.asarray(r3.state["W"]["weights"]), w0 - 0.1 * hebb, rtol=1e-5)
    # the original circuit keeps its parameters
    assert float(c.params["components"]["W"]["eta"]) == pytest.approx(0.1)
    np.testing.assert_array_equal(np.asarray(c.run().state["W"]["weights"]),
                                  np.asarray(r1.state["W"]["weights"]))
    assert trace_count["n"] == traced


def test_structural_change_rebuilds(files, trace_count):
    text = yaml(RECOMP, w=files["w23_path"], tau="0.0")
    c = ngcspec.load(text)
    c.run()
    traced = trace_count["n"]
    with pytest.raises(KeyError, match="ngcspec.load"):
        c.with_params(**{"y.act_fx": "tanh"})
    with pytest.raises(KeyError, match=r"numeric: \[.*'eta'"):
        c.with_params(**{"W.etaa": 0.1})
    r = ngcspec.load(text, overrides={"y.act_fx": "tanh"}).run()
    assert trace_count["n"] > traced
    x, w0 = np.array([1.0, -2.0]), files["w23"]
    np.testing.assert_allclose(np.asarray(r.state["y"]["zF"][0]), np.tanh(x @ w0), rtol=1e-5)


def test_batch_fn_vmaps_over_a_parameter_sweep(files):
    # parameters are a pytree argument, so a sweep over eta is one vmapped program
    x, w0 = np.array([1.0, -2.0]), files["w23"]
    hebb = np.outer(x, x @ w0)
    c = ngcspec.load(yaml(RECOMP, w=files["w23_path"], tau="0.0"))
    fn, state = c.batch_fn(), c.init_state(batch_size=1)

    def weights_after(eta):
        comps = {**c.params["components"], "W": {**c.params["components"]["W"], "eta": eta}}
        new_state, _ = fn({**c.params, "components": comps}, state, {}, random.PRNGKey(0), 1)
        return new_state["W"]["weights"]

    etas = np.array([0.0, 0.1, 0.5], np.float32)
    got = np.asarray(jax.jit(jax.vmap(weights_after))(jnp.asarray(etas)))
    for eta, w in zip(etas, got):
        np.testing.assert_allclose(w, w0 + eta * hebb, rtol=1e-5, atol=1e-6)


def test_with_params_reaches_nested_numeric_parameters(files):
    # prior: [gaussian, leak] is a numeric (traced) parameter nested under 'prior'
    c = ngcspec.load(yaml(RECOMP, w=files["w23_path"], tau="10.0"))
    c2 = c.with_params(**{"y.prior.leak": 0.5})
    assert float(c2.params["components"]["y"]["prior"]["leak"]) == 0.5


def test_with_params_cannot_silently_ignore_a_change_of_structure(files):
    # tau_m <= 0 selects the stateless mode, a structural fact (RateCell.structure). Changing
    # tau_m across 0 with with_params must either be refused or take effect.
    x, w0 = np.array([1.0, -2.0]), files["w23"]
    c = ngcspec.load(yaml(RECOMP, w=files["w23_path"], tau="0.0"))
    try:
        c2 = c.with_params(**{"y.tau_m": 10.0})
    except (KeyError, ValueError, ngcspec.NgcspecError):
        return
    z = np.asarray(c2.run().state["y"]["z"][0])
    np.testing.assert_allclose(z, 0.1 * (x @ w0), rtol=1e-5)   # one Euler step from 0


# =============================================================================================
# 10. NaN / Inf detection

BLOWUP = """
ngcspec: 1
name: blowup
dt: 1000000.0
components:
  y: {kind: RateCell, n_units: 2, tau_m: 1.0, prior: [gaussian, 1.0]}
  x: {kind: RateCell, n_units: 2, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [2, 2], eta: 0.0, sign_value: -1.0, w_bound: 0.0,
      weight_init: {dist: constant, value: 1.0}}
  v: {kind: RateCell, n_units: 2, tau_m: 0.0}
wires:
  - x.zF -> W.inputs
  - W.outputs -> v.j
  - x.zF -> W.pre
  - v.zF -> W.post
clamps:
  y.j: 1.0
  x.j: 1.0
schedule:
  - reset
  - repeat: 10
    do: [advance, {evolve: [W]}]
run:
  record: {y.z: per_step}
"""


@pytest.fixture(scope="module")
def blowup():
    return ngcspec.load(BLOWUP)


@pytest.mark.slow
def test_non_finite_state_raises_run_error_naming_where(blowup):
    # z <- z + dt (1 - z) with dt = 1e6 grows a million-fold a step and overflows float32
    # (max 3.4e38) at step 6: 1e6, -1e12, ..., -1e36, +1e42. (W does not learn: eta 0.)
    z, first_bad = np.float32(0), None
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(10):
            z = np.float32(z + np.float32(1e6) * (np.float32(1) - z))
            if first_bad is None and not np.isfinite(z):
                first_bad = k
    assert first_bad == 6
    with pytest.raises(ngcspec.RunError) as exc:
        blowup.run()
    text = str(exc.value)
    assert re.search(r"\by\.(z|zF)\b", text), text
    assert f"at step {first_bad + 1} of batch 1" in text, text  # messages count from 1
    assert "check_finite" in text


def test_non_finite_weights_after_evolve_are_reported(blowup):
    # dt 1 keeps y at 1; eta 1e20 overflows W: v = x W = 2, W = 1 + 2e20 after the first
    # evolve, v = 4e20, W = 2e20 + 1e20 * 4e20 = inf after the second
    with pytest.raises(ngcspec.RunError) as exc:
        blowup.with_params(dt=1.0, **{"W.eta": 1e20}).run()
    text = str(exc.value)
    assert "W.weights" in text, text
    assert re.search(r"step [12]\b", text), text


def test_non_finite_weights_of_a_large_matrix_are_reported():
    # 64 x 64 weights take the batch check's matrix-vector path: v = 64 after the first
    # step, W = 1 + 6.4e21, then v = 4.1e23 and W overflows to inf at the second evolve
    big = ngcspec.load(BLOWUP.replace("n_units: 2", "n_units: 64").replace("[2, 2]", "[64, 64]"))
    with pytest.raises(ngcspec.RunError) as exc:
        big.with_params(dt=1.0, **{"W.eta": 1e20}).run()
    assert "W.weights" in str(exc.value), str(exc.value)


@pytest.mark.parametrize("shape", [(3,), (5, 7), (64, 80), (4, 40, 30)])
def test_the_batch_check_probe_is_zero_exactly_when_an_array_is_finite(shape):
    import jax.numpy as jnp

    from ngcspec.compiler import _nonfinite_probe

    rng = np.random.default_rng(0)
    v = (rng.uniform(-1, 1, size=shape) * 3e38).astype(np.float32)     # finite, near the top
    assert np.all(np.isfinite(v))
    assert float(_nonfinite_probe(jnp.asarray(v))) == 0.0
    for bad in (np.nan, np.inf, -np.inf):
        for flat in (0, v.size // 2, v.size - 1):
            w = v.copy()
            w.reshape(-1)[flat] = bad
            assert np.isnan(float(_nonfinite_probe(jnp.asarray(w)))), (bad, flat)


def test_check_finite_false_lets_it_run():
    r = ngcspec.load(BLOWUP, overrides={"run.check_finite": False}).run()
    z = r.records["run/y.z"][0, :, 0, 0]
    assert np.all(np.isfinite(z[:6])) and not np.any(np.isfinite(z[6:]))


# =============================================================================================
# 11. metrics over every sample, including a final partial batch; 6. data clamps

METRICS = """
ngcspec: 1
name: metrics
data:
  train: {file: $data, batch_size: 4, shuffle: true}
components:
  x: {kind: RateCell, n_units: 3, tau_m: 0.0, act_fx: tanh}
clamps:
  x.j: train.x
schedule: [reset, advance]
phases:
  train:
    data: train
    metrics: {m: {mean: x.zF}, acc: {accuracy: x.zF}}
    record: {x.zF: per_batch, x.j: per_batch}
run:
  epochs: 2
"""


@pytest.fixture(scope="module")
def metrics_run(files):
    return ngcspec.load(yaml(METRICS, data=files["data_path"])).run()


def test_data_clamp_feeds_every_sample_once_per_epoch(files, metrics_run):
    x = files["data_x"].astype(np.float32)
    for e in range(2):
        j = metrics_run.records["train/x.j"][e]
        assert j.shape == (10, 3)
        assert sorted(map(tuple, j)) == sorted(map(tuple, x))
        np.testing.assert_allclose(metrics_run.records["train/x.zF"][e], np.tanh(j), **F32)


def test_mean_and_accuracy_cover_the_partial_batch(files, metrics_run):
    x, label = files["data_x"], files["data_label"]
    mean = np.tanh(x).mean()
    acc = np.mean(np.argmax(x, axis=1) == label)
    assert acc == pytest.approx(0.6)
    hist = metrics_run.metrics["train"]
    assert len(hist) == 2
    for e, m in enumerate(hist):
        assert m["m"] == pytest.approx(mean, rel=1e-5)
        assert m["m"] == pytest.approx(metrics_run.records["train/x.zF"][e].mean(), rel=1e-5)
        assert m["acc"] == pytest.approx(acc, abs=1e-9)


# =============================================================================================
# 12. the middle form: typed schedule entries, what Resolved hands the compiler

def test_resolved_schedule_is_typed_entries_in_file_order():
    from ngcspec.schedule import AdvanceOp, RepeatOp, ResetOp, as_tuples, steps_per_batch

    sched = ngcspec.load(STEPS).resolved.phases["run"].schedule
    inner = RepeatOp(2, (AdvanceOp(1), RepeatOp(2, (AdvanceOp(2),))))
    assert sched == (ResetOp(), AdvanceOp(2), inner, ResetOp(), AdvanceOp(3))
    assert steps_per_batch(sched) == 2 + 2 * (1 + 2 * 2) + 3
    # the tuple form run directories' fingerprints were written with, so old runs resume
    assert as_tuples(sched) == (("reset",), ("advance", 2),
                                ("repeat", 2, (("advance", 1), ("repeat", 2, (("advance", 2),)))),
                                ("reset",), ("advance", 3))
    with pytest.raises(AttributeError):
        sched[1].steps = 5                     # frozen: a resolved schedule can key a cache


def test_evolve_entry_names_what_it_evolves(files):
    from ngcspec.schedule import EvolveOp, evolved

    sched = ngcspec.load(yaml(HEBB, w=files["w23_path"], s=files["stim5_path"])).resolved \
        .phases["run"].schedule
    assert sched[1].block[1] == EvolveOp(("W",))
    assert evolved(sched) == ["W"]


RESOLVED = """
ngcspec: 1
name: resolved-fields
dt: 0.5
dtype: float64
seed: 7
data:
  train: {file: $data, batch_size: 5, shuffle: true}
components:
  x: {kind: RateCell, n_units: 3, tau_m: 0.0, act_fx: tanh}
  z: {kind: RateCell, n_units: 3, tau_m: 2.0, init: {z: {dist: gaussian, std: 1.0}}}
wires:
  - x.zF -> z.j
clamps:
  x.j: train.x
schedule: [reset, {advance: 2}]
phases:
  train:
    data: train
    metrics: {m: {mean: x.zF, unit: 1, scale: 2.0}}
    record: {z.z: per_batch}
run:
  check_finite: false
"""


@pytest.mark.slow
def test_compiler_reads_only_the_resolved_form(files):
    # Resolved carries dt, dtype, seed and check_finite, and each phase its mean metrics'
    # unit and scale: a program built with the file model removed runs as the circuit does
    import dataclasses

    from ngcspec.compiler import Program, precision

    circuit = ngcspec.load(yaml(RESOLVED, data=files["data_path"]))
    r = circuit.resolved
    assert (r.dt, r.dtype, r.seed, r.check_finite) == (0.5, "float64", 7, False)
    assert r.phases["train"].metric_units == {"m": (1, 2.0)}
    prog = Program(dataclasses.replace(r, spec=None))
    with precision(prog.dtype):
        params = prog.initial_params()
        pp = prog.phase("train")
        state = prog.jitted_init(5)(params, 7)
        _, outs = pp.jitted(check="off")(params, state, pp.device_data(), 7, 0)
    sums, counts = (np.asarray(a) for a in outs["full"]["metrics"]["m"])
    assert float(params["dt"]) == 0.5 and state["z"]["z"].dtype == np.float64
    # unit 1 of each sample, times 2: every sample once per epoch, whatever the shuffle
    assert sums.sum() / counts.sum() == pytest.approx(2 * np.tanh(files["data_x"][:, 1]).mean())
    run = circuit.run(epochs=1)
    assert run.metrics["train"][0]["m"] == pytest.approx(sums.sum() / counts.sum(), rel=1e-12)
    np.testing.assert_allclose(run.records["train/z.z"][0],
                               np.asarray(outs["full"]["batch"]["z.z"]).reshape(10, 3), rtol=1e-12)


# =============================================================================================
# 13. a lean compiled step: what every step writes alike leaves the loop; what an epoch
# leaves unchanged comes back as the arrays given

INVARIANT = """
ngcspec: 1
name: invariant-writes
components:
  x: {kind: RateCell, n_units: 2, tau_m: 0.0}
  y: {kind: RateCell, n_units: 2, tau_m: 0.0}
  w: {kind: RateCell, n_units: 2, tau_m: 0.0}
  e: {kind: GaussianErrorCell, n_units: 2}
wires:
  - x.zF -> e.mu
  - y.zF -> e.target
  - x.zF ~> w.j
clamps:
  x.j: 1.0
  y.j: {stimulus: $s}
  e.mask: 0.0
schedule:
  - reset
  - advance: 3
  - repeat: 2
    do: [advance]
run:
  check_finite: false
  record: {e.dmu: per_step, w.z: per_step}
"""


def test_values_every_step_writes_alike_are_found_and_the_first_step_still_sees_the_reset(files):
    # x copies its constant clamp and e sets its one-step mask back to 1: the same value
    # every step, so from the second step on they are constants (the first step runs before
    # the loop). The first step must still read the reset values: the mask clamped to 0
    # silences e's first derivative, and w reads x.zF one step late (0 after the reset).
    circuit = ngcspec.load(yaml(INVARIANT, s=files["stim5_path"]))
    pp = circuit.program.phase("run")
    written, invariant = pp.step_plan(circuit.params, circuit.init_state(), pp.stimuli())
    assert invariant == {("x", "z"), ("x", "zF"), ("e", "mask")}
    assert set(invariant) < set(written)
    r = circuit.run()
    s = files["stim5"]                       # y.z = row k of the stimulus at step k
    dmu = (s - 1.0) * np.array([0, 1, 1, 1, 1])[:, None]       # (target - mu) / 1, masked once
    np.testing.assert_allclose(r.records["run/e.dmu"][0, :, 0], dmu, **F32)
    np.testing.assert_allclose(r.records["run/w.z"][0, :, 0], [[0, 0]] + [[1, 1]] * 4, **F32)


LEAN = """
ngcspec: 1
name: lean
data:
  train: {file: $data, batch_size: 5, shuffle: false}
components:
  E2: {kind: StaticSynapse, shape: [2, 4], tie: {to: W2.weights, transpose: true}}
  z0: {kind: RateCell, n_units: 3, tau_m: 0.0}
  z1: {kind: RateCell, n_units: 4, tau_m: 20.0, act_fx: relu}
  z2: {kind: RateCell, n_units: 2, tau_m: 0.0}
  W1: {kind: HebbianSynapse, shape: [3, 4], eta: 0.01, sign_value: -1.0, w_bound: 0.0}
  W2: {kind: HebbianSynapse, shape: [4, 2], eta: 0.01, sign_value: -1.0, w_bound: 0.0}
  e1: {kind: GaussianErrorCell, n_units: 4}
  e2: {kind: GaussianErrorCell, n_units: 2}
wires:
  - z0.zF -> W1.inputs
  - W1.outputs -> e1.mu
  - z1.z -> e1.target
  - z1.zF -> W2.inputs
  - W2.outputs -> e2.mu
  - z2.z -> e2.target
  - e2.dmu ~> E2.inputs
  - E2.outputs -> z1.j
  - e1.dtarget ~> z1.j_td
  - z0.zF -> W1.pre
  - e1.dmu -> W1.post
  - z1.zF -> W2.pre
  - e2.dmu -> W2.post
clamps:
  z0.j: train.x
  z2.j: {constant: [1.0, 0.0]}
schedule: [reset, {advance: 6}, {evolve: [W1, W2]}]
phases:
  train: {data: train, metrics: {loss: {mean: e2.L}}}
"""


@pytest.fixture(scope="module")
def lean(files):
    circuit = ngcspec.load(yaml(LEAN, data=files["data_path"]))
    pp = circuit.program.phase("train")
    fn = pp.jitted(check="batch")            # what ngc run calls (finite check on)
    state = circuit.init_state()
    args = (circuit.params, state, pp.device_data(), 0, 0)
    return circuit, pp, fn, args


@pytest.mark.slow
@pytest.mark.slow
def test_what_an_epoch_leaves_unchanged_comes_back_as_the_arrays_given(lean):
    circuit, pp, fn, args = lean
    state = args[1]
    new, outs = fn(*args)
    changed = {(n, c) for n, s in new.items() for c, v in s.items() if v is not state[n][c]}
    # the schedule begins with a reset, so a batch hands on only what persists: of that,
    # only what learns changes (E2's tie to W2 is refreshed from W2 at the end)
    assert changed == {("W1", "weights"), ("W1", "opt_count"), ("W2", "weights"),
                       ("W2", "opt_count"), ("E2", "weights")}
    np.testing.assert_allclose(np.asarray(new["E2"]["weights"]), np.asarray(new["W2"]["weights"]).T)
    assert int(new["W1"]["opt_count"]) == 2 and bool(np.all(np.asarray(outs["full"]["ok"])))
    # the same numbers as a run with the compiled step of a plain Python loop
    prog = circuit.program
    s, data = state, pp.device_data()
    for b in range(2):
        rows = {k: v[5 * b:5 * (b + 1)] for k, v in data.items()}
        s = pp.apply_clamps(prog.reset(circuit.params, s, 5), rows)
        for t in range(6):
            s = prog.step(circuit.params, s, t, random.PRNGKey(0))
        s = prog.evolve(circuit.params, s, ("W1", "W2"), 6)
    for n in ("W1", "W2"):
        np.testing.assert_allclose(np.asarray(new[n]["weights"]), np.asarray(s[n]["weights"]),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_the_compiled_step_loop_copies_nothing(lean):
    # The clamped input, the masks every step sets back to 1 and the tie to weights that do
    # not change during advance used to be loop carries that XLA copied every step
    circuit, pp, fn, args = lean
    _, invariant = pp.step_plan(circuit.params, args[1], pp.stimuli())
    assert {("z0", "z"), ("z0", "zF"), ("z2", "z"), ("z2", "zF"), ("e1", "mask"),
            ("e2", "mask"), ("E2", "weights"), ("W1", "outputs")} == set(invariant)
    hlo = fn.lower(*args).compile().as_text()
    bodies = {}
    for comp in re.split(r"\n(?=%|ENTRY)", hlo):
        bodies[comp.split(" ", 1)[0]] = comp
    loops = [re.search(r"body=(%[\w.\-]+)", line).group(1)
             for comp in bodies.values() for line in comp.splitlines() if " while(" in line]
    innermost = [b for b in loops if " while(" not in bodies[b]]
    assert innermost
    for body in innermost:
        assert not re.search(r"= \S+ copy\(", bodies[body]), bodies[body]
