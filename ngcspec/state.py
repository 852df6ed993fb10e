"""Creating and resetting one component's slice of the state."""

from __future__ import annotations

from typing import Any

from ngcspec.lazy import jnp
from ngcspec.params import ParamView, numeric_leaves
from ngcspec.registry import Component, StepContext


def numeric_params(model, dtype) -> dict[str, Any]:
    """The traced parameters of one component as arrays of ``dtype``."""

    def cast(tree):
        return {k: cast(v) if isinstance(v, dict) else jnp.asarray(v, dtype) for k, v in tree.items()}

    return cast(numeric_leaves(model))


def initial_values(kind: type[Component], model, key, shapes: dict, batch_size: int, dtype,
                   files: dict | None = None) -> dict[str, Any]:
    """Persistent compartments at the start: ``kind.init`` (or arrays from files), with a
    batch axis added to batched ones (e.g. per-sample adaptive thresholds)."""
    s = dict(kind.init(model, key, dtype))
    for name, arr in (files or {}).items():
        if kind.compartments[name].persistent:
            s[name] = jnp.asarray(arr, s[name].dtype if name in s else dtype)
    for name, comp in kind.compartments.items():
        if comp.persistent and comp.batched and name in s and s[name].shape == tuple(shapes[name]):
            s[name] = jnp.broadcast_to(s[name], (batch_size,) + tuple(shapes[name]))
    return s


def reset_values(kind: type[Component], p: ParamView, shapes: dict, batch_size: int,
                 dtype, overrides: dict | None = None) -> dict[str, Any]:
    """Reset values of every non-persistent compartment, with a batch axis where declared.

    ``overrides`` maps compartment names to per-sample arrays that replace the declared reset
    value (initial state loaded from a file)."""
    out = {}
    for name, comp in kind.compartments.items():
        if comp.persistent:
            continue
        full = ((batch_size,) if comp.batched else ()) + tuple(shapes[name])
        dt = "int32" if comp.integer else dtype
        if overrides and name in overrides:
            out[name] = jnp.broadcast_to(jnp.asarray(overrides[name], dt), full)
            continue
        value = getattr(p, comp.reset) if isinstance(comp.reset, str) else comp.reset
        out[name] = jnp.full(full, value, dtype=dt)
    return out


def reset_component(kind: type[Component], p: ParamView, s: dict, shapes: dict,
                    ctx: StepContext, dtype, overrides: dict | None = None) -> dict:
    new = dict(s)
    new.update(reset_values(kind, p, shapes, ctx.batch_size, dtype, overrides))
    new.update(kind.reset(p, new, ctx))
    return new
