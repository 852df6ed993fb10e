"""Integrators: hand-computed steps, the reference's numbers, and convergence order."""

import jax
import numpy as np
import pytest

from ngcspec.components import integrators
from ngcspec.components.integrators import ORDER, integrate

jnp = jax.numpy
lax = jax.lax

METHODS = ["euler", "midpoint", "heun", "ralston", "rk4"]
ALIASES = {"rk1": "euler", "rk2": "midpoint", "rk2_heun": "heun", "rk2_ralston": "ralston"}


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_names_orders_and_aliases_agree():
    assert set(integrators.NAMES) == set(ORDER) == set(integrators.STEPPERS)
    assert [ORDER[m] for m in METHODS] == [1, 2, 2, 2, 4]
    for alias, name in ALIASES.items():
        assert ORDER[alias] == ORDER[name]
        assert integrators.STEPPERS[alias] is integrators.STEPPERS[name]


# dz/dt = (1 - z)/2 from z = 0, dt = 1 (components.md §2.3). With h = dt/tau = 1/2 every
# second-order method gives 1 - (1 - h + h^2/2) = 0.375 and RK4 adds the h^3, h^4 terms.
LINEAR = {
    "euler": 0.5,
    "midpoint": 0.375,
    "heun": 0.375,
    "ralston": 0.375,
    "rk4": 1 - (1 - 0.5 + 0.5**2 / 2 - 0.5**3 / 6 + 0.5**4 / 24),   # 0.3932291666...
}


@pytest.mark.parametrize("method", list(LINEAR) + list(ALIASES))
def test_linear_step_matches_the_reference(method):
    z = integrate(method, lambda z: (1.0 - z) / 2.0, jnp.asarray(0.0), 1.0)
    assert float(z) == pytest.approx(LINEAR[ALIASES.get(method, method)], abs=1e-12)


def test_rk4_is_not_euler_and_heun_is_not_rk4():
    # ngc-learn's RateCell runs Euler for "rk4" (0.5) and RK4 for "heun" (0.39323).
    f = lambda z: (1.0 - z) / 2.0  # noqa: E731
    assert float(integrate("rk4", f, jnp.asarray(0.0), 1.0)) == pytest.approx(0.3932291667)
    assert float(integrate("heun", f, jnp.asarray(0.0), 1.0)) == pytest.approx(0.375)


# dx/dt = x^2 from x = 1 with dt = 0.1, stages worked by hand:
#   midpoint: 1 + 0.1 * 1.05^2                         = 1.11025
#   heun:     1 + 0.05 * (1 + 1.1^2)                   = 1.1105
#   ralston:  1 + 0.1 * (1 + 2 * 1.075^2) / 3           = 1.110375
# The second-order schemes differ once the ODE is nonlinear.
QUADRATIC = {"euler": 1.1, "midpoint": 1.11025, "heun": 1.1105, "ralston": 1.110375}


@pytest.mark.parametrize("method", list(QUADRATIC))
def test_nonlinear_stage_placement(method):
    x = integrate(method, lambda x: x * x, jnp.asarray(1.0), 0.1)
    assert float(x) == pytest.approx(QUADRATIC[method], abs=1e-12)


def test_rk4_nonlinear_step_against_hand_stages_and_exact_solution():
    k1 = 1.0
    k2 = (1 + 0.05 * k1) ** 2
    k3 = (1 + 0.05 * k2) ** 2
    k4 = (1 + 0.1 * k3) ** 2
    hand = 1 + 0.1 * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    x = float(integrate("rk4", lambda x: x * x, jnp.asarray(1.0), 0.1))
    assert x == pytest.approx(hand, abs=1e-14)
    assert abs(x - 1 / (1 - 0.1)) < 1e-6        # exact: x(t) = 1/(1 - t)


def test_works_on_arrays_with_inputs_held_constant():
    j = jnp.asarray([[1.0, -2.0, 0.5]])
    x = integrate("rk4", lambda x: (j - x) / 4.0, jnp.zeros((1, 3)), 1.0)
    h = 0.25
    np.testing.assert_allclose(np.asarray(x),
                               np.asarray(j) * (1 - (1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24)))


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown integration method"):
        integrate("rk45", lambda x: x, jnp.asarray(0.0), 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_convergence_order(method):
    # dx/dt = 1 - x^2, x(0) = 0, has x(t) = tanh t: fit the log-log slope of the final error.
    @jax.jit   # dt and the step count are arguments: one compilation per method
    def final(dt, n):
        return lax.fori_loop(0, n, lambda i, x: integrate(method, lambda x: 1.0 - x * x, x, dt),
                             jnp.asarray(0.0))

    dts = 2.0 ** -np.arange(3, 10)
    errors = [abs(float(final(dt, int(round(2.0 / dt)))) - np.tanh(2.0)) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - ORDER[method]) < 0.15, (method, slope, errors)
