"""pydantic's validation errors, said in the terms of the circuit file.

pydantic reports where it was in its own models (union tags and validator names included)
and in its own words ("Input should be a valid integer"). The resolver reports each problem
at the line and column of the value in the file, with the field path as written, what was
expected, what was given, and a near name where there is one. The steps:

- :func:`data_path` follows pydantic's location through the data (skipping union tags);
- :func:`humanise` rewords one error;
- :func:`problems_from_pydantic` turns a whole ``ValidationError`` into located problems,
  merging what pydantic says several times (the members of a union each complain; a
  misspelt required field is both unknown and missing).
"""

from __future__ import annotations

import types
import typing
from typing import Any, NamedTuple

from ngcspec.errors import Problem, near, one_of, suggest
from ngcspec.spec import HINT


def show_value(v: Any, limit: int = 60) -> str:
    """A user value as it would be written in the file, shortened."""
    if v is None:
        text = "null"
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, float) and v != v:
        text = ".nan"
    elif isinstance(v, float) and v in (float("inf"), float("-inf")):
        text = ".inf" if v > 0 else "-.inf"
    elif isinstance(v, (dict, list)):
        return "a mapping" if isinstance(v, dict) else "a list"
    else:
        text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# one error, reworded

_TYPE_WORDS = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a text value",
    "dict": "a mapping (name: value)", "model": "a mapping (name: value)",
    "model_attributes": "a mapping (name: value)", "list": "a list", "tuple": "a list",
    "set": "a list", "frozen_set": "a list",
}

_BOUND_WORDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}


def humanise(err: dict) -> str:
    """pydantic's message, said in the terms of the file: what was expected, what was given."""
    kind, msg = err["type"], err["msg"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    got = f", got {show_value(given)}" if "input" in err else ""
    if kind.startswith("value_error") or kind == "assertion_error":
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if isinstance(given, float) and given != given and kind != "missing":
        return "expected a number, got .nan (NaN is not a valid value)"
    for words in (_number_words, _type_words, _length_words, _choice_words):
        text = words(kind, ctx, given, got)
        if text is not None:
            return text
    msg = msg.replace("Input should be a valid ", "expected a ").replace("Input should be ", "expected ")
    return msg + (got if "input" in err and not isinstance(given, (dict, list)) else "")


def _number_words(kind: str, ctx: dict, given: Any, got: str) -> str | None:
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        return f"must be {words} {ctx.get(key)}{got}"
    if kind == "finite_number":
        return f"expected a finite number{got}"
    if kind == "int_from_float":
        return f"expected an integer (a whole number){got}"
    if kind.startswith("int_"):
        return f"expected an integer{got}" + (" (too large)" if "size" in kind else "")
    return None


def _type_words(kind: str, ctx: dict, given: Any, got: str) -> str | None:
    for prefix, words in _TYPE_WORDS.items():
        if kind in (f"{prefix}_type", f"{prefix}_parsing"):
            return f"expected {words}{got}"
    return None


def _length_words(kind: str, ctx: dict, given: Any, got: str) -> str | None:
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        what = "item" if n == 1 else "items"
        actual = f", got {ctx.get('actual_length')}" if "actual_length" in ctx else ""
        return (f"needs at least {n} {what}" if kind == "too_short"
                else f"takes at most {n} {what}") + actual
    if kind == "string_too_short":
        return f"needs at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"takes at most {ctx.get('max_length')} characters"
    return None


def _choice_words(kind: str, ctx: dict, given: Any, got: str) -> str | None:
    if kind == "string_pattern_mismatch":
        if "\\." in str(ctx.get("pattern", "")):
            return f"expected 'component.compartment'{got}"
        return (f"{show_value(given)} is not a valid name: use letters, digits and '_', "
                "not starting with a digit")
    if kind in ("literal_error", "enum"):
        return f"expected {ctx.get('expected', '')}{got}"
    return None


# ---------------------------------------------------------------------------------------------
# a whole ValidationError -> located problems


class _Finding(NamedTuple):
    path: tuple        # in the file
    kind: str          # pydantic's error type
    msg: str
    hint: str
    key: bool          # point at the key rather than the value
    name: Any          # the last part of pydantic's location


def problems_from_pydantic(exc, src, prefix: tuple, data: Any,
                           model: type | None = None) -> list[Problem]:
    """The problems of ``exc`` (a ``ValidationError`` of ``model`` validating ``data``, which
    sits at ``prefix`` in the file ``src``), located and merged."""
    found = [_finding(err, prefix, data, model) for err in exc.errors(include_url=False)]
    retyped = _point_at_misspellings(found)
    _merge_union_alternatives(found)
    out, seen = [], set()
    for f in found:
        if f.kind == "missing" and (f.path[:-1], str(f.name)) in retyped:
            continue                 # said by the misspelling that points at it
        if (f.path, f.msg) in seen:   # members of a union repeat the same complaint
            continue
        seen.add((f.path, f.msg))
        out.append(src.problem(f.path, f.msg, f.hint, key=f.key))
    return out


def _finding(err: dict, prefix: tuple, data: Any, model) -> _Finding:
    loc = tuple(err["loc"])
    kind = err["type"]
    path = tuple(prefix) + data_path(data, loc)
    name = loc[-1] if loc else ""
    if kind in ("missing", "extra_forbidden") and loc and (not path or path[-1] != name):
        path += (name,)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _union_tag_finding(err, path)
    if kind == "extra_forbidden":
        allowed = allowed_fields(model, loc)
        hint = suggest(str(name), allowed) or (f"allowed fields: {one_of(allowed)}" if allowed else "")
        return _Finding(path, kind, f"unknown field '{name}'", hint, True, name)
    if kind == "missing":
        return _missing_finding(path, loc, name, model)
    msg, _, hint = humanise(err).partition(HINT)
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip(" '\"") for o in str(expected).replace(" or ", ",").split(",")]
        hint = suggest(str(err.get("input")), [o for o in options if o])
    return _Finding(path, kind, msg, hint, False, name)


