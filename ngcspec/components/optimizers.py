"""Optimizers as pairs of pure functions over explicit state (the Optax shape).

An :class:`Optimizer` bundles ``init(params) -> state`` and
``update(params, updates, state, eta) -> (params, state)``. ``params`` and ``updates`` are
matching pytrees (a synapse passes ``(W,)`` or ``(W, b)``); ``eta`` may be a traced scalar, so
a new learning rate never recompiles. The state is a small NamedTuple of arrays that a synapse
keeps in persistent compartments: it survives ``reset`` and is carried from batch to batch.

Both optimizers **subtract** the update, as in ngc-learn: ``theta <- theta - eta * step(u)``.
A synapse that wants gradient ascent on a Hebbian product therefore negates it (``sign_value``).

- ``sgd``:  theta <- theta - eta * u. State: a step counter.
- ``adam``: with t incremented before use,
  m <- b1 m + (1 - b1) u,  v <- b2 v + (1 - b2) u^2,
  theta <- theta - eta * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
  Defaults b1 = 0.9, b2 = 0.999, eps = 1e-8. Its first step is about -eta * sign(u).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ngcspec.lazy import jax, jnp


class SgdState(NamedTuple):
    count: Any  # number of updates applied (int32 scalar)


class AdamState(NamedTuple):
    count: Any  # number of updates applied (int32 scalar); t = count + 1 at the next update
    mu: Any     # first moments, a pytree shaped like params
    nu: Any     # second moments, a pytree shaped like params


class Optimizer(NamedTuple):
    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any, Any], tuple[Any, Any]]


def sgd() -> Optimizer:
    """Plain gradient step, theta <- theta - eta * u."""

    def init(params):
        return SgdState(count=jnp.zeros((), "int32"))

    def update(params, updates, state, eta):
        new = jax.tree_util.tree_map(lambda p, u: p - eta * u, params, updates)
        return new, SgdState(count=state.count + 1)

    return Optimizer(init, update)


def adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam with bias correction; the step counter is incremented before it is used."""

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdamState(count=jnp.zeros((), "int32"), mu=zeros, nu=zeros)

    def update(params, updates, state, eta):
        count = state.count + 1
        mu = jax.tree_util.tree_map(lambda m, u: b1 * m + (1 - b1) * u, state.mu, updates)
        nu = jax.tree_util.tree_map(lambda v, u: b2 * v + (1 - b2) * u * u, state.nu, updates)

        def step(p, m, v):
            t = count.astype(p.dtype)
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            return p - eta * m_hat / (jnp.sqrt(v_hat) + eps)

        new = jax.tree_util.tree_map(step, params, mu, nu)
        return new, AdamState(count=count, mu=mu, nu=nu)

    return Optimizer(init, update)


_FACTORIES = {"sgd": sgd, "adam": adam}


def get(name: str) -> Optimizer:
    """The optimizer called ``name`` ("sgd" or "adam") with its default hyperparameters."""
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(_FACTORIES)}") \
            from None
