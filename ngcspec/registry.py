"""Component kinds: declared once, used everywhere.

A kind is a class that declares its parameters (a pydantic model), its compartments (role,
per-sample shape, reset value, meaning) and pure functions over its own slice of the state:

    advance(p, s, ctx) -> dict   one integration step; returns the compartments it changed
    evolve(p, s, ctx)  -> dict   plasticity (only for plastic kinds)
    init(p, key, dtype) -> dict  values of persistent compartments (weights, optimiser state)
    reset(p, s, ctx)   -> dict   optional extra reset beyond the declared reset values

``p`` gives attribute access to the parameters. Inside compiled code numeric parameters are
traced arrays (so a new ``eta`` or ``tau_m`` does not recompile) and everything else is a
plain Python value that fixes the structure of the program. ``s`` maps compartment names to
arrays; input compartments hold the values of their wires, read at the component's turn.

A step returns only declared compartments, never one of its inputs (save an input declared
``consumed``), each with the shape and dtype the state holds; the compiler checks this when it
traces the step (``compiler.checked_writes``) and names kind, method and compartment.

Registering the class (``@register``) is all it takes for a kind to appear in validation,
the JSON Schema, ``ngc components`` and the compiler.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, ClassVar, Literal, Mapping

from pydantic import BaseModel, ConfigDict, model_validator

from ngcspec.params import concrete, refuse_bool_numbers

Role = Literal["input", "state", "output", "weight"]

ROLE_MEANING = {
    "input": "read from wires or clamps; reset to its reset value when nothing drives it",
    "state": "internal dynamic value",
    "output": "value other components read through wires",
    "weight": "persistent parameter (kept across reset, saved in checkpoints)",
}


@dataclass(frozen=True)
class Compartment:
    """Declaration of one compartment of a kind.

    shape: per-sample shape as a small expression over the parameters, e.g. ``"n_units"`` or
        ``"shape[0], shape[1]"``; ``""`` is a scalar. Batched compartments get a leading
        batch axis.
    reset: value restored by ``reset``: a number, the name of a numeric parameter, or None
        for a persistent compartment whose value comes from ``init`` and survives resets.
    """

    role: Role
    shape: str
    doc: str
    batched: bool = True
    reset: float | str | None = 0.0
    integer: bool = False
    evolve_only: bool = False   # an input only plasticity reads: its wires do not order the step
    # Steps never write their inputs, except one declared ``consumed``: a one-step gate the
    # step that reads it sets back to its reset value (an error cell's mask).
    consumed: bool = False

    @property
    def persistent(self) -> bool:
        return self.reset is None


def In(shape: str, doc: str, reset: float | str = 0.0, batched: bool = True,
       evolve_only: bool = False, consumed: bool = False) -> Compartment:
    return Compartment("input", shape, doc, batched=batched, reset=reset, evolve_only=evolve_only,
                       consumed=consumed)


def State(shape: str, doc: str, reset: float | str | None = 0.0, batched: bool = True,
          integer: bool = False) -> Compartment:
    return Compartment("state", shape, doc, batched=batched, reset=reset, integer=integer)


def Out(shape: str, doc: str, reset: float | str = 0.0, batched: bool = True) -> Compartment:
    return Compartment("output", shape, doc, batched=batched, reset=reset)


def Weight(shape: str, doc: str) -> Compartment:
    return Compartment("weight", shape, doc, batched=False, reset=None)


class ComponentParams(BaseModel):
    """Base of every kind's parameter model: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    _numbers_are_not_bools = model_validator(mode="before")(classmethod(refuse_bool_numbers))


@dataclass(frozen=True)
class StepContext:
    """What a component's step may read besides its own state."""

    dt: Any          # step size in ms (traced scalar)
    t: Any           # time since the last reset in ms (traced scalar)
    key: Any         # PRNG key for stochastic kinds, None otherwise
    batch_size: int  # static


