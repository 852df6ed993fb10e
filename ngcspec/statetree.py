"""The state pytree ``{component: {compartment: array}}`` between and around programs.

Selecting and merging compartments (what a loop carries), giving batched compartments another
batch size, and a jitted epoch that returns only the compartments it changed.
"""

from __future__ import annotations

from typing import Callable

from ngcspec.lazy import jax, jnp


class JittedEpoch:
    """``epoch(params, state, *args) -> (state, outs)`` jitted, called like the function.

    The compiled program returns only the compartments the epoch changes, and the call
    hands the others back as the very arrays it was given: a compiled program copies every
    array it returns unchanged (for a network with optimiser state, most of the state, every
    call). ``lower`` and ``trace`` (and so ``jax.export``) see that program."""

    def __init__(self, epoch: Callable):
        def changes(params, state, *args):
            new, outs = epoch(params, state, *args)
            return {n: {c: v for c, v in s.items() if v is not state[n][c]}
                    for n, s in new.items()}, outs

        self._jit = jax.jit(changes)

    def __call__(self, params, state, *args):
        changed, outs = self._jit(params, state, *args)
        return {n: {c: changed[n][c] if c in changed[n] else _as_array(v) for c, v in s.items()}
                for n, s in state.items()}, outs

    def lower(self, *args, **kwargs):
        return self._jit.lower(*args, **kwargs)

    def trace(self, *args, **kwargs):
        return self._jit.trace(*args, **kwargs)


def _as_array(v):
    return v if isinstance(v, jax.Array) else jnp.asarray(v)


def select(state: dict, keys) -> dict:
    """``{(component, compartment): array}`` for ``keys``."""
    return {(n, c): state[n][c] for n, c in keys}


def merge(state: dict, parts: dict) -> dict:
    """``state`` with the ``{(component, compartment): array}`` of ``parts`` put in."""
    out = {n: dict(s) for n, s in state.items()}
    for (n, c), v in parts.items():
        out[n][c] = v
    return out


def resize(prog, state: dict, batch_size: int) -> dict:
    """Give batched compartments another batch size (a partial last batch, another phase).

    Per-sample dynamic values are cut or tiled; persistent per-sample values (e.g. adaptive
    thresholds) are carried as their mean over the batch."""
    out = {}
    for name in prog.order:
        s = dict(state[name])
        for cname, c in prog.comps[name].kind.compartments.items():
            v = s[cname]
            if not c.batched or v.shape[0] == batch_size:
                continue
            if c.persistent:
                s[cname] = jnp.broadcast_to(v.mean(axis=0, keepdims=True).astype(v.dtype),
                                            (batch_size,) + v.shape[1:])
            else:
                reps = -(-batch_size // v.shape[0])
                s[cname] = jnp.concatenate([v] * reps, axis=0)[:batch_size]
        out[name] = s
    return out
