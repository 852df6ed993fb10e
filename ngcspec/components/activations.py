"""Activation functions by name: the value f and the derivative f' the cells use.

``get(name)`` returns ``(f, df)``, both acting on arrays of any shape; "row" means the last
axis (the units of one sample). The table is ngc-learn's (``act_fx`` strings):

================  ===============================  =============================================
name              f(x)                             f'(x)
================  ===============================  =============================================
identity          x                                1
relu              max(0, x)                        1 if x >= 0 else 0 (so f'(0) = 1)
lrelu             x if x >= 0 else 0.01 x          1 if x >= 0 else 0.01
relu6             clip(x, 0, 6)                    1 if 0 <= x <= 6 else 0
tanh              tanh x                           1 - tanh^2 x
sigmoid           s(x) = 1 / (1 + e^-x)            s(x) (1 - s(x))
softplus          ln(1 + e^x)                      s(x)
elu               x if x >= 0 else e^x - 1         1 if x >= 0 else e^x
silu              x s(x)                           s(x) + x s(x) (1 - s(x))
gelu              x s(1.702 x)                     s(bx) + bx s(bx) (1 - s(bx)), b = 1.702
telu              x tanh(e^x)                      tanh(e^x) + x e^x (1 - tanh^2(e^x))
sine              sin(w0 x)                        w0 cos(w0 x)            (w0 = omega_0, 30)
softmax           row softmax                      the row Jacobian diag(y) - y y^T, shape
                                                   (..., D, D): not elementwise
unit_threshold    1[x >= 1]                        1 (straight-through)
heaviside         1[x >= 0]                        1 (straight-through)
bkwta             1 for the k = 5 largest of a     the same function (as in ngc-learn; it is
                  row, 0 elsewhere                 not a derivative)
================  ===============================  =============================================

Every derivative except softmax's is elementwise (``ELEMENTWISE_DERIVATIVE``); cells that
multiply by f'(z) reject softmax in their ``check``.

Deviations from ngc-learn: ``sine`` uses the ``omega_0`` it is given (ngc-learn demands the
argument but always uses 30); only the exact name ``heaviside`` is accepted (ngc-learn takes
any name containing it); an unknown name is a validation error, not a RuntimeError at build.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, get_args

from ngcspec.lazy import jnp, lax

ActFx = Literal["identity", "relu", "lrelu", "relu6", "tanh", "sigmoid", "softplus", "elu",
                "silu", "gelu", "telu", "sine", "softmax", "unit_threshold", "heaviside",
                "bkwta"]
NAMES: tuple[str, ...] = get_args(ActFx)

#: Names whose f' has the shape of its argument (all but softmax).
ELEMENTWISE_DERIVATIVE = frozenset(NAMES) - {"softmax"}

LRELU_SLOPE = 0.01
GELU_BETA = 1.702   # the sigmoid approximation of GELU, x * s(1.702 x)
BKWTA_K = 5

Fn = Callable[[Any], Any]


def _sigmoid(x):
    return lax.logistic(x)


def _swish(beta: float) -> tuple[Fn, Fn]:
    def f(x):
        return x * _sigmoid(beta * x)

    def df(x):
        s = _sigmoid(beta * x)
        return s + beta * x * s * (1.0 - s)

    return f, df


def _softmax(x):
    e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _softmax_jacobian(x):
    y = _softmax(x)
    return y[..., :, None] * (jnp.eye(x.shape[-1], dtype=x.dtype) - y[..., None, :])


def _bkwta(x):
    # Exactly k ones per row even with ties (top_k breaks ties by position).
    k = min(BKWTA_K, x.shape[-1])
    _, idx = lax.top_k(x, k)
    hits = idx[..., :, None] == jnp.arange(x.shape[-1])
    return jnp.any(hits, axis=-2).astype(x.dtype)


def _step(threshold: float) -> tuple[Fn, Fn]:
    return (lambda x: (x >= threshold).astype(x.dtype)), (lambda x: jnp.ones_like(x))


# Complexity over 10 on purpose: a flat table, one two-line branch per activation name.
def get(name: str, *, omega_0: Any = 30.0) -> tuple[Fn, Fn]:  # noqa: C901
    """``(f, df)`` for an activation name; ``omega_0`` is used by ``sine`` only."""
    if name == "identity":
        return (lambda x: x), (lambda x: jnp.ones_like(x))
    if name == "relu":
        return (lambda x: jnp.maximum(x, 0.0)), (lambda x: (x >= 0).astype(x.dtype))
    if name == "lrelu":
        return ((lambda x: jnp.where(x >= 0, x, LRELU_SLOPE * x)),
                (lambda x: jnp.where(x >= 0, 1.0, LRELU_SLOPE).astype(x.dtype)))
    if name == "relu6":
        return ((lambda x: jnp.clip(x, 0.0, 6.0)),
                (lambda x: ((x >= 0) & (x <= 6)).astype(x.dtype)))
    if name == "tanh":
        return jnp.tanh, (lambda x: 1.0 - jnp.tanh(x) ** 2)
    if name == "sigmoid":
        return _sigmoid, (lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)))
    if name == "softplus":
        return (lambda x: jnp.logaddexp(x, 0.0)), _sigmoid
    if name == "elu":
        # expm1 of the clipped argument keeps the unused branch finite for large x.
        return ((lambda x: jnp.where(x >= 0, x, jnp.expm1(jnp.minimum(x, 0.0)))),
                (lambda x: jnp.where(x >= 0, 1.0, jnp.exp(jnp.minimum(x, 0.0)))))
    if name == "silu":
        return _swish(1.0)
    if name == "gelu":
        return _swish(GELU_BETA)
    if name == "telu":
        def telu_df(x):
            t = jnp.tanh(jnp.exp(x))
            return t + x * jnp.exp(x) * (1.0 - t * t)
        return (lambda x: x * jnp.tanh(jnp.exp(x))), telu_df
    if name == "sine":
        return ((lambda x: jnp.sin(omega_0 * x)),
                (lambda x: omega_0 * jnp.cos(omega_0 * x)))
    if name == "softmax":
        return _softmax, _softmax_jacobian
    if name == "unit_threshold":
        return _step(1.0)
    if name == "heaviside":
        return _step(0.0)
    if name == "bkwta":
        return _bkwta, _bkwta
    raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(NAMES)}")