class Component:
    """Base of every kind; subclasses are registered with :func:`register`."""

    kind: ClassVar[str]
    family: ClassVar[str] = ""
    Params: ClassVar[type[ComponentParams]] = ComponentParams
    compartments: ClassVar[dict[str, Compartment]] = {}
    plastic: ClassVar[bool] = False      # has an evolve step
    stochastic: ClassVar[bool] = False   # advance draws random numbers (receives ctx.key)

    @classmethod
    def structure(cls, p) -> tuple:
        """Structural facts derived from numeric parameters (e.g. tau_m <= 0 means stateless).

        Anything here is compiled in; the rest of the numeric parameters are traced.
        """
        return ()

    @classmethod
    def structural(cls, p, name: str):
        """One fact of :meth:`structure`, from ``p`` as a kind's functions receive it (a
        traced parameter view or the model itself)."""
        return dict(cls.structure(concrete(p)))[name]

    @classmethod
    def shapes(cls, p) -> dict[str, tuple[int, ...]]:
        """Per-sample shapes of every compartment for parameters ``p`` (no batch axis)."""
        return {name: eval_shape(c.shape, p) for name, c in cls.compartments.items()}

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        """Cross-parameter checks beyond the pydantic model: (parameter, message) pairs."""
        return []

    @classmethod
    def check_initial(cls, p, name: str, value) -> list[str]:
        """Problems of an initial value given for compartment ``name`` (an array of its
        shape, from a file or inline) beyond its shape; each message says the fix."""
        return []

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        """Values of persistent compartments; the default is zeros."""
        from ngcspec.lazy import jnp

        shapes = cls.shapes(p)
        return {
            name: jnp.zeros(shapes[name], dtype="int32" if c.integer else dtype)
            for name, c in cls.compartments.items() if c.persistent
        }

    @classmethod
    def reset(cls, p, s, ctx) -> dict:
        return {}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        return {}

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        raise TypeError(f"{cls.kind} has no plasticity")

    @classmethod
    def describe(cls) -> str:
        import inspect

        return inspect.cleandoc(cls.__doc__ or "")


_REGISTRY: dict[str, type[Component]] = {}


def register(cls: type[Component]) -> type[Component]:
    """Class decorator: makes a kind known to every part of ngcspec."""
    name = cls.__name__
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"component kind {name} registered twice")
    cls.kind = name
    for cname, comp in cls.compartments.items():
        if comp.role == "weight" and comp.batched:
            raise ValueError(f"{name}.{cname}: weights are not batched")
    _REGISTRY[name] = cls
    return cls


def kinds() -> Mapping[str, type[Component]]:
    _load_library()
    return dict(_REGISTRY)


def get_kind(name: str) -> type[Component] | None:
    _load_library()
    return _REGISTRY.get(name)


def _load_library() -> None:
    # Importing the package registers every family; idempotent.
    import ngcspec.components  # noqa: F401


# ---------------------------------------------------------------------------------------------
# Shape expressions: "n_units", "shape[0], shape[1]", "n_units * 2", "" (scalar)

_ALLOWED = (ast.Expression, ast.Tuple, ast.Name, ast.Load, ast.Subscript, ast.Constant,
            ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)


def eval_shape(expr: str, p: Any) -> tuple[int, ...]:
    expr = expr.strip()
    if not expr:
        return ()
    return tuple(int(v) for v in _eval(_parse_shape(expr), p))


@lru_cache(maxsize=None)
def _parse_shape(expr: str) -> ast.AST:
    # Parsed once per expression: kinds declare a few dozen, each evaluated for every
    # component of every file (validating 100 files parsed them 3,900 times).
    tree = ast.parse(f"({expr},)", mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"unsupported shape expression {expr!r}")
    return tree.body


_BINARY_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.FloorDiv: lambda a, b: a // b,
}


def _eval(node: ast.AST, p: Any):
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e, p) for e in node.elts)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return getattr(p, node.id)
    if isinstance(node, ast.Subscript):
        return _eval(node.value, p)[_eval(node.slice, p)]
    if isinstance(node, ast.BinOp):
        return _BINARY_OPS[type(node.op)](_eval(node.left, p), _eval(node.right, p))
    raise ValueError(f"unsupported shape expression node {ast.dump(node)}")
