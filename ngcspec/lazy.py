"""Deferred imports of JAX.

Validation (``ngc validate``, the JSON Schema, ``ngc components``) must not pay for importing
JAX, yet each component family keeps its equations in the same module as its parameters. The
families therefore write ``from ngcspec.lazy import jnp, lax, random`` and the real module is
imported on the first attribute access, which only happens when a circuit is compiled.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _Deferred:
    __slots__ = ("_name", "_module")

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = importlib.import_module(self._name)
            object.__setattr__(self, "_module", module)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<deferred module {self._name}>"


jax = _Deferred("jax")
jnp = _Deferred("jax.numpy")
lax = _Deferred("jax.lax")
random = _Deferred("jax.random")
