"""Splitting a kind's parameters into what is traced and what is compiled in.

Floats are numeric: they enter the compiled program as a pytree of arrays, so changing them
never recompiles and ``jax.grad``/``vmap`` over them work. Everything else (integers, which
fix shapes, strings, booleans, None, and floats marked :data:`Static`) is structural.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class _StaticMarker:
    def __repr__(self) -> str:
        return "Static"


#: ``Annotated[float, Static]`` keeps a float out of the traced pytree.
Static = _StaticMarker()


def _is_static_field(field) -> bool:
    return any(m is Static for m in field.metadata)


def numeric_leaves(model: BaseModel) -> dict[str, Any]:
    """Nested dict of the model's numeric (traced) parameters, as Python floats."""
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        if _is_static_field(field):
            continue
        value = getattr(model, name)
        if isinstance(value, float):
            out[name] = value
        elif isinstance(value, BaseModel):
            sub = numeric_leaves(value)
            if sub:
                out[name] = sub
    return out


def _freeze(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return static_key(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def static_key(model: BaseModel) -> tuple:
    """Hashable summary of everything that is compiled in (numeric values left out)."""
    items = []
    numeric = numeric_leaves(model)
    for name in type(model).model_fields:
        if name in numeric and not isinstance(numeric[name], dict):
            items.append((name, "<traced>"))
        else:
            items.append((name, _freeze(getattr(model, name))))
    return (type(model).__name__, tuple(items))


class ParamView:
    """Attribute access to a parameter model whose numeric fields are replaced by arrays."""

    __slots__ = ("_model", "_numeric")

    def __init__(self, model: BaseModel, numeric: dict[str, Any]):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_numeric", numeric)

    def __getattr__(self, name: str) -> Any:
        numeric = self._numeric
        if name in numeric:
            value = numeric[name]
            if isinstance(value, dict):
                return ParamView(getattr(self._model, name), value)
            return value
        return getattr(self._model, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("parameters are read-only inside a step")

    def __repr__(self) -> str:
        return f"ParamView({self._model!r})"


def concrete(p: Any) -> BaseModel:
    """The parameter model behind ``p`` (a ParamView or a model): plain Python values,
    for the structural decisions a kind takes at trace time (see ``Component.structure``)."""
    return p._model if isinstance(p, ParamView) else p


def _admits_bool(annotation: Any) -> bool:
    from typing import get_args

    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(a) or a is True or a is False for a in get_args(annotation))


def _admits_number(annotation: Any) -> bool:
    from typing import get_args

    if annotation in (int, float):
        return True
    return any(_admits_number(a) for a in get_args(annotation))


class _YamlBool(str):
    """``true``/``false`` given where a number is expected, passed on as text so that the
    number's own validation refuses it at the field (shown as written: ``got true``)."""

    def __repr__(self) -> str:
        return str(self)


def refuse_bool_numbers(cls, data: Any) -> Any:
    """A before-validator of models: ``true``/``false`` are not numbers (pydantic would
    read them as 1 and 0, so ``eta: true`` would silently mean a rate of 1)."""
    if isinstance(data, dict):
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if isinstance(value, bool) and field is not None and \
                    _admits_number(field.annotation) and not _admits_bool(field.annotation):
                data = {**data, name: _YamlBool("true" if value else "false")}
    return data


def with_field(model: BaseModel, path, value) -> BaseModel:
    """A copy of ``model`` with the (nested) field at ``path`` set to ``value``, validated
    again (pydantic's ValidationError when the value does not fit)."""
    data = model.model_dump(by_alias=False)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return type(model).model_validate(data)
