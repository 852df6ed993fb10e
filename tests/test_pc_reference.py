"""A discriminative predictive-coding network against a plain numpy re-implementation.

The circuit is reference section 1.5's PCN (Whittington & Bogacz, ngc-learn's museum
``pc_discrim``) at toy size 8-6-5-3: feedback synapses E2, E3 tied to the transposes of W2, W3,
state cells z0 (the input, stateless) to z2, forward synapses W1..W3 predicting the next layer,
error cells e1..e3 (e3's target is the label). ngc-learn runs, within one step,
E2, E3 -> z0, z1, z2 -> W1, W2, W3 -> e1, e2, e3, so E* and z* read the errors of the previous
step: in ngcspec those are the ``~>`` wires, and the derived order must be ngc-learn's list.
A batch is: reset, clamp, T = 10 steps, evolve W1, W2, W3 (HebbianSynapse, sgd,
sign_value -1, w_bound 0). Two batches run with the weights carried over.

The numpy code below is written from the reference equations only (components.md §4.1 RateCell
Euler with f'(z) modulation of j, §4.2 GaussianErrorCell, §3.2 Hebbian update, §3.1 dense
synapse), not from ngcspec's code.
"""

from __future__ import annotations

from string import Template

import numpy as np
import pytest

import ngcspec

SIZES = (8, 6, 5, 3)
T_STEPS, TAU, DT, ETA, BATCH = 10, 20.0, 1.0, 0.05, 4

PCN = """
ngcspec: 1
name: pcn-discriminative
dt: 1.0
seed: 7
data:
  train: {file: $data, x: x, y: y, batch_size: 4, shuffle: false}
components:
  E2: {kind: StaticSynapse, shape: [5, 6], tie: {to: W2.weights, transpose: true}}
  E3: {kind: StaticSynapse, shape: [3, 5], tie: {to: W3.weights, transpose: true}}
  z0: {kind: RateCell, n_units: 8, tau_m: 0.0, act_fx: identity}
  z1: {kind: RateCell, n_units: 6, tau_m: 20.0, act_fx: sigmoid, prior: [gaussian, 0.0]}
  z2: {kind: RateCell, n_units: 5, tau_m: 20.0, act_fx: tanh, prior: [gaussian, 0.0]}
  W1: {kind: HebbianSynapse, shape: [8, 6], eta: 0.05, sign_value: -1.0, w_bound: 0.0,
       optim_type: sgd, init: {weights: {file: $w1}}}
  W2: {kind: HebbianSynapse, shape: [6, 5], eta: 0.05, sign_value: -1.0, w_bound: 0.0,
       optim_type: sgd, init: {weights: {file: $w2}}}
  W3: {kind: HebbianSynapse, shape: [5, 3], eta: 0.05, sign_value: -1.0, w_bound: 0.0,
       optim_type: sgd, init: {weights: {file: $w3}}}
  e1: {kind: GaussianErrorCell, n_units: 6}
  e2: {kind: GaussianErrorCell, n_units: 5}
  e3: {kind: GaussianErrorCell, n_units: 3}
wires:
  # predictions
  - z0.zF -> W1.inputs
  - W1.outputs -> e1.mu
  - z1.z -> e1.target
  - z1.zF -> W2.inputs
  - W2.outputs -> e2.mu
  - z2.z -> e2.target
  - z2.zF -> W3.inputs
  - W3.outputs -> e3.mu
  # errors back to the states: read from the previous step, as in ngc-learn's order
  - e2.dmu ~> E2.inputs
  - E2.outputs -> z1.j
  - e1.dtarget ~> z1.j_td
  - e3.dmu ~> E3.inputs
  - E3.outputs -> z2.j
  - e2.dtarget ~> z2.j_td
  # Hebbian factors: pre = presynaptic activity, post = the error the synapse predicts into
  - z0.zF -> W1.pre
  - e1.dmu -> W1.post
  - z1.zF -> W2.pre
  - e2.dmu -> W2.post
  - z2.zF -> W3.pre
  - e3.dmu -> W3.post
clamps:
  z0.j: train.x
  e3.target: train.y
schedule:
  - reset
  - advance: 10
  - evolve: [W1, W2, W3]
run:
  epochs: 1
  record: {z1.z: per_step, z2.zF: per_step, e3.dmu: per_step, e1.L: per_batch}
"""

NGC_LEARN_ORDER = ("E2", "E3", "z0", "z1", "z2", "W1", "W2", "W3", "e1", "e2", "e3")


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


ACT = {
    "sigmoid": (sigmoid, lambda v: sigmoid(v) * (1.0 - sigmoid(v))),
    "tanh": (np.tanh, lambda v: 1.0 - np.tanh(v) ** 2),
}


