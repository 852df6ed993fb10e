"""The example circuits in ``circuits/``: every file validates, every example runs and its key
number matches an expectation computed independently of ngcspec (a closed form, a NumPy
re-implementation, SciPy, or the published value).

Each circuit is compiled and run once (module-scoped fixtures); JAX compilation dominates
the time, so the examples are small and the classifier runs 2 of its 15 epochs here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import ngcspec
from ngcspec.data import load_dataset

CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"
DATA = CIRCUITS / "data"
NGC = str(Path(sys.executable).with_name("ngc"))
FILES = sorted(CIRCUITS.glob("*.yaml"))

CORE_KINDS = {"RateCell", "GaussianErrorCell", "LaplacianErrorCell", "BernoulliErrorCell",
              "LeakyNoiseCell", "RewardErrorCell", "DenseSynapse", "StaticSynapse",
              "HebbianSynapse"}


def run(name: str, **kw):
    return ngcspec.load(CIRCUITS / name).run(**kw)


# ---------------------------------------------------------------------------------------------
# every file


def test_examples_exist_and_start_with_the_schema_line():
    assert len(FILES) >= 8
    for f in FILES:
        first = f.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/circuit.schema.json", f.name


def test_every_core_kind_appears_in_an_example():
    kinds = set()
    for f in FILES:
        kinds |= {c["kind"] for c in yaml.safe_load(f.read_text())["components"].values()}
    assert CORE_KINDS <= kinds, f"no example uses {sorted(CORE_KINDS - kinds)}"


@pytest.mark.slow
def test_ngc_validate_accepts_every_example():
    proc = subprocess.run([NGC, "validate", *map(str, FILES)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stimulus_files_hold_what_the_headers_say():
    j = np.load(DATA / "step_current.npy")
    assert j.shape == (80, 1) and j[5:45].min() == 1 and j[:5].max() == 0 and j[45:].max() == 0
    np.testing.assert_array_equal(np.load(DATA / "lesson3_spikes.npy").ravel(), [1, 1, 0, 0, 1])
    r = np.load(DATA / "reward.npy").ravel()
    np.testing.assert_array_equal(r, np.r_[np.zeros(20), np.ones(40), np.full(40, 0.5)])
    g = np.load(DATA / "pc_init_gain.npy").ravel()
    assert g[0] == 20.0 and len(g) >= 20 and np.all(g[1:] == 1.0)


# ---------------------------------------------------------------------------------------------
# RateCell: leaky integration of a step current, Euler and RK4 against the closed form


@pytest.fixture(scope="module")
def ratecell():
    return run("ratecell_step_response.yaml")


def test_ratecell_step_response_matches_the_closed_form(ratecell):
    euler = ratecell.records["run/euler.z"].ravel()
    rk4 = ratecell.records["run/rk4.z"].ravel()
    assert euler.shape == rk4.shape == (80,)
    a = 0.1                                      # dt / tau_m
    k = np.arange(80)
    on = (k >= 5) & (k <= 44)
    # Euler: z_k = 1 - (1 - a)^(k - 4) while the current is on, then decay by (1 - a)
    expect_euler = np.where(on, 1 - (1 - a) ** (k - 4), 0.0)
    expect_euler[45:] = expect_euler[44] * (1 - a) ** (k[45:] - 44)
    expect_euler[:5] = 0.0
    np.testing.assert_allclose(euler, expect_euler, atol=1e-6)
    # RK4 on a linear ODE is exact up to O(a^5) per step: compare with the exponential
    expect_exact = np.where(on, 1 - np.exp(-a * (k - 4)), 0.0)
    expect_exact[45:] = expect_exact[44] * np.exp(-a * (k[45:] - 44))
    np.testing.assert_allclose(rk4, expect_exact, atol=1e-6)
    assert euler[44] == pytest.approx(1 - 0.9 ** 40, abs=1e-6)     # 0.9852
    assert rk4[44] == pytest.approx(1 - np.exp(-4.0), abs=1e-6)   # 0.9817


# ---------------------------------------------------------------------------------------------
# HebbianSynapse: ngc-learn's Lesson 3, exactly


def test_hebbian_lesson3_weights_double_on_each_spike():
    res = run("hebbian_lesson3.yaml")
    np.testing.assert_array_equal(res.records["run/Wab.weights"].ravel(), [1, 2, 4, 4, 4])
    np.testing.assert_array_equal(res.records["run/b.zF"].ravel(), [1, 2, 0, 0, 4])
    assert float(np.asarray(res.state["Wab"]["weights"]).ravel()[0]) == 8.0


# ---------------------------------------------------------------------------------------------
# RewardErrorCell: online and episodic predictions against their recursions


@pytest.mark.slow
def test_reward_prediction_follows_its_recursions():
    res = run("reward_prediction.yaml")
    reward = np.load(DATA / "reward.npy").ravel()
    mu, mu_on, rpe_on = 0.0, [], []
    for r in reward:                                    # online, alpha 0.1
        rpe_on.append(r - mu)
        mu = 0.9 * mu + 0.1 * r
        mu_on.append(mu)
    np.testing.assert_allclose(res.records["run/online.mu"].ravel(), mu_on, atol=1e-5)
    np.testing.assert_allclose(res.records["run/online.rpe"].ravel(), rpe_on, atol=1e-5)
    mu, acc, mu_ep, rpe_ep = 0.0, 0.0, [], []
    for k, r in enumerate(reward):                      # episodic: evolve every 10 steps
        rpe_ep.append(r - mu)
        acc += r
        mu_ep.append(mu)
        if k % 10 == 9:
            mu = 0.8 * mu + 0.2 * acc / (k + 1)
    np.testing.assert_allclose(res.records["run/episodic.mu"].ravel(), mu_ep, atol=1e-5)
    np.testing.assert_allclose(res.records["run/episodic.rpe"].ravel(), rpe_ep, atol=1e-5)
    assert mu_on[59] == pytest.approx(0.9852, abs=1e-4)
    assert rpe_on[60] == pytest.approx(-0.4852, abs=1e-4)


# ---------------------------------------------------------------------------------------------
# LeakyNoiseCell + DenseSynapse recurrence: Ornstein-Uhlenbeck mean and variance


def test_leaky_noise_population_has_the_ou_mean_and_variance():
    res = run("leaky_noise_recurrent.yaml")
    x = res.records["run/x.x"][0]                       # (steps, batch, units)
    assert x.shape == (600, 8, 100)
    late = x[200:]                                      # the slowest mode relaxes in ~20 steps
    assert late.min() > 0.5                             # relu never clips: the process is linear
    W = np.asarray(res.state["Wrec"]["weights"], np.float64)
    n, dt_tau, sigma, tau = 100, 0.1, 0.1, 10.0
    x_star = np.linalg.solve((np.eye(n) - W).T, np.ones(n))   # x (I - W) = j
    lam = np.linalg.eigvalsh(W)                         # W is symmetric
    a = 1 + (lam - 1) * dt_tau
    b = np.sqrt(2 * tau) * sigma * dt_tau
    var = np.mean(b ** 2 / (1 - a ** 2))
    assert x_star.mean() == pytest.approx(1.4327, abs=1e-3)
    assert late.mean() == pytest.approx(x_star.mean(), rel=0.01)
    assert late.var(axis=(0, 1)).mean() == pytest.approx(var, rel=0.08)


# ---------------------------------------------------------------------------------------------
# Gaussian vs Laplacian error cells: least squares vs least absolute deviations


@pytest.mark.slow
def test_robust_regression_gaussian_is_least_squares_laplacian_is_lad():
    from scipy.optimize import linprog

    res = run("robust_regression.yaml")
    raw = np.loadtxt(DATA / "outliers.csv", delimiter=",", skiprows=1)
    X, y = np.c_[raw[:, :2], np.ones(len(raw))], raw[:, 2]
    ls = np.linalg.lstsq(X, y, rcond=None)[0]
    # LAD as a linear programme: min sum(u + v)  s.t.  X beta + u - v = y,  u, v >= 0
    n = len(y)
    lp = linprog(np.r_[np.zeros(3), np.ones(2 * n)], A_eq=np.c_[X, np.eye(n), -np.eye(n)], b_eq=y,
                 bounds=[(None, None)] * 3 + [(0, None)] * (2 * n), method="highs")
    lad = lp.x[:3]
    s = res.state
    gauss = np.r_[np.ravel(s["Wg"]["weights"]), np.ravel(s["Wg"]["biases"])]
    laplace = np.r_[np.ravel(s["Wl"]["weights"]), np.ravel(s["Wl"]["biases"])]
    np.testing.assert_allclose(gauss, ls, atol=2e-3)            # ~(1.76, -0.81, 1.56)
    np.testing.assert_allclose(laplace, lad, atol=0.03)         # ~(2, -1, 0.5)
    np.testing.assert_allclose(laplace, [2.0, -1.0, 0.5], atol=0.05)
    assert np.abs(gauss - [2.0, -1.0, 0.5]).max() > 0.5         # the outliers drag least squares
    hist = res.metrics["train"]
    assert hist[-1]["laplace_energy"] == pytest.approx(-lp.fun, rel=0.01)
    assert hist[-1]["gauss_energy"] == pytest.approx(-0.5 * np.sum((X @ ls - y) ** 2), rel=1e-3)
    assert hist[-1]["laplace_energy"] > hist[0]["laplace_energy"]
    assert hist[-1]["gauss_energy"] > hist[0]["gauss_energy"]


# ---------------------------------------------------------------------------------------------
# BernoulliErrorCell: logistic regression by the delta rule, re-done in NumPy


@pytest.mark.slow
def test_bernoulli_logistic_regression_matches_numpy_gradient_ascent():
    res = run("bernoulli_logistic_digits.yaml")
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    X, Y = train["x"].astype(np.float64), train["y"].astype(np.float64)
    W, b, eta = np.zeros((64, 10)), np.zeros(10), 0.03
    for _ in range(10):                                  # no shuffling: batches in file order
        for i in range(0, len(X), 64):
            x, t = X[i:i + 64], Y[i:i + 64]
            dp = t - 1 / (1 + np.exp(-(x @ W + b)))
            W += eta * x.T @ dp
            b += eta * dp.sum(0)
    np.testing.assert_allclose(np.asarray(res.state["W"]["weights"]), W, atol=2e-3)
    np.testing.assert_allclose(np.asarray(res.state["W"]["biases"]), b, atol=2e-3)
    acc = np.mean(np.argmax(test["x"] @ W + b, axis=1) == test["label"])
    assert res.metrics["test"][-1]["accuracy"] == pytest.approx(acc, abs=1 / 360 + 1e-9)
    assert acc > 0.92
    ll = [m["log_likelihood"] for m in res.metrics["train"]]
    assert all(b > a for a, b in zip(ll, ll[1:]))


# ---------------------------------------------------------------------------------------------
# Sparse coding: reconstruction error falls; dictionary atoms stay unit-norm; E1 = W1^T


@pytest.fixture(scope="module")
def sparse_coding():
    return run("sparse_coding_digits.yaml", epochs=3)


@pytest.mark.slow
def test_sparse_coding_reconstruction_error_falls(sparse_coding):
    train = [m["energy"] for m in sparse_coding.metrics["train"]]
    test = [m["energy"] for m in sparse_coding.metrics["test"]]
    assert len(train) == len(test) == 3
    assert all(b > a for a, b in zip(train, train[1:])), train     # L = -1/2 sum e^2 rises
    assert test[-1] > test[0], test
    assert train[-1] > 0.5 * train[0]                               # at least halved
    assert -2 * test[-1] / (40 * 64) < 0.003                        # per-pixel squared error


@pytest.mark.slow
def test_sparse_coding_dictionary_is_normalised_and_tied(sparse_coding):
    W1 = np.asarray(sparse_coding.state["W1"]["weights"])
    np.testing.assert_allclose(np.linalg.norm(W1, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(sparse_coding.state["E1"]["weights"]), W1.T)


# ---------------------------------------------------------------------------------------------
# The predictive-coding classifier (2 of its 15 epochs; the full run reaches ~0.97)


@pytest.fixture(scope="module")
def classifier():
    return run("pc_digits_classifier.yaml", epochs=2)


@pytest.mark.slow
def test_pc_classifier_learns_the_digits_in_two_epochs(classifier):
    acc = classifier.metrics["test"][-1]["accuracy"]
    assert acc > 0.85, acc
    energy = [m["label_energy"] for m in classifier.metrics["train"]]
    assert energy[1] > energy[0]


@pytest.mark.slow
def test_pc_classifier_test_phase_reads_the_feedforward_prediction(classifier):
    # With e2 silenced and the one-step gain on e1, z1 sits at W1 x + b1 from step 1 on, so
    # e2.mu is the plain feed-forward pass relu(x W1 + b1) W2 + b2.
    s = {k: {c: np.asarray(v, np.float64) for c, v in d.items()}
         for k, d in classifier.state.items()}
    test = load_dataset("digits", "test")
    h = np.maximum(test["x"] @ s["W1"]["weights"] + s["W1"]["biases"], 0.0)
    pred = h @ s["W2"]["weights"] + s["W2"]["biases"]
    acc = np.mean(np.argmax(pred, axis=1) == test["label"])
    assert classifier.metrics["test"][-1]["accuracy"] == pytest.approx(acc, abs=1 / 360 + 1e-9)
    np.testing.assert_allclose(classifier.records["test/e2.mu"], pred, atol=1e-4)


def test_pc_classifier_feedback_is_the_transpose_of_the_forward_weights(classifier):
    s = classifier.state
    np.testing.assert_array_equal(np.asarray(s["E2"]["weights"]), np.asarray(s["W2"]["weights"]).T)
