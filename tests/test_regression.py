"""Iterative Lasso / Ridge / Elastic Net circuits (ngcspec.regression and circuits/*_diabetes).

Every fit is checked against scikit-learn (a test-only dependency) on the mapped objective:

    Lasso        alpha = lmbda / n
    Ridge        alpha = lmbda
    ElasticNet   alpha = lmbda (1 + rho) / (2 n),  l1_ratio = 2 rho / (1 + rho)

and the ngc-learn defaults are checked against a NumPy re-implementation of ngc-learn's loop
(T = 100 advance steps, then one Adam evolve, per epoch). Each test compiles at most one
program (module-scoped fixtures; lr and lambda changes reuse the compiled program).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import ElasticNet, Lasso, Ridge  # noqa: E402

import ngcspec  # noqa: E402
from ngcspec import RunError  # noqa: E402
from ngcspec.data import load_dataset  # noqa: E402
from ngcspec.regression import (  # noqa: E402
    ConvergenceWarning, Iterative_ElasticNet, Iterative_Lasso, Iterative_Ridge, circuit_yaml)

CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"
N = 442
LASSO_LMBDA = 44.2          # sklearn Lasso alpha = 0.1


def rel(w, ref):
    return float(np.linalg.norm(np.asarray(w) - ref) / np.linalg.norm(ref))


def sk_fit(cls, X, y, **kw):
    if cls is not Ridge:
        kw.update(tol=1e-14, max_iter=1_000_000)
    return cls(**kw).fit(X, y)


@pytest.fixture(scope="module")
def diabetes():
    d = load_dataset("diabetes")
    X, y = d["x"].astype(np.float64), d["y"][:, 0].astype(np.float64)
    Xs, ys = load_diabetes(return_X_y=True)
    # ngcspec ships the same data as scikit-learn (stored in float32)
    np.testing.assert_allclose(X, Xs, atol=1e-7)
    np.testing.assert_array_equal(y, ys)
    return Xs, ys


# ---------------------------------------------------------------------------------------------
# the objective mappings


def test_sklearn_params_are_the_derived_mappings():
    name, kw = Iterative_Lasso(lasso_lmbda=44.2, fit_intercept=True).sklearn_params(442)
    assert name == "Lasso" and kw == {"alpha": pytest.approx(0.1), "fit_intercept": True}
    name, kw = Iterative_Ridge(ridge_lmbda=3.0).sklearn_params(442)
    assert name == "Ridge" and kw == {"alpha": 3.0, "fit_intercept": False}
    name, kw = Iterative_ElasticNet(lmbda=6.0, l1_ratio=0.5).sklearn_params(100)
    assert name == "ElasticNet"
    assert kw["alpha"] == pytest.approx(6.0 * 1.5 / 200) and kw["l1_ratio"] == pytest.approx(2 / 3)


def test_penalties_match_the_mapped_sklearn_objectives():
    """J/n of each module equals sklearn's objective (Ridge: J = sklearn's / 2) at any w."""
    rng = np.random.default_rng(1)
    X, y, w = rng.normal(size=(50, 4)), rng.normal(size=50), rng.normal(size=4)
    n, sse = 50, float(np.sum((y - X @ w) ** 2))
    las = Iterative_Lasso(lasso_lmbda=2.0)
    _, kw = las.sklearn_params(n)
    assert (0.5 * sse + las.penalty(w[:, None])) / n == pytest.approx(
        sse / (2 * n) + kw["alpha"] * np.abs(w).sum())
    rid = Iterative_Ridge(ridge_lmbda=2.0)
    _, kw = rid.sklearn_params(n)
    assert 0.5 * sse + rid.penalty(w[:, None]) == pytest.approx(0.5 * (sse + kw["alpha"] * w @ w))
    en = Iterative_ElasticNet(lmbda=2.0, l1_ratio=0.3)
    _, kw = en.sklearn_params(n)
    a, r = kw["alpha"], kw["l1_ratio"]
    assert (0.5 * sse + en.penalty(w[:, None])) / n == pytest.approx(
        sse / (2 * n) + a * r * np.abs(w).sum() + 0.5 * a * (1 - r) * w @ w)


def test_template_is_a_valid_circuit():
    text = circuit_yaml(sys_dim=1, dict_dim=10, epochs=7, prior=("elastic_net", 0.1, 0.3),
                        data={"dataset": "diabetes", "batch_size": 442}, intercept_lr=0.01)
    from ngcspec.resolve import resolve_file
    r = resolve_file(text)
    assert r.order[-1] == "err" and set(r.order) == {"W", "b", "err"}
    assert r.components["W"].params.prior.l1_ratio == 0.3


# ---------------------------------------------------------------------------------------------
# Ridge: float64 sgd to 1e-4 (in fact to rounding), with and without intercept, program reuse


@pytest.fixture(scope="module")
def ridge(diabetes):
    X, y = diabetes
    m = Iterative_Ridge(0, "ridge", 1, 10, ridge_lmbda=0.1, lr="auto", optim_type="sgd",
                        epochs=1000, fit_intercept=True, dtype="float64")
    return m.fit(X, y)


def test_ridge_matches_sklearn(diabetes, ridge):
    X, y = diabetes
    sk = sk_fit(Ridge, X, y, alpha=0.1)
    assert rel(ridge.coef_, sk.coef_) < 1e-4
    assert ridge.intercept_ == pytest.approx(sk.intercept_, rel=1e-9)
    np.testing.assert_allclose(ridge.predict(X), sk.predict(X), rtol=1e-6)
    assert ridge.coef_.shape == (10,) and ridge.weights_.shape == (10, 1)
    assert ridge.optimality_ < 1e-6
    r = y - sk.predict(X)
    assert ridge.L_ == pytest.approx(-0.5 * r @ r, rel=1e-9)


def test_ridge_refit_with_new_lambda_reuses_the_compiled_program(diabetes, ridge):
    X, y = diabetes
    compiled = ridge._compiled
    traces = compiled.fit_fn._cache_size()
    ridge.ridge_lmbda = 1.0
    ridge.fit(X, y)                                   # warm start, new lambda: same program
    assert rel(ridge.coef_, sk_fit(Ridge, X, y, alpha=1.0).coef_) < 1e-4
    ridge.fit_intercept = False                       # only the centring changes
    ridge.fit(X, y)
    sk = sk_fit(Ridge, X, y, alpha=1.0, fit_intercept=False)
    assert rel(ridge.coef_, sk.coef_) < 1e-4 and ridge.intercept_ == 0.0
    other = Iterative_Ridge(1, "another", 1, 10, ridge_lmbda=1.0, lr="auto", optim_type="sgd",
                            epochs=1000, dtype="float64").fit(X, y)
    assert rel(other.coef_, sk.coef_) < 1e-4
    assert ridge._compiled is compiled and other._compiled is compiled
    assert compiled.fit_fn._cache_size() == traces == 1
    too_fast = Iterative_Ridge(0, "r", 1, 10, ridge_lmbda=1.0, lr=1.0, optim_type="sgd",
                               epochs=1000, dtype="float64")      # 1.0 > 2 / sigma_max^2
    with pytest.raises(RunError, match="sigma_max"):
        too_fast.fit(X, y)
    assert too_fast._compiled is None and compiled.fit_fn._cache_size() == 1


# ---------------------------------------------------------------------------------------------
# Lasso: the proximal variant (exact zeros) and Adam (thresholded zeros)


@pytest.fixture(scope="module")
def lasso_sk(diabetes):
    X, y = diabetes
    return sk_fit(Lasso, X, y, alpha=LASSO_LMBDA / N)


def test_lasso_proximal_matches_sklearn_with_exact_zeros(diabetes, lasso_sk):
    X, y = diabetes
    m = Iterative_Lasso(0, "lasso", 1, 10, lasso_lmbda=LASSO_LMBDA, lr="auto",
                        optim_type="sgd", epochs=1000, fit_intercept=True, dtype="float64",
                        proximal=True).fit(X, y)
    assert rel(m.coef_, lasso_sk.coef_) < 1e-2
    zeros = lasso_sk.coef_ == 0
    assert zeros.sum() == 3
    np.testing.assert_array_equal(m.coef_ == 0, zeros)     # exact zeros, no thresholding
    coef, old = m.thresholding()
    np.testing.assert_array_equal(coef == 0, zeros)
    np.testing.assert_array_equal(coef, old)                # scale 1: nothing else changes
    doubled, _ = m.thresholding(scale=2.0)                  # ngc-learn's default factor
    np.testing.assert_allclose(doubled, 2 * old)
    np.testing.assert_allclose(m.weights_[:, 0], old)       # W itself stays unscaled
    assert m.intercept_ == pytest.approx(lasso_sk.intercept_, rel=1e-9)


def test_lasso_adam_matches_sklearn_after_thresholding(diabetes, lasso_sk):
    X, y = diabetes
    m = Iterative_Lasso(0, "lasso-adam", 1, 10, lasso_lmbda=LASSO_LMBDA, lr=1.0,
                        optim_type="adam", threshold=5.0, epochs=3000, fit_intercept=True)
    m.fit(X, y)
    assert rel(m.coef_, lasso_sk.coef_) < 1e-2
    assert m.optimality_ < 1e-2
    assert np.all(m.coef_ != 0)            # a subgradient method hovers around zero ...
    m.thresholding()                       # ... until thresholded
    np.testing.assert_array_equal(m.coef_ == 0, lasso_sk.coef_ == 0)
    assert rel(m.coef_, lasso_sk.coef_) < 1e-2
    # the thresholded W is what a further fit continues from
    np.testing.assert_array_equal(np.asarray(m._state["W"]["weights"])[:, 0] == 0,
                                  lasso_sk.coef_ == 0)


# ---------------------------------------------------------------------------------------------
# Elastic net: the derived mapping, not the naive one


def test_elastic_net_matches_sklearn_with_the_derived_mapping(diabetes):
    X, y = diabetes
    m = Iterative_ElasticNet(0, "en", 1, 10, lmbda=60.0, l1_ratio=0.5, lr=0.05,
                             optim_type="sgd", threshold=1.0, epochs=3000, fit_intercept=True,
                             dtype="float64")
    with pytest.warns(ConvergenceWarning):   # the zero coefficient hovers around 0
        m.fit(X, y)
    _, kw = m.sklearn_params(N)
    sk = sk_fit(ElasticNet, X, y, **kw)
    assert rel(m.coef_, sk.coef_) < 1e-2
    m.thresholding()
    np.testing.assert_array_equal(m.coef_ == 0, sk.coef_ == 0)
    assert (sk.coef_ == 0).sum() == 1
    # the sheet's "alpha = lmbda/n, same l1_ratio" doubles the L2 part: clearly another answer
    naive = sk_fit(ElasticNet, X, y, alpha=60.0 / N, l1_ratio=0.5)
    assert rel(m.coef_, naive.coef_) > 0.1


# ---------------------------------------------------------------------------------------------
# synthetic sparse recovery


def test_lasso_recovers_a_sparse_coefficient_vector():
    rng = np.random.default_rng(0)
    n, d = 200, 30
    X = rng.normal(size=(n, d))
    w_true = np.zeros(d)
    support = [3, 11, 17, 25]
    w_true[support] = [3.0, -2.0, 1.5, 4.0]
    y = X @ w_true + 5.0 + 0.1 * rng.normal(size=n)
    m = Iterative_Lasso(0, "sparse", 1, d, lasso_lmbda=8.0, lr="auto", optim_type="sgd",
                        epochs=500, fit_intercept=True, proximal=True).fit(X, y)
    np.testing.assert_array_equal(np.flatnonzero(m.coef_), support)
    np.testing.assert_allclose(m.coef_[support], w_true[support], atol=0.1)
    assert m.intercept_ == pytest.approx(5.0, abs=0.05)
    assert rel(m.coef_, sk_fit(Lasso, X, y, alpha=8.0 / n).coef_) < 1e-4   # float32 run


# ---------------------------------------------------------------------------------------------
# ngc-learn's defaults: same numbers as its loop, and a warning that they do not converge


def ngclearn_lasso(X, Y, lmbda, lr, epochs, w0=0.05, T=100, state=None):
    """NumPy transcription of Iterative_Lasso.fit (reference sheet section 6): per epoch T
    identical advance steps (mu = X W, e = y - mu), then one Adam evolve of
    dW = -(X^T e) + lmbda sign(W)."""
    W, m, v, t = state or (np.full((X.shape[1], Y.shape[1]), w0), 0.0, 0.0, 0)
    for _ in range(epochs):
        for _ in range(T):
            e = Y - X @ W
        g = -(X.T @ e) + lmbda * np.sign(W)
        t += 1
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        W = W - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return W, (W, m, v, t)


def test_defaults_reproduce_ngclearn_and_warn_that_they_do_not_converge(diabetes):
    X, y = diabetes
    Y = y[:, None]
    m = Iterative_Lasso(0, "defaults", 1, 10, 442)        # lr 0.01, adam, 100 epochs
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        m.fit(X, Y)
    W1, st = ngclearn_lasso(X, Y, 1e-4, 0.01, 100)
    np.testing.assert_allclose(m.weights_, W1, atol=2e-5)
    assert m.coef_.shape == (1, 10)                      # 2-D y: sklearn's (targets, features)
    assert np.all(np.abs(m.weights_ - 0.05) <= 100 * 0.01 + 1e-6)   # at most ~lr per epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(X, Y)                                      # weights and Adam state carry over
    W2, _ = ngclearn_lasso(X, Y, 1e-4, 0.01, 100, state=st)
    np.testing.assert_allclose(m.weights_, W2, atol=5e-5)
    fresh = Iterative_Lasso(0, "defaults", 1, 10, warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fresh.fit(X, Y)
        fresh.fit(X, Y)                                  # starts again from weight_fill
    np.testing.assert_allclose(fresh.weights_, W1, atol=2e-5)
    assert fresh._compiled is m._compiled


def test_argument_errors():
    with pytest.raises(ValueError, match="proximal"):
        Iterative_Lasso(optim_type="adam", proximal=True)
    with pytest.raises(ValueError, match="auto"):
        Iterative_Ridge(lr="auto")
    with pytest.raises(ValueError, match="l1_ratio"):
        Iterative_ElasticNet(l1_ratio=1.5)
    m = Iterative_Ridge(0, "r", 1, 3, batch_size=10)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="dict_dim"):
        m.fit(np.zeros((10, 4)), np.zeros(10))


# ---------------------------------------------------------------------------------------------
# the command-line circuits


def test_ngc_run_lasso_diabetes_prints_the_objective_and_records_the_coefficients(
        tmp_path, diabetes, lasso_sk):
    from typer.testing import CliRunner
    from ngcspec.cli.app import app

    res = CliRunner().invoke(app, ["run", str(CIRCUITS / "lasso_diabetes.yaml"), "--out",
                                   str(tmp_path), "--no-progress"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "intercept" in res.output and " L " in res.output
    run_dir = next(tmp_path.glob("lasso-diabetes/*"))
    rec = np.load(run_dir / "records.npz")
    w = rec["fit/W.weights"][:, 0]
    assert rel(w, lasso_sk.coef_) < 1e-2
    np.testing.assert_array_equal(np.abs(w) < 5.0, lasso_sk.coef_ == 0)   # threshold 5
    assert float(rec["fit/b.weights"].ravel()[0]) == pytest.approx(diabetes[1].mean(), rel=1e-5)
    r = diabetes[1] - diabetes[0] @ w - diabetes[1].mean()
    assert float(rec["fit/err.L"]) == pytest.approx(-0.5 * r @ r, rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name, ref", [
    ("ridge_diabetes.yaml", lambda X, y: sk_fit(Ridge, X, y, alpha=1.0)),
    ("elastic_net_diabetes.yaml",
     lambda X, y: sk_fit(ElasticNet, X, y, alpha=5.0 * 1.5 / (2 * N), l1_ratio=2 / 3)),
])
def test_ridge_and_elastic_net_circuits_match_sklearn(diabetes, name, ref):
    X, y = diabetes
    result = ngcspec.load(CIRCUITS / name).run()
    sk = ref(X, y)
    assert rel(result.records["fit/W.weights"][:, 0], sk.coef_) < 1e-4
    assert result.metrics["fit"][-1]["intercept"] == pytest.approx(sk.intercept_, rel=1e-5)
