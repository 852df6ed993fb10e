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

A synapse keeps the state in compartments named after it, whichever optimizer its parameters
choose (checkpoints and records use these names): ``opt_count`` for the step counter and
``opt_<letter><param>`` for each per-parameter field, e.g. ``opt_mW``/``opt_vW`` for adam's
moments of the weights W and ``opt_mb``/``opt_vb`` for the biases b.
:func:`compartments` declares them, :func:`initial_state` gives their start values and
:func:`apply` maps them to an optimizer's state, takes one step and maps the state back, so a
new optimizer is added here alone (its factory, its state and a letter per field).

optax's ``scale_by_adam`` followed by ``-eta`` gives the same numbers (tests/test_optimizer_state.py
checks 100 steps against it); it is not used here, since these few lines are all the synapses
need and a core dependency would pin JAX's versions further.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, NamedTuple, get_args

from ngcspec.lazy import jax, jnp
from ngcspec.registry import Compartment, State


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
_STATES: dict[str, type] = {"sgd": SgdState, "adam": AdamState}

#: The ``optim_type`` a synapse's parameters accept.
Name = Literal["sgd", "adam"]
NAMES: tuple[str, ...] = get_args(Name)

# Each per-parameter field of a state: the letter of its compartments and what it holds.
_FIELDS = {"mu": ("m", "first moment"), "nu": ("v", "second moment")}


def get(name: str) -> Optimizer:
    """The optimizer called ``name`` ("sgd" or "adam") with its default hyperparameters."""
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(_FACTORIES)}") \
            from None


# ---------------------------------------------------------------------------------------------
# The state as compartments of a synapse


def per_parameter_fields(name: str) -> tuple[str, ...]:
    """The fields of optimizer ``name``'s state kept once per parameter (adam: mu, nu)."""
    return tuple(f for f in _STATES[name]._fields if f != "count")


def compartments(params: dict[str, tuple[str, str]]) -> dict[str, Compartment]:
    """Persistent compartments for the state of any optimizer over ``params``, given as
    ``{suffix: (shape expression, what it is)}``, e.g. ``{"W": ("shape[0], shape[1]", "W")}``.

    A kind's compartments do not depend on its parameters, so every optimizer's fields are
    declared; those the chosen optimizer lacks stay zero."""
    out = {"opt_count": State("", "optimizer steps taken", reset=None, batched=False,
                              integer=True)}
    fields = dict.fromkeys(f for n in NAMES for f in per_parameter_fields(n))
    for suffix, (shape, what) in params.items():
        for field in fields:
            letter, meaning = _FIELDS[field]
            users = [n for n in NAMES if field in per_parameter_fields(n)]
            others = [n for n in NAMES if n not in users]
            doc = f"{'/'.join(users)} {meaning} of {what}" + (
                f" (unused by {'/'.join(others)})" if others else "")
            out[f"opt_{letter}{suffix}"] = State(shape, doc, reset=None, batched=False)
    return out


def initial_state(shapes: dict[str, tuple[int, ...]], dtype) -> dict:
    """Start values of the compartments :func:`compartments` declares, for ``{suffix: shape}``."""
    declared = compartments({suffix: ("", "") for suffix in shapes})
    return {c: jnp.zeros((), "int32") if c == "opt_count" else
            jnp.zeros(shapes[c[len("opt_") + 1:]], dtype) for c in declared}


def per_parameter(name: str, suffix: str) -> list[str]:
    """The compartments optimizer ``name`` keeps for the parameter ``suffix``."""
    return [f"opt_{_FIELDS[f][0]}{suffix}" for f in per_parameter_fields(name)]


def read_state(name: str, s: dict, suffixes: tuple[str, ...]):
    """Optimizer ``name``'s state over the parameters ``suffixes``, from the compartments."""
    fields = {f: tuple(s[f"opt_{_FIELDS[f][0]}{x}"] for x in suffixes)
              for f in per_parameter_fields(name)}
    return _STATES[name](count=s["opt_count"], **fields)


def written_state(state, suffixes: tuple[str, ...]) -> dict:
    """The compartments holding ``state`` (an optimizer's state over ``suffixes``)."""
    out = {"opt_count": state.count}
    for field in state._fields:
        if field != "count":
            out.update({f"opt_{_FIELDS[field][0]}{x}": v
                        for x, v in zip(suffixes, getattr(state, field))})
    return out


def apply(name: str, s: dict, params: dict, updates: dict, eta) -> tuple[dict, dict]:
    """One step of optimizer ``name`` on ``params`` ({suffix: array}) with ``updates``, its
    state read from the compartments of ``s``; returns the new parameters and the
    compartments of the new state."""
    suffixes = tuple(params)
    new, state = get(name).update(tuple(params.values()), tuple(updates[x] for x in suffixes),
                                  read_state(name, s, suffixes), eta)
    return dict(zip(suffixes, new)), written_state(state, suffixes)