def numpy_pcn(x, y, weights, acts=("sigmoid", "tanh")):
    """One batch of the PCN: returns per-step traces, e1.L at the end and the new weights.

    Per step, with every value of the previous step (start of the step) written *_prev:
      E2 = e2.dmu_prev @ W2^T,  E3 = e3.dmu_prev @ W3^T                    (feedback, tied)
      z0 = x                                                              (tau_m 0)
      z_l <- z_l + dt/tau (j f'(z_l) + j_td),  j = E_{l+1}, j_td = e_l.dtarget_prev
      mu_l = f(z_{l-1}) @ W_l,  e_l.dmu = (target_l - mu_l) / 1,  dtarget = -dmu
      targets: z1, z2 of this step, and y for e3
    After T steps: W_l <- W_l - eta * sign * f(z_{l-1})^T e_l.dmu with sign = -1."""
    w1, w2, w3 = (w.copy() for w in weights)
    (f1, df1), (f2, df2) = ACT[acts[0]], ACT[acts[1]]
    b = x.shape[0]
    z1, z2 = np.zeros((b, 6)), np.zeros((b, 5))
    d1, d2, d3 = np.zeros((b, 6)), np.zeros((b, 5)), np.zeros((b, 3))   # e_l.dmu after reset
    trace = {"z1.z": [], "z2.zF": [], "e3.dmu": []}
    for _ in range(T_STEPS):
        j1 = d2 @ w2.T                      # E2 reads e2.dmu of the previous step
        j2 = d3 @ w3.T                      # E3 reads e3.dmu of the previous step
        jtd1, jtd2 = -d1, -d2               # e.dtarget of the previous step
        z1 = z1 + DT / TAU * (j1 * df1(z1) + jtd1)
        z2 = z2 + DT / TAU * (j2 * df2(z2) + jtd2)
        mu1, mu2, mu3 = x @ w1, f1(z1) @ w2, f2(z2) @ w3
        d1, d2, d3 = z1 - mu1, z2 - mu2, y - mu3
        trace["z1.z"].append(z1)
        trace["z2.zF"].append(f2(z2))
        trace["e3.dmu"].append(d3)
    loss1 = -0.5 * np.sum(d1 * d1)
    sign = -1.0
    w1 = w1 - ETA * sign * (x.T @ d1)
    w2 = w2 - ETA * sign * (f1(z1).T @ d2)
    w3 = w3 - ETA * sign * (f2(z2).T @ d3)
    return {k: np.array(v) for k, v in trace.items()}, loss1, (w1, w2, w3)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("pcn")
    rng = np.random.default_rng(2024)
    x = rng.uniform(0.0, 1.0, size=(2 * BATCH, SIZES[0]))
    y = np.eye(3)[rng.integers(0, 3, size=2 * BATCH)]
    weights = [rng.normal(0.0, 0.5, size=(a, b)) for a, b in zip(SIZES[:-1], SIZES[1:])]
    np.savez(d / "data.npz", x=x, y=y)
    paths = {}
    for i, w in enumerate(weights, 1):
        np.save(d / f"w{i}.npy", w)
        paths[f"w{i}"] = d / f"w{i}.npy"
    text = Template(PCN).substitute(data=d / "data.npz", **paths)
    circuit = ngcspec.load(text)
    return circuit, circuit.run(), x, y, weights


@pytest.fixture(scope="module")
def reference(setup):
    _, _, x, y, weights = setup
    # float32 inputs and weights, as the circuit holds them; the recursion in float64
    x, y = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    w = [a.astype(np.float32).astype(np.float64) for a in weights]
    batches = []
    for k in range(2):
        rows = slice(k * BATCH, (k + 1) * BATCH)
        trace, loss, w = numpy_pcn(x[rows], y[rows], w)
        batches.append((trace, loss))
    return batches, w


def test_derived_order_is_ngc_learns_process_order(setup):
    assert setup[0].order == NGC_LEARN_ORDER


def test_per_step_states_match_numpy_over_two_batches(setup, reference):
    _, result, *_ = setup
    batches, _ = reference
    for key in ("z1.z", "z2.zF", "e3.dmu"):
        rec = result.records[f"run/{key}"]            # (epochs, T, samples, units)
        assert rec.shape[:3] == (1, T_STEPS, 2 * BATCH), key
        for k, (trace, _) in enumerate(batches):
            got = rec[0, :, k * BATCH:(k + 1) * BATCH]
            np.testing.assert_allclose(got, trace[key], rtol=2e-4, atol=2e-6,
                                       err_msg=f"{key}, batch {k}")


def test_batch_losses_match_numpy(setup, reference):
    _, result, *_ = setup
    batches, _ = reference
    np.testing.assert_allclose(result.records["run/e1.L"][0], [l for _, l in batches],
                               rtol=2e-4)


def test_weights_after_two_batches_match_numpy(setup, reference):
    _, result, _, _, w_init = setup
    _, w_ref = reference
    for i, (w_r, w0) in enumerate(zip(w_ref, w_init), 1):
        got = np.asarray(result.state[f"W{i}"]["weights"])
        assert np.abs(w_r - w0).max() > 1e-2            # learning moved them noticeably
        np.testing.assert_allclose(got, w_r, rtol=2e-4, atol=2e-6, err_msg=f"W{i}")


def test_second_batch_depends_on_the_carried_weights(setup, reference):
    # guards the test's power: had the weights not been carried over (or not learned), the
    # second batch's trace would differ from the reference by far more than the tolerance
    _, _, x, y, weights = setup
    batches, _ = reference
    rows = slice(BATCH, 2 * BATCH)
    stale, _, _ = numpy_pcn(x[rows], y[rows], weights)
    assert np.abs(stale["z1.z"] - batches[1][0]["z1.z"]).max() > 1e-3
    assert np.abs(stale["e3.dmu"] - batches[1][0]["e3.dmu"]).max() > 1e-2