def _union_tag_finding(err: dict, path: tuple) -> _Finding:
    """A tagged union (schedule entries, clamps, initial values) without a known tag."""
    ctx = err.get("ctx") or {}
    field_name = str(ctx.get("discriminator", "")).strip("'")
    tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
    tags = [t for t in tags if t]
    if err["type"] == "union_tag_invalid" and field_name:
        tag = ctx.get("tag")
        return _Finding(path + (field_name,), err["type"],
                        f"unknown {field_name} {show_value(tag)}; expected one of {', '.join(tags)}",
                        suggest(str(tag), tags), False, field_name)
    return _Finding(path, err["type"], f"needs a field '{field_name}'" + (
        f" (one of {', '.join(tags)})" if tags else ""), "", False, field_name)


def _missing_finding(path: tuple, loc: tuple, name: Any, model) -> _Finding:
    if isinstance(name, int):
        return _Finding(path[:-1], "missing", f"too few items: item #{name + 1} is missing",
                        "", False, name)
    desc = field_description(model, loc)
    return _Finding(path, "missing", f"missing required field '{name}'",
                    f"{name}: {desc}" if desc else "", False, name)


def _point_at_misspellings(found: list[_Finding]) -> set[tuple]:
    """A misspelt required field gives two errors (unknown 'tau_mm', missing 'tau_m'): the
    one at the misspelling says that the near name is required. Returns the (mapping path,
    name) of the missing fields so explained, whose own error is then left out."""
    missing = {(f.path[:-1], str(f.name)) for f in found if f.kind == "missing"}
    retyped: set[tuple] = set()
    for i, f in enumerate(found):
        if f.kind != "extra_forbidden":
            continue
        target = near(str(f.name), [m[1] for m in missing if m[0] == f.path[:-1]])
        if target is not None and (f.path[:-1], target) not in retyped:
            retyped.add((f.path[:-1], target))
            found[i] = f._replace(hint=f"did you mean '{target}'? (a required field)")
    return retyped


def _merge_union_alternatives(found: list[_Finding]) -> None:
    """The members of a union each complain ("expected a number", "expected a list") about
    the same value: one message lists what any of them would take."""
    def split(msg: str) -> tuple[str, str] | None:
        if msg.startswith("expected ") and ", got " in msg:
            expected, got = msg[len("expected "):].rsplit(", got ", 1)
            return expected, got
        return None

    alternatives: dict[tuple, list[str]] = {}
    for f in found:
        parts = split(f.msg)
        if parts is not None:
            alternatives.setdefault((f.path, parts[1]), []).append(parts[0])
    for i, f in enumerate(found):
        parts = split(f.msg)
        if parts is None:
            continue
        options = list(dict.fromkeys(alternatives[(f.path, parts[1])]))
        if len(options) > 1:
            found[i] = f._replace(msg=f"expected {' or '.join(options)}, got {parts[1]}")


