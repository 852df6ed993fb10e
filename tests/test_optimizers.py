"""sgd and adam against plain numpy recursions written here."""

import numpy as np
import pytest

from ngcspec.components import optimizers
from ngcspec.lazy import jax, jnp


def numpy_adam(theta, grads, eta, b1=0.9, b2=0.999, eps=1e-8):
    """Reference: theta after each update, m, v from zero, t incremented before use."""
    theta = np.array(theta, np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    out = []
    for t, u in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * u
        v = b2 * v + (1 - b2) * u ** 2
        theta = theta - eta * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(theta.copy())
    return out


def test_sgd_matches_numpy_over_several_steps():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 2)), rng.normal(size=(2,))
    grads = [(rng.normal(size=(3, 2)), rng.normal(size=(2,))) for _ in range(5)]
    opt = optimizers.sgd()
    params = (jnp.asarray(w, "float32"), jnp.asarray(b, "float32"))
    state = opt.init(params)
    for k, (gw, gb) in enumerate(grads, start=1):
        params, state = opt.update(params, (jnp.asarray(gw, "float32"), jnp.asarray(gb, "float32")),
                                   state, 0.1)
        w, b = w - 0.1 * gw, b - 0.1 * gb                 # subtracts the update
        np.testing.assert_allclose(params[0], w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(params[1], b, rtol=1e-5, atol=1e-6)
        assert int(state.count) == k


@pytest.mark.slow
def test_adam_matches_numpy_over_several_steps():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) * (k + 1) for k in range(6)]
    expected = numpy_adam(theta, grads, eta=0.01)
    opt = optimizers.adam()
    params = (jnp.asarray(theta, "float32"),)
    state = opt.init(params)
    for k, u in enumerate(grads):
        params, state = opt.update(params, (jnp.asarray(u, "float32"),), state, 0.01)
        np.testing.assert_allclose(params[0], expected[k], rtol=1e-5, atol=1e-6)
    assert int(state.count) == 6


@pytest.mark.slow
def test_adam_first_step_is_minus_eta_sign():
    u = np.array([[3.0, -0.002], [0.5, -40.0]])
    opt = optimizers.adam()
    params, state = opt.update((jnp.zeros((2, 2)),), (jnp.asarray(u, "float32"),),
                               opt.init((jnp.zeros((2, 2)),)), 0.05)
    np.testing.assert_allclose(params[0], -0.05 * np.sign(u), rtol=1e-4)
    # moments after one step: (1 - b1) u and (1 - b2) u^2
    np.testing.assert_allclose(state.mu[0], 0.1 * u, rtol=1e-5)
    np.testing.assert_allclose(state.nu[0], 0.001 * u ** 2, rtol=1e-5)


@pytest.mark.slow
def test_adam_zero_update_leaves_params():
    opt = optimizers.adam()
    p0 = (jnp.ones((2,)),)
    params, _ = opt.update(p0, (jnp.zeros((2,)),), opt.init(p0), 1.0)
    np.testing.assert_array_equal(params[0], np.ones(2))


def test_adam_hyperparameters_are_used():
    rng = np.random.default_rng(2)
    grads = [rng.normal(size=(3,)) for _ in range(3)]
    expected = numpy_adam(np.zeros(3), grads, eta=0.1, b1=0.5, b2=0.9, eps=1e-3)
    opt = optimizers.adam(b1=0.5, b2=0.9, eps=1e-3)
    params = (jnp.zeros(3),)
    state = opt.init(params)
    for u in grads:
        params, state = opt.update(params, (jnp.asarray(u, "float32"),), state, 0.1)
    np.testing.assert_allclose(params[0], expected[-1], rtol=1e-5, atol=1e-6)


def test_adam_state_round_trips_through_separate_calls_under_jit():
    # The synapse stores the state in compartments between calls; a jitted update with a
    # traced eta must continue the same recursion and never retrace for a new eta.
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(2, 2)) for _ in range(4)]
    traces = []

    def step(params, u, count, mu, nu, eta):
        traces.append(1)
        st = optimizers.AdamState(count, mu, nu)
        params, st = optimizers.adam().update(params, u, st, eta)
        return params, st.count, st.mu, st.nu

    step = jax.jit(step)
    params = (jnp.zeros((2, 2)),)
    st = optimizers.adam().init(params)
    count, mu, nu = st
    theta = np.zeros((2, 2))
    m = v = np.zeros((2, 2))
    for t, (u, eta) in enumerate(zip(grads, [0.1, 0.2, 0.05, 0.3]), start=1):
        params, count, mu, nu = step(params, (jnp.asarray(u, "float32"),), count, mu, nu,
                                     jnp.asarray(eta, "float32"))
        m = 0.9 * m + 0.1 * u
        v = 0.999 * v + 0.001 * u ** 2
        theta = theta - eta * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(params[0], theta, rtol=1e-5, atol=1e-6)
    assert len(traces) == 1


def test_get_by_name():
    assert optimizers.get("sgd").init(None).count == 0
    assert isinstance(optimizers.get("adam").init((jnp.zeros(2),)), optimizers.AdamState)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizers.get("nag")
