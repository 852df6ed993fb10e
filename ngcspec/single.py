"""Driving one component on its own, outside a circuit.

Useful in notebooks and in the equation-level tests: ``Single("RateCell", n_units=3,
tau_m=10.0)`` builds the component, ``.advance(j=...)`` sets the named input compartments and
runs one step. The same pure functions run inside compiled circuits.
"""

from __future__ import annotations

from typing import Any

from ngcspec.lazy import jax, jnp, random
from ngcspec.params import ParamView
from ngcspec.registry import StepContext, get_kind
from ngcspec.state import initial_values, numeric_params, reset_component


class Single:
    def __init__(self, kind: str, *, batch_size: int = 1, dtype: str = "float32", seed: int = 0,
                 dt: float = 1.0, **params: Any):
        cls = get_kind(kind)
        if cls is None:
            raise KeyError(f"unknown component kind {kind!r}")
        self.kind = cls
        self.model = cls.Params(**params)
        self.dtype = dtype
        self.dt = dt
        self.batch_size = batch_size
        self.p = ParamView(self.model, numeric_params(self.model, dtype))
        self.shapes = cls.shapes(self.model)
        self.key = random.PRNGKey(seed)
        self.key, sub = random.split(self.key)
        self.t = 0.0
        self.state = initial_values(cls, self.model, sub, self.shapes, batch_size, dtype)
        self._jit: dict[str, Any] = {}
        self.reset()

    def _ctx(self, dt: float | None = None) -> StepContext:
        key = None
        if self.kind.stochastic:
            self.key, key = random.split(self.key)
        return StepContext(dt=jnp.asarray(self.dt if dt is None else dt, self.dtype),
                           t=jnp.asarray(self.t, self.dtype), key=key, batch_size=self.batch_size)

    def reset(self) -> dict:
        self.t = 0.0
        self.state = reset_component(self.kind, self.p, self.state, self.shapes, self._ctx(),
                                     self.dtype)
        return self.state

    def set(self, **values: Any) -> None:
        for name, v in values.items():
            if name not in self.state:
                raise KeyError(f"{self.kind.kind} has no compartment {name!r}")
            self.state[name] = jnp.broadcast_to(jnp.asarray(v, self.state[name].dtype),
                                                self.state[name].shape)

    def _compiled(self, method: str):
        """``kind.<method>`` jitted once (eager JAX compiles every small op separately)."""
        if method not in self._jit:
            fn = getattr(self.kind, method)
            model, batch = self.model, self.batch_size

            def run(numeric, state, dt, t, key):
                return fn(ParamView(model, numeric), state, StepContext(dt, t, key, batch))

            self._jit[method] = jax.jit(run)
        return self._jit[method]

    def _call(self, method: str, dt: float | None) -> dict:
        ctx = self._ctx(dt)
        return self._compiled(method)(self.p._numeric, self.state, ctx.dt, ctx.t, ctx.key)

    def advance(self, dt: float | None = None, **inputs: Any) -> dict:
        self.set(**inputs)
        self.state = {**self.state, **self._call("advance", dt)}
        self.t += self.dt if dt is None else dt
        return self.state

    def evolve(self, dt: float | None = None, **inputs: Any) -> dict:
        self.set(**inputs)
        self.state = {**self.state, **self._call("evolve", dt)}
        return self.state

    def __getitem__(self, name: str):
        return self.state[name]