# ---------------------------------------------------------------------------------------------
# following a location through the data and through the models


def data_path(data: Any, loc: tuple) -> tuple:
    """The part of pydantic's error location that exists in the data.

    A location also holds the tags of unions ('repeat', 'constant', 'function-after[...]'),
    which may collide with keys of the data ({repeat: 3, do: [...]}): take the reading that
    follows the data the furthest."""
    best: tuple = ((), -1)   # (path, index in loc of its last part): longest, then latest
    done: set = set()         # (node, position in loc, last): each state once, so not exponential

    def walk(node, i, path, last):
        nonlocal best
        if (id(node), i, last) in done:
            return
        done.add((id(node), i, last))
        if (len(path), last) > (len(best[0]), best[1]):
            best = (path, last)
        if i >= len(loc):
            return
        part = loc[i]
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            walk(node[part], i + 1, path + (part,), i)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            walk(node[part], i + 1, path + (part,), i)
        walk(node, i + 1, path, last)   # a union tag (or a part the data lacks): skip it

    if len(loc) <= 64:
        walk(data, 0, (), -1)
    return best[0]


def model_at(model, parts: tuple):
    """The pydantic model that validates the value at ``parts`` (a pydantic location without
    its last part), following fields, dict values, list items and union members; None when
    the location cannot be followed."""
    try:
        return _follow(model, tuple(parts), 0)
    except Exception:  # best effort: a suggestion is never worth a crash
        return None


def _fields_of(ann):
    return getattr(ann, "model_fields", None)


def _follow(ann, parts: tuple, i: int):
    if ann is None:
        return None
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _follow(typing.get_args(ann)[0], parts, i)
    if origin in (typing.Union, types.UnionType):
        return _follow_union(ann, parts, i)
    if i == len(parts):
        return ann if _fields_of(ann) is not None else None
    part = parts[i]
    if _fields_of(ann) is not None:
        fields = _fields_of(ann)
        f = fields.get(part) if isinstance(part, str) else None
        if f is None:
            f = next((c for c in fields.values() if c.alias == part), None)
        return _follow(f.annotation, parts, i + 1) if f is not None else None
    if origin is dict:
        return _follow(typing.get_args(ann)[1], parts, i + 1)
    if origin in (list, tuple) and isinstance(part, int):
        args = [a for a in typing.get_args(ann) if a is not Ellipsis]
        return _follow(args[0] if args else None, parts, i + 1)
    return None


def _follow_union(ann, parts: tuple, i: int):
    """A tagged member whose tag is the next part of the location, then a member that
    follows the location, then one after a part taken for its tag."""
    members = [a for a in typing.get_args(ann) if a is not type(None)]
    if i < len(parts):
        tagged = [m for m in members if parts[i] in _tags(m)]
        found = _first(tagged, parts, i + 1)
        if found is not None:
            return found
    found = _first(members, parts, i)
    if found is None and i < len(parts) and isinstance(parts[i], str):
        found = _first(members, parts, i + 1)
    return found


def _tags(member) -> list:
    """A union member's tags: its ``Tag`` marks, or, for a field-discriminated union, the
    values of its literal fields (pydantic puts e.g. ``gaussian`` of ``dist: gaussian`` in
    the location)."""
    if typing.get_origin(member) is typing.Annotated:
        return [getattr(x, "tag", None) for x in typing.get_args(member)[1:]]
    return [v for f in (_fields_of(member) or {}).values()
            if typing.get_origin(f.annotation) is typing.Literal
            for v in typing.get_args(f.annotation)]


def _first(members, parts: tuple, i: int):
    for m in members:
        found = _follow(m, parts, i)
        if found is not None:
            return found
    return None


def field_description(model, loc) -> str:
    """The description of the field at ``loc`` (for the hint of a missing field)."""
    m = model_at(model, tuple(loc[:-1]))
    fields = getattr(m, "model_fields", None) or {}
    f = fields.get(loc[-1]) or next((c for c in fields.values() if c.alias == loc[-1]), None)
    return (f.description or "") if f is not None else ""


def allowed_fields(model, loc) -> list[str]:
    """Field names of the (nested) model at ``loc`` for suggestions; best effort."""
    m = model_at(model, tuple(loc[:-1]))
    if m is None or not hasattr(m, "model_fields"):
        return []
    return [f.alias or n for n, f in m.model_fields.items()]
