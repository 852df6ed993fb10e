"""Activation functions: f and f' against numpy formulas and finite differences."""

import jax
import numpy as np
import pytest

from ngcspec.components import activations

jnp = jax.numpy


@pytest.fixture(autouse=True)
def x64():
    # Finite differences need float64; the context restores the global flag afterwards.
    with jax.enable_x64(True):
        yield


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


# Independent numpy statements of the table in components.md §2.2.
REFERENCE = {
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x >= 0) * 1.0),
    "lrelu": (lambda x: np.where(x >= 0, x, 0.01 * x), lambda x: np.where(x >= 0, 1.0, 0.01)),
    "relu6": (lambda x: np.minimum(np.maximum(x, 0), 6), lambda x: ((x >= 0) & (x <= 6)) * 1.0),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (_sig, lambda x: _sig(x) * (1 - _sig(x))),
    "softplus": (lambda x: np.log1p(np.exp(x)), _sig),
    "elu": (lambda x: np.where(x >= 0, x, np.exp(x) - 1), lambda x: np.where(x >= 0, 1, np.exp(x))),
    "silu": (lambda x: x * _sig(x), lambda x: _sig(x) + x * _sig(x) * (1 - _sig(x))),
    "gelu": (lambda x: x * _sig(1.702 * x),
             lambda x: _sig(1.702 * x) + 1.702 * x * _sig(1.702 * x) * (1 - _sig(1.702 * x))),
    "telu": (lambda x: x * np.tanh(np.exp(x)),
             lambda x: np.tanh(np.exp(x)) + x * np.exp(x) * (1 - np.tanh(np.exp(x)) ** 2)),
    "sine": (lambda x: np.sin(30 * x), lambda x: 30 * np.cos(30 * x)),
    "unit_threshold": (lambda x: (x >= 1) * 1.0, lambda x: np.ones_like(x)),
    "heaviside": (lambda x: (x >= 0) * 1.0, lambda x: np.ones_like(x)),
}
SMOOTH = ["identity", "tanh", "sigmoid", "softplus", "silu", "gelu", "telu", "sine"]
# Points away from every kink (0, 1, 6) so one-sided formulas are unambiguous.
X = np.array([-7.3, -2.2, -0.9, -0.31, 0.17, 0.55, 1.4, 3.3, 6.8])


def test_every_name_is_covered():
    assert set(REFERENCE) | {"softmax", "bkwta"} == set(activations.NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_value_and_derivative_match_the_table(name):
    f, df = activations.get(name)
    rf, rdf = REFERENCE[name]
    x = jnp.asarray(X)
    np.testing.assert_allclose(np.asarray(f(x)), rf(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(df(x)), rdf(X), rtol=1e-12, atol=1e-12)
    assert f(x).shape == df(x).shape == x.shape


@pytest.mark.slow
@pytest.mark.parametrize("name", SMOOTH + ["relu", "lrelu", "relu6", "elu"])
def test_derivative_matches_finite_differences(name):
    f, df = activations.get(name)
    h = 1e-6
    fd = (np.asarray(f(jnp.asarray(X + h))) - np.asarray(f(jnp.asarray(X - h)))) / (2 * h)
    np.testing.assert_allclose(np.asarray(df(jnp.asarray(X))), fd, rtol=1e-6, atol=1e-5)


def test_kink_conventions():
    x = jnp.asarray([0.0, 6.0, 1.0])
    assert np.asarray(activations.get("relu")[1](x))[0] == 1.0      # f'(0) = 1
    assert np.asarray(activations.get("lrelu")[1](x))[0] == 1.0
    assert list(np.asarray(activations.get("relu6")[1](x))[:2]) == [1.0, 1.0]
    assert np.asarray(activations.get("unit_threshold")[0](x))[2] == 1.0   # 1[x >= 1]
    assert np.asarray(activations.get("heaviside")[0](x))[0] == 1.0


def test_sine_uses_omega_0():
    f, df = activations.get("sine", omega_0=2.5)
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(X))), np.sin(2.5 * X), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(df(jnp.asarray(X))), 2.5 * np.cos(2.5 * X), rtol=1e-12)


@pytest.mark.slow
def test_softmax_value_and_jacobian():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)) * 3
    f, jac = activations.get("softmax")
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(x))), e / e.sum(-1, keepdims=True),
                               rtol=1e-12)
    J = np.asarray(jac(jnp.asarray(x)))
    assert J.shape == (3, 4, 4)
    h = 1e-6
    for k in range(4):   # column k of each row's Jacobian: d y / d x_k
        dx = np.zeros_like(x)
        dx[:, k] = h
        col = (np.asarray(f(jnp.asarray(x + dx))) - np.asarray(f(jnp.asarray(x - dx)))) / (2 * h)
        np.testing.assert_allclose(J[:, :, k], col, atol=1e-8)
    # A large input does not overflow.
    assert np.isfinite(np.asarray(f(jnp.asarray([[1000.0, 0.0]])))).all()


def test_only_softmax_has_a_non_elementwise_derivative():
    assert set(activations.NAMES) - activations.ELEMENTWISE_DERIVATIVE == {"softmax"}


def test_bkwta_keeps_the_five_largest_per_row():
    x = np.array([[0.3, 9.0, -1.0, 4.0, 2.0, 8.0, 0.1, 7.0],
                  [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]])
    f, df = activations.get("bkwta")
    y = np.asarray(f(jnp.asarray(x)))
    np.testing.assert_array_equal(y[0], [0, 1, 0, 1, 1, 1, 0, 1])
    assert y[1].sum() == 5             # exactly k even with ties
    np.testing.assert_array_equal(np.asarray(df(jnp.asarray(x))), y)  # f' is f itself
    # Fewer than five units: all of them win.
    np.testing.assert_array_equal(np.asarray(f(jnp.asarray([[1.0, -2.0, 3.0]]))), [[1, 1, 1]])


def test_softplus_is_stable_for_large_inputs():
    f, _ = activations.get("softplus")
    np.testing.assert_allclose(np.asarray(f(jnp.asarray([800.0, -800.0]))), [800.0, 0.0])


def test_elu_derivative_is_finite_for_large_inputs():
    _, df = activations.get("elu")
    assert np.isfinite(np.asarray(df(jnp.asarray([1000.0])))).all()


def test_unknown_name_is_an_error():
    with pytest.raises(ValueError, match="unknown activation"):
        activations.get("swish")
