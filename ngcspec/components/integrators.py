"""Explicit one-step ODE integrators shared by the cells.

``integrate(method, f, x, dt)`` advances dx/dt = f(x) by one step of size ``dt``. Anything
else the derivative depends on (input currents, noise drawn for this step) is closed over by
``f`` and therefore held constant across the stages, as in ngc-learn.

=====================  =====  ==============================================================
method                 order  step
=====================  =====  ==============================================================
euler, rk1             1      x + dt k1,                        k1 = f(x)
midpoint, rk2          2      x + dt f(x + dt/2 k1)
heun, rk2_heun         2      x + dt/2 (k1 + k2),               k2 = f(x + dt k1)
ralston, rk2_ralston   2      x + dt (k1 + 2 k2) / 3,           k2 = f(x + 3/4 dt k1)
rk4                    4      classic Runge-Kutta, weights 1, 2, 2, 1 over 6
=====================  =====  ==============================================================

Deviations from ngc-learn: every name runs the scheme it names. ngc-learn's RateCell maps
its codes through a three-entry table, so ``"rk4"`` silently runs Euler and ``"heun"`` runs
RK4, and LeakyNoiseCell raises KeyError for ``ralston`` and ``rk4``; an unknown name falls
back to Euler there, while here it is a validation error.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, get_args

IntegrationType = Literal["euler", "rk1", "midpoint", "rk2", "heun", "rk2_heun", "ralston",
                          "rk2_ralston", "rk4"]
NAMES: tuple[str, ...] = get_args(IntegrationType)

Derivative = Callable[[Any], Any]


def euler(f: Derivative, x, dt):
    return x + dt * f(x)


def midpoint(f: Derivative, x, dt):
    return x + dt * f(x + 0.5 * dt * f(x))


def heun(f: Derivative, x, dt):
    k1 = f(x)
    k2 = f(x + dt * k1)
    return x + 0.5 * dt * (k1 + k2)


def ralston(f: Derivative, x, dt):
    # The second-order pair with the smallest truncation-error bound (Ralston 1962).
    k1 = f(x)
    k2 = f(x + 0.75 * dt * k1)
    return x + dt * (k1 + 2.0 * k2) / 3.0


def rk4(f: Derivative, x, dt):
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + dt * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0


STEPPERS: dict[str, Callable] = {
    "euler": euler, "rk1": euler,
    "midpoint": midpoint, "rk2": midpoint,
    "heun": heun, "rk2_heun": heun,
    "ralston": ralston, "rk2_ralston": ralston,
    "rk4": rk4,
}

#: Global order of accuracy of each method.
ORDER: dict[str, int] = {
    "euler": 1, "rk1": 1,
    "midpoint": 2, "rk2": 2,
    "heun": 2, "rk2_heun": 2,
    "ralston": 2, "rk2_ralston": 2,
    "rk4": 4,
}


def integrate(method: str, f: Derivative, x, dt):
    """One step of ``method`` for dx/dt = f(x) from ``x``."""
    try:
        step = STEPPERS[method]
    except KeyError:
        raise ValueError(f"unknown integration method {method!r}; "
                         f"expected one of {', '.join(NAMES)}") from None
    return step(f, x, dt)
