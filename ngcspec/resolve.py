"""From a circuit file to the checked, resolved form the compiler consumes.

Everything the user can get wrong is checked here, before any tracing, and reported together
with file, line, column, field path and a suggestion: the form of the file (pydantic), the
names it mentions (components, compartments, data sets, files), the roles of wired
compartments, shapes, ties, plasticity of evolve targets, and the execution order (a loop of
undelayed wires is an error that prints the loop). Nothing here imports JAX.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError, create_model

from ngcspec import graph
from ngcspec.components import initializers
from ngcspec.errors import CircuitError, NgcspecError, Problem, near, one_of, suggest
from ngcspec.registry import Component, get_kind, kinds
from ngcspec.schedule import AdvanceOp, EvolveOp, RepeatOp, ResetOp
from ngcspec.schedule import flatten as _flatten_schedule
from ngcspec.spec import (COMMON_FIELDS, HINT, REF_RE, AccuracyMetric, Advance, CircuitSpec,
                          ComponentCommon, ConstantClamp, Evolve, FileClamp, MeanMetric, Phase,
                          Repeat, Reset, StimulusClamp)
from ngcspec.yamlsrc import Source, format_path, load_yaml

# ---------------------------------------------------------------------------------------------
# resolved form


@dataclass(frozen=True)
class ResolvedComponent:
    name: str
    kind: type[Component]
    params: Any                                 # the kind's Params model
    shapes: dict[str, tuple[int, ...]]
    tie: Any = None                             # spec.Tie
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    normalize: Any = None                       # spec.Normalize


@dataclass(frozen=True)
class ResolvedWire:
    index: int
    src: str
    src_comp: str
    dst: str
    dst_comp: str
    scale: float | None         # None: carried unchanged; a number: a traced factor
    delayed: bool
    evolve_only: bool = False   # feeds an input that only plasticity reads

    @property
    def orders_step(self) -> bool:
        """Whether the reader must run after the source within a step."""
        return not self.delayed and not self.evolve_only

    def __str__(self) -> str:
        scale = "" if self.scale is None else f"{self.scale:g} * "
        return f"{scale}{self.src}.{self.src_comp} {'~>' if self.delayed else '->'} {self.dst}.{self.dst_comp}"


@dataclass(frozen=True)
class ResolvedClamp:
    component: str
    compartment: str
    source: str                   # "data", "constant", "stimulus" or "data_stimulus" (per sample)
    field: str | None = None      # data field (x, y, label)
    value: np.ndarray | None = None  # constant per-sample value, or (T, *shape) stimulus


@dataclass(frozen=True)
class ResolvedData:
    name: str
    arrays: dict[str, np.ndarray]   # field -> (N, ...) arrays
    batch_size: int
    shuffle: bool

    @property
    def n(self) -> int:
        return len(next(iter(self.arrays.values())))


@dataclass(frozen=True)
class ResolvedPhase:
    name: str
    data: ResolvedData | None
    clamps: tuple[ResolvedClamp, ...]
    schedule: tuple                       # of ngcspec.schedule entries (ResetOp, AdvanceOp, ...)
    metrics: dict[str, tuple[str, str, str]]   # name -> ("mean"|"accuracy", component, compartment)
    record: dict[tuple[str, str], str]
    every: int
    batches: int
    batch_size: int
    # mean metrics: name -> (unit of each sample or None for all, factor applied to the sum)
    metric_units: dict[str, tuple[int | None, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    spec: CircuitSpec
    file: str
    base_dir: Path
    components: dict[str, ResolvedComponent]
    wires: tuple[ResolvedWire, ...]
    order: tuple[str, ...]
    phases: dict[str, ResolvedPhase]
    raw: Any                                # the file's data after overrides (for the run record)
    files: tuple[tuple[str, Path], ...] = ()  # every user file read: (name as written, absolute path)
    # what the compiler needs of the file's top level, so it never reads the file model
    dt: float = 1.0
    dtype: str = "float32"
    seed: int = 0
    check_finite: bool = True


# ---------------------------------------------------------------------------------------------
# entry points


def read_source(path_or_text: str | os.PathLike) -> tuple[Source, Path]:
    """Load a circuit from a path, or from YAML text (anything containing a newline)."""
    if isinstance(path_or_text, str) and ("\n" in path_or_text or ":" in path_or_text and not
                                          Path(path_or_text).suffix in (".yaml", ".yml")):
        return load_yaml(path_or_text, "<string>"), Path.cwd()
    path = Path(path_or_text)
    if not path.exists():
        raise CircuitError([Problem(f"no such file: {path}", str(path), hint="check the path")])
    if path.is_dir():
        raise CircuitError([Problem(f"{path} is a directory, not a circuit file", str(path))])
    if not path.is_file():          # a FIFO or a device would block or never end
        raise CircuitError([Problem(f"{path} is not a regular file", str(path),
                                    hint="give the path of a circuit .yaml file")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CircuitError([Problem(f"cannot read {path}: {exc.strerror or exc}", str(path))]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CircuitError([Problem(f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x}: {exc.reason})",
                                    str(path), line, col, "",
                                    "save the file as UTF-8")]) from None
    return load_yaml(text, str(path)), path.resolve().parent


def resolve_file(path_or_text, overrides: dict[str, Any] | None = None,
                 check_data: bool = True) -> Resolved:
    src, base = read_source(path_or_text)
    return resolve(src, base, overrides=overrides, check_data=check_data)


def resolve(src: Source, base_dir: Path, overrides: dict[str, Any] | None = None,
            check_data: bool = True) -> Resolved:
    r = _Resolver(src, base_dir, check_data)
    if overrides:
        r.apply_overrides(overrides)
    return r.run()


# ---------------------------------------------------------------------------------------------
# pydantic errors -> located problems


def _show(v: Any, limit: int = 60) -> str:
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
        text = "a mapping" if isinstance(v, dict) else "a list"
        return text
    else:
        text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_WORDS = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a text value",
    "dict": "a mapping (name: value)", "model": "a mapping (name: value)",
    "model_attributes": "a mapping (name: value)", "list": "a list", "tuple": "a list",
    "set": "a list", "frozen_set": "a list",
}

_BOUND_WORDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}


def _humanise(err: dict) -> str:
    """pydantic's message, said in the terms of the file: what was expected, what was given."""
    kind, msg = err["type"], err["msg"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    has_input = "input" in err
    got = f", got {_show(given)}" if has_input else ""
    if kind.startswith("value_error") or kind == "assertion_error":
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if isinstance(given, float) and given != given and kind != "missing":
        return "expected a number, got .nan (NaN is not a valid value)"
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        return f"must be {words} {ctx.get(key)}{got}"
    if kind == "finite_number":
        return f"expected a finite number{got}"
    if kind in ("int_from_float",):
        return f"expected an integer (a whole number){got}"
    if kind.startswith("int_"):
        return f"expected an integer{got}" + (" (too large)" if "size" in kind else "")
    for prefix, words in _TYPE_WORDS.items():
        if kind in (f"{prefix}_type", f"{prefix}_parsing"):
            return f"expected {words}{got}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        what = "item" if n == 1 else "items"
        return (f"needs at least {n} {what}" if kind == "too_short" else f"takes at most {n} {what}") + \
            (f", got {ctx.get('actual_length')}" if "actual_length" in ctx else "")
    if kind in ("string_too_short", "string_too_long"):
        n = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        return (f"needs at least {n} character(s)" if kind == "string_too_short"
                else f"takes at most {n} characters")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if "\\." in pattern:
            return f"expected 'component.compartment'{got}"
        return (f"{_show(given)} is not a valid name: use letters, digits and '_', "
                "not starting with a digit")
    if kind == "literal_error":
        return f"expected {ctx.get('expected', '')}{got}"
    if kind in ("enum",):
        return f"expected {ctx.get('expected', '')}{got}"
    msg = msg.replace("Input should be a valid ", "expected a ").replace("Input should be ", "expected ")
    return msg + (got if has_input and not isinstance(given, (dict, list)) else "")


def _problems_from_pydantic(exc: ValidationError, src: Source, prefix: tuple, data: Any,
                            model: type | None = None) -> list[Problem]:
    out: list[Problem] = []
    found: list[tuple[tuple, str, str, str, bool, Any]] = []   # (path, kind, msg, hint, key, name)
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind, hint = err["type"], ""
        path_t = tuple(prefix) + _data_path(data, loc)
        name = loc[-1] if loc else ""
        if kind in ("missing", "extra_forbidden") and loc and (not path_t or path_t[-1] != name):
            path_t += (name,)
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            field_name = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
            tags = [t.strip(" '") for t in str((err.get("ctx") or {}).get("expected_tags", "")).split(",")]
            tags = [t for t in tags if t]
            if kind == "union_tag_invalid" and field_name:
                tag = (err.get("ctx") or {}).get("tag")
                found.append((path_t + (field_name,), kind,
                              f"unknown {field_name} {_show(tag)}; expected one of {', '.join(tags)}",
                              suggest(str(tag), tags), False, field_name))
            else:
                found.append((path_t, kind, f"needs a field '{field_name}'" + (
                    f" (one of {', '.join(tags)})" if tags else ""), "", False, field_name))
            continue
        if kind == "extra_forbidden":
            allowed = _allowed_fields(model, loc)
            close = suggest(str(name), allowed)
            found.append((path_t, kind, f"unknown field '{name}'",
                          close or (f"allowed fields: {one_of(allowed)}" if allowed else ""), True, name))
            continue
        if kind == "missing":
            if isinstance(name, int):
                msg = f"too few items: item #{name + 1} is missing"
                path_t = path_t[:-1]
            else:
                msg = f"missing required field '{name}'"
                desc = _field_description(model, loc)
                if desc:
                    hint = f"{name}: {desc}"
        else:
            msg = _humanise(err)
            msg, _, hint = msg.partition(HINT)
            if kind == "literal_error":
                expected = err.get("ctx", {}).get("expected", "")
                options = [o.strip(" '\"") for o in str(expected).replace(" or ", ",").split(",")]
                hint = suggest(str(err.get("input")), [o for o in options if o])
        found.append((path_t, kind, msg, hint, False, name))
    # A misspelt required field gives two errors (unknown 'tau_mm', missing 'tau_m'): keep the
    # one that points at the misspelling, and say that the near name is required.
    missing = {(f[0][:-1], str(f[5])) for f in found if f[1] == "missing"}
    retyped = set()
    for i, (path_t, kind, msg, hint, key, name) in enumerate(found):
        target = near(str(name), [m[1] for m in missing if m[0] == path_t[:-1]]) \
            if kind == "extra_forbidden" else None
        if target is not None and (path_t[:-1], target) not in retyped:
            retyped.add((path_t[:-1], target))
            found[i] = (path_t, kind, msg, f"did you mean '{target}'? (a required field)", key, name)
    # The members of a union each complain ("expected a number", "expected a list"): one message.
    alternatives: dict[tuple, list[str]] = {}
    for path_t, kind, msg, hint, key, name in found:
        if msg.startswith("expected ") and ", got " in msg:
            alternatives.setdefault((path_t, msg.rsplit(", got ", 1)[1]), []).append(
                msg[len("expected "):].rsplit(", got ", 1)[0])
    for i, (path_t, kind, msg, hint, key, name) in enumerate(found):
        if msg.startswith("expected ") and ", got " in msg:
            got = msg.rsplit(", got ", 1)[1]
            options = list(dict.fromkeys(alternatives[(path_t, got)]))
            if len(options) > 1:
                found[i] = (path_t, kind, f"expected {' or '.join(options)}, got {got}", hint, key, name)
    seen = set()
    for path_t, kind, msg, hint, key, name in found:
        if kind == "missing" and (path_t[:-1], str(name)) in retyped:
            continue
        if (path_t, msg) in seen:   # members of a union repeat the same complaint
            continue
        seen.add((path_t, msg))
        out.append(src.problem(path_t, msg, hint, key=key))
    return out


def _data_path(data: Any, loc: tuple) -> tuple:
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


def _model_at(model, parts: tuple):
    """The pydantic model that validates the value at ``parts`` (a pydantic location without
    its last part), following fields, dict values, list items and union members; None when
    the location cannot be followed."""
    import typing

    def fields_of(m):
        return getattr(m, "model_fields", None)

    def walk(ann, i):
        if ann is None:
            return None
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            return walk(typing.get_args(ann)[0], i)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            members = [a for a in typing.get_args(ann) if a is not type(None)]
            if i < len(parts):  # a tagged member whose tag is the next part of the location
                for m in members:
                    tags = [getattr(x, "tag", None) for x in typing.get_args(m)[1:]] \
                        if typing.get_origin(m) is typing.Annotated else []
                    if parts[i] in tags:
                        found = walk(m, i + 1)
                        if found is not None:
                            return found
            for m in members:   # a member that follows the location, then one after its tag
                found = walk(m, i)
                if found is not None:
                    return found
            if i < len(parts) and isinstance(parts[i], str):
                for m in members:
                    found = walk(m, i + 1)
                    if found is not None:
                        return found
            return None
        if i == len(parts):
            return ann if fields_of(ann) is not None else None
        part = parts[i]
        if fields_of(ann) is not None:
            f = fields_of(ann).get(part) if isinstance(part, str) else None
            if f is None:
                f = next((c for c in fields_of(ann).values() if c.alias == part), None)
            return walk(f.annotation, i + 1) if f is not None else None
        if origin is dict:
            return walk(typing.get_args(ann)[1], i + 1)
        if origin in (list, tuple) and isinstance(part, int):
            args = [a for a in typing.get_args(ann) if a is not Ellipsis]
            return walk(args[0] if args else None, i + 1)
        return None

    try:
        return walk(model, 0)
    except Exception:  # best effort: a suggestion is never worth a crash
        return None


def _field_description(model, loc) -> str:
    m = _model_at(model, tuple(loc[:-1]))
    fields = getattr(m, "model_fields", None) or {}
    f = fields.get(loc[-1]) or next((c for c in fields.values() if c.alias == loc[-1]), None)
    return (f.description or "") if f is not None else ""


def _allowed_fields(model, loc) -> list[str]:
    """Field names of the (nested) model at ``loc`` for suggestions; best effort."""
    m = _model_at(model, tuple(loc[:-1]))
    if m is None or not hasattr(m, "model_fields"):
        return []
    return [f.alias or n for n, f in m.model_fields.items()]


@lru_cache(maxsize=None)
def entry_model(kind: type[Component]):
    """The model of one component entry: the kind's parameters plus the common fields."""
    fields = {n: (f.annotation, f) for n, f in ComponentCommon.model_fields.items() if n != "kind"}
    from typing import Literal
    clash = COMMON_FIELDS & set(kind.Params.model_fields)
    if clash:
        raise TypeError(f"{kind.kind} uses reserved parameter names {sorted(clash)}")
    return create_model(f"{kind.kind}Entry", __base__=kind.Params,
                        kind=(Literal[kind.kind], ...), **fields)


# ---------------------------------------------------------------------------------------------


class _Resolver:
    def __init__(self, src: Source, base_dir: Path, check_data: bool):
        self.src = src
        self.base = base_dir
        self.check_data = check_data
        self.problems: list[Problem] = []
        self.data = src.data
        self.overridden: dict[tuple, str] = {}   # path in the file -> the --set that changed it
        self.files: dict[str, Path] = {}         # user files read, as written -> absolute path

    def fail(self, path, message, hint="", key=False, within=""):
        self.problems.append(self.src.problem(tuple(path), message, hint, key=key, within=within))

    def error(self) -> CircuitError:
        """The problems found, each naming the --set that changed its value, if one did."""
        out = []
        for p in self.problems:
            for opath, item in self.overridden.items():
                o = format_path(opath)
                if p.path == o or p.path.startswith(o + ".") or p.path.startswith(o + "["):
                    p = replace(p, message=p.message + f" (value set on the command line: --set {item})")
                    break
            out.append(p)
        return CircuitError(out)

    # -- overrides (--set name.param=value) -------------------------------------------------
    def apply_overrides(self, overrides: dict[str, Any]) -> None:
        import copy
        data = copy.deepcopy(self.data) if isinstance(self.data, dict) else self.data
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            comps = data.get("components") if isinstance(data, dict) else None
            if isinstance(comps, dict) and parts[0] in comps:
                parts = ["components"] + parts
            elif parts[0] not in CircuitSpec.model_fields:
                names = list(comps or {}) + list(CircuitSpec.model_fields)
                raise CircuitError([Problem(
                    f"--set {dotted}: '{parts[0]}' is neither a component nor a top-level field",
                    "<command line>", hint=suggest(parts[0], names) or
                    f"components: {one_of(comps or {}) or 'none'}")])
            if any(not p for p in parts):
                raise CircuitError([Problem(f"--set {dotted}: empty name between dots",
                                            "<command line>", hint="e.g. --set W1.eta=0.001")])
            node = data
            for part in parts[:-1]:
                if not isinstance(node, dict):
                    break
                node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CircuitError([Problem(f"--set {dotted}: cannot set a field inside a non-mapping",
                                            "<command line>")])
            node[parts[-1]] = value
            self.overridden[tuple(parts)] = f"{dotted}={value!r}" if isinstance(value, str) else \
                f"{dotted}={value}"
        self.data = data

    # -- main -------------------------------------------------------------------------------
    def run(self) -> Resolved:
        if not isinstance(self.data, dict):
            raise CircuitError([self.src.problem((), "a circuit file is a mapping of fields "
                                                  "(ngcspec, name, components, wires, ...)")])
        try:
            spec = CircuitSpec.model_validate(self.data)
        except ValidationError as exc:
            self.problems += _problems_from_pydantic(exc, self.src, (), self.data, CircuitSpec)
            spec = None
        comps = self.components()
        self.check_nan(self.data, ())   # after the typed checks, which may have said it already
        if spec is None or self.problems:
            raise self.error()
        wires = self.wires(spec, comps)
        self.wire_sources(wires)
        self.ties(comps)
        order = self.order(spec, comps, wires)
        phases = self.phases(spec, comps, wires)
        if spec.sweep is not None:
            from ngcspec.sweepspec import check_sweep
            check_sweep(spec.sweep, comps, phases, self.fail, entry_model)
        self.check_memory(comps, phases)
        if self.problems:
            raise self.error()
        return Resolved(spec=spec, file=self.src.file, base_dir=self.base, components=comps,
                        wires=tuple(wires), order=tuple(order), phases=phases, raw=self.data,
                        files=tuple(self.files.items()), dt=spec.dt, dtype=spec.dtype,
                        seed=spec.seed, check_finite=spec.run.check_finite)

    def check_nan(self, node, path, reported=None) -> None:
        """NaN is never a meaningful value in a circuit file (it would poison the state)."""
        if reported is None:
            reported = {p.path for p in self.problems}
        if isinstance(node, float) and node != node or \
                isinstance(node, str) and node.strip().lower() in ("nan", "+nan", "-nan"):
            if format_path(path) not in reported:
                self.fail(path, "NaN (.nan) is not a valid value", "write a number")
        elif isinstance(node, dict):
            for k, v in node.items():
                self.check_nan(v, path + (k,), reported)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self.check_nan(v, path + (i,), reported)

    # -- components -------------------------------------------------------------------------
    def components(self) -> dict[str, ResolvedComponent]:
        out: dict[str, ResolvedComponent] = {}
        entries = self.data.get("components")
        if not isinstance(entries, dict):
            return out
        for name, entry in entries.items():
            path = ("components", name)
            if name in CircuitSpec.model_fields:
                self.fail(path, f"'{name}' is a top-level field of circuit files, so it cannot "
                          f"name a component (--set {name}=... would change the field)",
                          f"rename the component, e.g. '{name}_1'", key=True)
                continue
            if not isinstance(entry, dict):
                self.fail(path, "a component is a mapping with a 'kind' and its parameters",
                          "e.g. {kind: RateCell, n_units: 10, tau_m: 20.0}")
                continue
            kind_name = entry.get("kind")
            if kind_name is None:
                self.fail(path, "missing required field 'kind'",
                          f"known kinds: {one_of(kinds())}")
                continue
            if not isinstance(kind_name, str):
                self.fail(path + ("kind",), f"expected the name of a component kind, got {_show(kind_name)}",
                          f"known kinds: {one_of(kinds())}")
                continue
            kind = get_kind(kind_name)
            if kind is None:
                self.fail(path + ("kind",), f"unknown component kind '{kind_name}'",
                          suggest(str(kind_name), kinds()) or f"known kinds: {one_of(kinds())}")
                continue
            model = entry_model(kind)
            try:
                full = model.model_validate(entry)
            except ValidationError as exc:
                self.problems += _problems_from_pydantic(exc, self.src, path, entry, model)
                continue
            params = kind.Params.model_validate(
                {k: getattr(full, k) for k in kind.Params.model_fields})
            bad = False
            for param, message in kind.check(params):
                self.fail(path + (param,), message)
                bad = True
            if bad:
                continue
            shapes = kind.shapes(params)
            for cname, shp in shapes.items():
                if any(d <= 0 for d in shp):
                    self.fail(path, f"compartment '{cname}' would have shape {shp}",
                              "sizes must be positive")
                    bad = True
            if bad:
                continue
            initial = self.initial_values(path, kind, full.init or {}, shapes, params)
            if full.normalize is not None:
                c = kind.compartments.get(full.normalize.compartment)
                if c is None or c.role != "weight" or len(shapes[full.normalize.compartment]) != 2:
                    self.fail(path + ("normalize", "compartment"),
                              f"'{full.normalize.compartment}' is not a 2-D weight compartment of {kind.kind}",
                              suggest(full.normalize.compartment, kind.compartments))
                elif not kind.plastic:
                    self.fail(path + ("normalize",), f"{kind.kind} has no plasticity, so nothing to "
                              "normalise after evolve", "normalise a plastic synapse")
            out[name] = ResolvedComponent(name, kind, params, shapes, full.tie, initial,
                                          full.normalize)
        return out

    def load_array(self, path: tuple, ref: FileClamp | StimulusClamp) -> np.ndarray | None:
        from ngcspec import data as datamod
        fname = ref.file if isinstance(ref, FileClamp) else ref.stimulus
        try:
            arr = datamod.load_array(fname, ref.key, base_dir=self.base)
            self.files[fname] = datamod.resolve_path(fname, self.base)
        except NgcspecError as exc:
            self.fail(path, getattr(exc, "message", str(exc)), getattr(exc, "hint", ""))
            return None
        if arr.dtype.kind not in "biuf":
            self.fail(path, f"{fname} holds {arr.dtype} values; numbers are needed")
            return None
        if not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))
            first = f" (first at index {list(map(int, bad[0]))}: {arr[tuple(bad[0])]})" if arr.ndim else ""
            self.fail(path, f"{fname} contains {len(bad)} NaN or Inf value(s){first}",
                      "initial values and clamps must be finite numbers; clean the array first")
            return None
        return arr

    def inline_array(self, path: tuple, value: list) -> np.ndarray | None:
        """Numbers written in the file as a nested list (``init: {weights: [[...]]}``)."""
        arr = _numeric_list(value)
        if arr is None or arr.dtype.kind not in "biuf":
            self.fail(path, "an inline value must be a rectangular nested list of numbers",
                      "every row needs the same length; give larger arrays as {file: ...}")
            return None
        if not np.all(np.isfinite(arr)):
            self.fail(path, "an inline value must hold finite numbers (no .inf or .nan)")
            return None
        return arr

    def initial_values(self, path, kind, init: dict, shapes: dict,
                       params=None) -> dict[str, np.ndarray]:
        out = {}
        for cname, ref in init.items():
            p = path + ("init", cname)
            if cname not in kind.compartments:
                self.fail(p, f"{kind.kind} has no compartment '{cname}'",
                          suggest(cname, kind.compartments), key=True)
                continue
            if cname == "biases" and kind.plastic and getattr(params, "bias_init", 0) is None:
                self.fail(p, f"{kind.kind} learns its biases only when it has a bias_init; "
                          "without one, biases read from a file would be used but never learned",
                          "add a bias_init (e.g. bias_init: {dist: constant, value: 0.0}); "
                          "the file then sets the biases' initial values", key=True)
                continue
            if hasattr(ref, "dist"):                     # drawn by the compiler, from the seed
                bad = initializers.problems(ref, shapes[cname])
                if kind.compartments[cname].integer:
                    bad.append(f"'{cname}' holds integers; a drawn initial value needs a float "
                               "compartment")
                for msg in bad:
                    self.fail(p, msg)
                if not bad:
                    out[cname] = ref
                continue
            arr = self.inline_array(p, ref) if isinstance(ref, list) else self.load_array(p, ref)
            if arr is None:
                continue
            if tuple(arr.shape) != tuple(shapes[cname]):
                what = "the list" if isinstance(ref, list) else ref.file
                self.fail(p, f"{what} has shape {tuple(arr.shape)}, compartment '{cname}' "
                          f"needs {tuple(shapes[cname])}" +
                          (" (per sample, without the batch axis)" if kind.compartments[cname].batched else ""))
                continue
            out[cname] = arr
        return out

    # -- references -------------------------------------------------------------------------
    def ref(self, path, ref: str, comps, roles=None, what="compartment", within=False):
        """Resolve 'component.compartment'; returns (component, compartment) or None.

        ``within``: the value at ``path`` contains ``ref`` (a wire string); point at it."""
        at = ref if within else ""
        m = REF_RE.match(ref)
        if not m:
            self.fail(path, f"'{ref}' is not 'component.compartment'", within=at)
            return None
        cname, part = m.group(1), m.group(2)
        if cname not in comps:
            names = list(self.data.get("components", {}))
            if cname in names:  # the component itself had errors, already reported
                return None
            self.fail(path, f"unknown component '{cname}' in '{ref}'", suggest(cname, names) or
                      f"components: {one_of(names)}", within=at)
            return None
        kind = comps[cname].kind
        comp = kind.compartments.get(part)
        if comp is None:
            self.fail(path, f"{cname} ({kind.kind}) has no compartment '{part}'",
                      suggest(part, kind.compartments) or f"compartments: {one_of(kind.compartments)}",
                      within=at)
            return None
        if roles and comp.role not in roles:
            allowed = [n for n, c in kind.compartments.items() if c.role in roles]
            article = "an" if comp.role[0] in "aeiou" else "a"
            self.fail(path, f"{cname}.{part} is {article} {comp.role} compartment; a {what} must be "
                      f"{' or '.join(roles)}", f"{what}s of {kind.kind}: {one_of(allowed)}", within=at)
            return None
        return cname, part

    # -- wires ------------------------------------------------------------------------------
    def wires(self, spec: CircuitSpec, comps) -> list[ResolvedWire]:
        out = []
        raw_wires = self.data.get("wires") if isinstance(self.data.get("wires"), list) else []
        for i, w in enumerate(spec.wires):
            path = ("wires", i)
            is_map = i < len(raw_wires) and isinstance(raw_wires[i], dict)
            a = self.ref(path + ("from",) if is_map else path, w.source, comps, within=not is_map)
            b = self.ref(path + ("to",) if is_map else path, w.target, comps, roles=("input",),
                         what="wire target", within=not is_map)
            if a is None or b is None:
                continue
            ca = comps[a[0]].kind.compartments[a[1]]
            cb = comps[b[0]].kind.compartments[b[1]]
            sa, sb = comps[a[0]].shapes[a[1]], comps[b[0]].shapes[b[1]]
            if sa != sb or ca.batched != cb.batched:
                def show(c, s):
                    return f"(batch, {', '.join(map(str, s))})" if c.batched else str(tuple(s))
                self.fail(path, f"shape mismatch: {w.source} is {show(ca, sa)} but {w.target} "
                          f"expects {show(cb, sb)}", "check the sizes (n_units, shape) of both components")
                continue
            if w.delayed and cb.evolve_only:
                self.fail(path, f"{w.target} is read only by plasticity (evolve), which always "
                          "reads the current value, so '~>' would have no effect",
                          f"write '{w.source} -> {w.target}'")
                continue
            out.append(ResolvedWire(i, a[0], a[1], b[0], b[1], w.scale, w.delayed, cb.evolve_only))
        self.repeated_wires(out)
        return out

    def repeated_wires(self, wires) -> None:
        """The same wire twice would silently double the input: say so, unless a scale on
        either shows that the sum is meant."""
        first: dict[tuple, ResolvedWire] = {}
        for w in wires:
            key = (w.src, w.src_comp, w.dst, w.dst_comp, w.delayed)
            if key in first and w.scale is None and first[key].scale is None:
                where = self.src.problem(("wires", first[key].index), "")
                self.fail(("wires", w.index),
                          f"'{w}' is written twice (also at line {where.line}); its input "
                          "would receive the source twice",
                          f"remove one, or write '2 * {w}' if the doubled input is meant")
            first.setdefault(key, w)

    def wire_sources(self, wires) -> None:
        """A wired input is a view of its sources, so it cannot be a source itself."""
        targets = {(w.dst, w.dst_comp) for w in wires}
        for w in wires:
            if (w.src, w.src_comp) in targets:
                feeding = [str(v) for v in wires if (v.dst, v.dst_comp) == (w.src, w.src_comp)]
                self.fail(("wires", w.index), f"{w.src}.{w.src_comp} is an input driven by "
                          f"'{feeding[0]}'; wires read outputs and states, not wired inputs",
                          f"wire from {feeding[0].split(' ')[-3] if ' * ' in feeding[0] else feeding[0].split(' ')[0]} directly")

    def ties(self, comps) -> None:
        for name, rc in comps.items():
            if rc.tie is None:
                continue
            path = ("components", name, "tie")
            t = rc.tie
            if t.compartment not in rc.kind.compartments:
                self.fail(path + ("compartment",), f"{rc.kind.kind} has no compartment '{t.compartment}'",
                          suggest(t.compartment, rc.kind.compartments))
                continue
            target = self.ref(path + ("to",), t.to, comps)
            if target is None:
                continue
            if target[0] == name:
                self.fail(path + ("to",), "a component cannot be tied to itself")
                continue
            other = comps[target[0]]
            if other.tie is not None:
                self.fail(path + ("to",), f"{target[0]} is itself tied; tie to the component that owns the value",
                          f"tie to {other.tie.to}")
                continue
            mine = rc.shapes[t.compartment]
            theirs = other.shapes[target[1]]
            if t.transpose and (len(mine) != 2 or len(theirs) != 2):
                self.fail(path + ("transpose",), f"transpose ties join 2-D compartments; "
                          f"{name}.{t.compartment} is {mine} and {t.to} is {theirs}",
                          "tie without transpose, or tie 2-D weights")
                continue
            if t.transpose:
                theirs = tuple(reversed(theirs))
            if mine != theirs:
                self.fail(path, f"{name}.{t.compartment} has shape {mine} but "
                          f"{'the transpose of ' if t.transpose else ''}{t.to} is {theirs}",
                          "fix the shapes or set transpose: true" if mine == tuple(reversed(theirs)) else "")

    # -- order --------------------------------------------------------------------------------
    def order(self, spec, comps, wires) -> list[str]:
        names = list(comps)
        derived = graph.execution_order(names, wires)
        cycle = graph.find_undelayed_cycle(names, wires) if derived is None else None
        if cycle is not None:
            loop = " -> ".join([w.src for w in cycle] + [cycle[0].src])
            lines = "\n".join(f"      wire #{w.index}: {w}" for w in cycle)
            last = cycle[-1]
            self.fail(("wires", last.index),
                      f"loop of undelayed wires: {loop}\n{lines}",
                      f"delay one wire of the loop, e.g. '{last.src}.{last.src_comp} ~> "
                      f"{last.dst}.{last.dst_comp}' (reads the previous step's value)")
            return names
        if spec.order is None:
            return derived
        path = ("order",)
        unknown = [n for n in spec.order if n not in comps]
        for n in unknown:
            if n not in self.data.get("components", {}):
                self.fail(path + (spec.order.index(n),), f"unknown component '{n}'", suggest(n, names))
        missing = [n for n in names if n not in spec.order]
        if missing:
            self.fail(path, f"the order leaves out {', '.join(missing)}", "list every component once")
        dupes = {n for n in spec.order if spec.order.count(n) > 1}
        if dupes:
            self.fail(path, f"the order lists {', '.join(sorted(dupes))} more than once")
        if unknown or missing or dupes:
            return names
        pos = {n: i for i, n in enumerate(spec.order)}
        for w in wires:
            if w.orders_step and w.src != w.dst and pos[w.src] > pos[w.dst]:
                self.fail(path + (pos[w.dst],),
                          f"the order runs {w.dst} before {w.src}, but wire #{w.index} '{w}' "
                          f"(line {self.src.locate(('wires', w.index))[0]}) needs {w.src} first",
                          f"move {w.src} before {w.dst}, or delay the wire: "
                          f"'{w.src}.{w.src_comp} ~> {w.dst}.{w.dst_comp}'")
        return list(spec.order)

    # -- phases -----------------------------------------------------------------------------
    def phases(self, spec: CircuitSpec, comps, wires) -> dict[str, ResolvedPhase]:
        data = {}
        for dname, ds in spec.data.items():
            rd = self.data_source(("data", dname), dname, ds)
            if rd is not None:
                data[dname] = rd
        if spec.phases:
            items = [(n, p, ("phases", n)) for n, p in spec.phases.items()]
        else:
            if len(spec.data) > 1:
                self.fail(("data",), "with more than one data source, name each phase's data",
                          "add 'phases: {train: {data: ...}, test: {data: ...}}'")
            only = next(iter(spec.data)) if len(spec.data) == 1 else None
            items = [("run", Phase(data=only), ())]
        wired = {(w.dst, w.dst_comp): w for w in wires}
        tied = {(n, c.tie.compartment) for n, c in comps.items() if c.tie is not None}
        out = {}
        for pname, ph, path in items:
            rdata = None
            if ph.data is not None:
                if ph.data not in spec.data:
                    self.fail(path + ("data",), f"unknown data source '{ph.data}'",
                              suggest(ph.data, spec.data) or f"data sources: {one_of(spec.data) or 'none defined'}")
                else:
                    rdata = data.get(ph.data)
            clamps_spec = ph.clamps if ph.clamps is not None else spec.clamps
            cpath = path + ("clamps",) if ph.clamps is not None else ("clamps",)
            schedule = ph.schedule if ph.schedule is not None else spec.schedule
            spath = path + ("schedule",) if ph.schedule is not None else ("schedule",)
            clamps = self.clamps(cpath, clamps_spec, comps, wired, tied, ph.data, rdata,
                                 schedule, spec)
            sched = self.schedule(spath, schedule, comps)
            metrics, units = {}, {}
            for mname, m in ph.metrics.items():
                mp = path + ("metrics", mname)
                ref = m.mean if isinstance(m, MeanMetric) else m.accuracy
                r = self.ref(mp + ("mean" if isinstance(m, MeanMetric) else "accuracy",), ref, comps)
                if r is None:
                    continue
                if isinstance(m, MeanMetric) and m.unit is not None:
                    n_units = math.prod(comps[r[0]].shapes[r[1]])
                    if m.unit >= n_units:
                        self.fail(mp + ("unit",), f"{ref} has {n_units} unit(s) per sample, so "
                                  f"there is no unit {m.unit}", f"give a unit from 0 to {n_units - 1}")
                        continue
                if isinstance(m, AccuracyMetric):
                    c = comps[r[0]]
                    if not c.kind.compartments[r[1]].batched:
                        self.fail(mp, f"{ref} has no batch axis, so it has no per-sample prediction")
                        continue
                    if rdata is not None and "label" not in rdata.arrays:
                        self.fail(mp, f"accuracy needs integer labels, and data '{ph.data}' has none",
                                  "use a classification data set or give 'label' in the data source")
                        continue
                    if ph.data is None:
                        self.fail(mp, "accuracy needs a data source with labels", "set the phase's 'data'")
                        continue
                    if rdata is not None:
                        n_cls = int(rdata.arrays["label"].max()) + 1
                        if c.shapes[r[1]][-1] < n_cls:
                            self.fail(mp, f"{ref} has {c.shapes[r[1]][-1]} units but the labels go up to {n_cls - 1}")
                metrics[mname] = ("mean" if isinstance(m, MeanMetric) else "accuracy", *r)
                if isinstance(m, MeanMetric):
                    units[mname] = (m.unit, m.scale)
            record = {}
            rec_spec = ph.record if ph.record is not None else spec.run.record
            rpath = path + ("record",) if ph.record is not None else ("run", "record")
            for ref, mode in rec_spec.items():
                r = self.ref(rpath + (ref,), ref, comps)
                if r is not None and self.record_mode(rpath + (ref,), r, mode, comps, sched):
                    record[r] = mode
            out[pname] = ResolvedPhase(pname, rdata, tuple(clamps), sched, metrics, record,
                                       ph.every, ph.batches, ph.batch_size, units)
        return out

    def record_mode(self, path, ref, mode, comps, sched) -> bool:
        """Whether ``mode`` can record ``ref`` (see ngcspec.monitors); reports why not."""
        name, part = ref
        if mode in ("spike_times", "rate") and not comps[name].kind.compartments[part].batched:
            self.fail(path, f"'{mode}' records one value per sample, and {name}.{part} has no "
                      "batch axis", "record it as per_step, per_batch, final or initial")
            return False
        if mode == "per_repeat" and sched is not None and not any(
                isinstance(e, RepeatOp) for e in _flatten_schedule(sched)):
            self.fail(path, "'per_repeat' records at the end of each pass of a 'repeat' block, "
                      "and this schedule has none", "record it as per_step")
            return False
        return True

    def data_source(self, path, name, ds) -> ResolvedData | None:
        from ngcspec import data as datamod
        try:
            if ds.dataset is not None:
                if ds.dataset not in datamod.dataset_names():
                    self.fail(path + ("dataset",), f"unknown data set '{ds.dataset}'",
                              suggest(ds.dataset, datamod.dataset_names()) or
                              f"shipped data sets: {one_of(datamod.dataset_names())}")
                    return None
                arrays = datamod.load_dataset(ds.dataset, ds.split)
            else:
                arrays = datamod.load_table(ds.file, x=ds.x, y=ds.y, label=ds.label,
                                            base_dir=self.base)
                self.files[ds.file] = datamod.resolve_path(ds.file, self.base)
                if Path(ds.file).suffix.lower() not in (".npz", ".csv"):
                    for other in (ds.y, ds.label):      # label/target files of .npy/IDX data
                        if isinstance(other, str):
                            self.files[other] = datamod.resolve_path(other, self.base)
        except NgcspecError as exc:
            self.fail(path + (("dataset",) if ds.dataset else ("file",)),
                      getattr(exc, "message", str(exc)), getattr(exc, "hint", ""))
            return None
        if ds.limit is not None:
            arrays = {k: v[: ds.limit] for k, v in arrays.items()}
        n = len(next(iter(arrays.values())))
        for k, v in arrays.items():
            if v.dtype.kind in "f" and not np.all(np.isfinite(v)):
                self.fail(path, f"field '{k}' of data '{name}' contains NaN or Inf values")
                return None
        if ds.batch_size > n:
            self.fail(path + ("batch_size",), f"batch_size {ds.batch_size} is larger than the "
                      f"{n} samples of data '{name}'", f"use at most {n}")
            return None
        return ResolvedData(name, arrays, ds.batch_size, ds.shuffle)

    def clamps(self, path, clamps_spec, comps, wired, tied, phase_data, rdata, schedule, spec):
        out = []
        max_steps = _max_steps_between_resets(schedule or [])
        for ref, value in clamps_spec.items():
            p = path + (ref,)
            r = self.ref(p, ref, comps, roles=("input",), what="clamp target")
            if r is None:
                continue
            if r in wired:
                w = wired[r]
                self.fail(p, f"{ref} is driven by wire #{w.index} '{w}'; only unwired inputs can be clamped",
                          "remove the wire or clamp another compartment")
                continue
            comp = comps[r[0]]
            shape = comp.shapes[r[1]]
            batched = comp.kind.compartments[r[1]].batched
            if isinstance(value, str):
                m = REF_RE.match(value)
                dname, fld = m.group(1), m.group(2)
                if dname not in spec.data:
                    self.fail(p, f"unknown data source '{dname}'",
                              suggest(dname, spec.data) or f"data sources: {one_of(spec.data) or 'none defined'}")
                    continue
                if dname != phase_data:
                    self.fail(p, f"clamp reads data '{dname}' but this phase runs on "
                              f"{repr(phase_data) if phase_data else 'no data'}",
                              f"use '{phase_data}.{fld}'" if phase_data else "set the phase's 'data'")
                    continue
                if rdata is None:
                    continue
                if fld not in rdata.arrays:
                    self.fail(p, f"data '{dname}' has no field '{fld}'",
                              suggest(fld, rdata.arrays) or f"fields: {one_of(rdata.arrays)}")
                    continue
                arr = rdata.arrays[fld]
                per = arr.shape[1:]
                if not batched:
                    self.fail(p, f"{ref} has no batch axis; data can only be clamped on batched inputs")
                    continue
                if len(per) == len(shape) + 1 and tuple(per[1:]) == tuple(shape) and per[0] > 1:
                    # (N, T, *shape): a stimulus of its own for every sample, row k at step k
                    if per[0] < max_steps:
                        self.fail(p, f"data field '{dname}.{fld}' has {per[0]} time steps per sample "
                                  f"but the schedule advances {max_steps} steps between resets",
                                  "give longer series or fewer steps")
                        continue
                    out.append(ResolvedClamp(r[0], r[1], "data_stimulus", field=fld))
                    continue
                if tuple(per) != tuple(shape) and int(np.prod(per)) != int(np.prod(shape)):
                    self.fail(p, f"data field '{dname}.{fld}' is {tuple(per)} per sample but {ref} is {tuple(shape)}",
                              "clamp a compartment of matching size")
                    continue
                out.append(ResolvedClamp(r[0], r[1], "data", field=fld))
            elif isinstance(value, (int, float)):
                out.append(ResolvedClamp(r[0], r[1], "constant", value=np.asarray(float(value))))
            elif isinstance(value, ConstantClamp):
                arr = np.asarray(value.constant, dtype=float) if not isinstance(value.constant, list) \
                    else _numeric_list(value.constant)
                if arr is None:
                    self.fail(p + ("constant",), "constant must be a number or a nested list of numbers",
                              f"a list must be rectangular and fit {ref} {tuple(shape)}")
                    continue
                if not np.all(np.isfinite(arr)):
                    self.fail(p + ("constant",), "constant must hold finite numbers (no .inf or .nan)")
                    continue
                if not _broadcastable(arr.shape, shape):
                    self.fail(p + ("constant",), f"constant of shape {arr.shape} does not fit {ref} {tuple(shape)}")
                    continue
                out.append(ResolvedClamp(r[0], r[1], "constant", value=arr))
            elif isinstance(value, FileClamp):
                arr = self.load_array(p + ("file",), value)
                if arr is None:
                    continue
                if not _broadcastable(arr.shape, shape):
                    self.fail(p + ("file",), f"{value.file} has shape {arr.shape}, which does not fit {ref} {tuple(shape)}")
                    continue
                out.append(ResolvedClamp(r[0], r[1], "constant", value=arr))
            elif isinstance(value, StimulusClamp):
                arr = self.load_array(p + ("stimulus",), value)
                if arr is None:
                    continue
                if arr.ndim < 1 or not _broadcastable(arr.shape[1:], shape):
                    self.fail(p + ("stimulus",), f"{value.stimulus} has shape {arr.shape}; a stimulus is "
                              f"(T, *{tuple(shape)}) with time first")
                    continue
                if arr.shape[0] < max_steps:
                    self.fail(p + ("stimulus",), f"{value.stimulus} has {arr.shape[0]} time steps but the "
                              f"schedule advances {max_steps} steps between resets",
                              "give a longer stimulus or fewer steps")
                    continue
                out.append(ResolvedClamp(r[0], r[1], "stimulus", value=arr))
        return out

    def schedule(self, path, entries, comps) -> tuple:
        if entries is None:
            return ()
        out = []
        for i, e in enumerate(entries):
            p = path + (i,)
            if isinstance(e, Reset):
                out.append(ResetOp())
            elif isinstance(e, Advance):
                out.append(AdvanceOp(e.advance))
            elif isinstance(e, Evolve):
                names = []
                for j, n in enumerate(e.evolve):
                    if n not in comps:
                        if n not in self.data.get("components", {}):
                            self.fail(p + ("evolve", j), f"unknown component '{n}'", suggest(n, comps))
                        continue
                    if not comps[n].kind.plastic:
                        plastic = [c for c, rc in comps.items() if rc.kind.plastic]
                        self.fail(p + ("evolve", j), f"{n} is a {comps[n].kind.kind}, which has no plasticity",
                                  f"plastic components here: {one_of(plastic)}" if plastic else
                                  "use a plastic kind such as HebbianSynapse")
                        continue
                    tie = comps[n].tie
                    if tie is not None and tie.compartment in ("weights",) + tuple(
                            c for c, spec in comps[n].kind.compartments.items() if spec.role == "weight"):
                        self.fail(p + ("evolve", j), f"{n}.{tie.compartment} is tied to {tie.to}, so "
                                  f"what {n} learns would be overwritten at its next step",
                                  f"evolve {tie.to.split('.')[0]} instead, or remove the tie")
                        continue
                    names.append(n)
                out.append(EvolveOp(tuple(names)))
            elif isinstance(e, Repeat):
                out.append(RepeatOp(e.repeat, self.schedule(p + ("do",), e.do, comps)))
        return tuple(out)

    def check_memory(self, comps, phases) -> None:
        """Refuse sizes no machine can hold before anything is allocated (exact integers:
        a shape of [10**40, 3] must give a message, not an OverflowError)."""
        batch = max([ph.data.batch_size if ph.data else ph.batch_size for ph in phases.values()] or [1])
        itemsize = 8 if self.data.get("dtype") == "float64" else 4
        total = 0
        refused = False
        for name, rc in comps.items():
            too_big = []
            for cname, c in rc.kind.compartments.items():
                n = math.prod(int(d) for d in rc.shapes[cname]) * (batch if c.batched else 1)
                if n >= 2**31:
                    too_big.append(f"{cname} ({_count(n)})")
                total += n * itemsize
            if too_big:
                refused = True
                self.fail(("components", name), f"{name} is too large: compartment(s) "
                          f"{', '.join(too_big)} would exceed 2^31 numbers each",
                          "XLA arrays are limited to 2^31 elements; reduce the sizes")
        ram = _physical_memory()
        if ram and total > ram and not refused:
            self.fail(("components",), f"the state needs {_count(total)} bytes "
                      f"({_gib(total)} GiB) but this machine has {_gib(ram)} GiB",
                      "reduce the sizes or the batch size")


def _count(n: int) -> str:
    """A possibly astronomically large count, readable."""
    return f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f}" if n < 10**18 else f"about 10^{len(str(n // 2**30)) - 1}"


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _numeric_list(v) -> np.ndarray | None:
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError, OverflowError, RuntimeError):  # ragged, text, > 32 dims
        return None
    return arr


def _broadcastable(a, b) -> bool:
    """Whether an array of shape ``a`` broadcasts to exactly ``b``."""
    a, b = tuple(a), tuple(b)
    if len(a) > len(b):
        return False
    return all(x == 1 or x == y for x, y in zip(reversed(a), reversed(b)))


def _max_steps_between_resets(entries) -> int:
    """Largest number of advance steps the schedule runs without a reset in between."""
    best = cur = 0

    def walk(block, times):
        nonlocal best, cur
        for _ in range(min(times, 2)):  # two passes reveal growth across iterations
            for e in block:
                if isinstance(e, Reset):
                    cur = 0
                elif isinstance(e, Advance):
                    cur += e.advance
                    best = max(best, cur)
                elif isinstance(e, Repeat):
                    inner_has_reset = _has_reset(e.do)
                    if inner_has_reset:
                        walk(e.do, e.repeat)
                    else:
                        steps = _count_steps(e.do) * e.repeat
                        cur += steps
                        best = max(best, cur)

    walk(entries, 1)
    return best


def _has_reset(block) -> bool:
    return any(isinstance(e, Reset) or (isinstance(e, Repeat) and _has_reset(e.do)) for e in block)


def _count_steps(block) -> int:
    n = 0
    for e in block:
        if isinstance(e, Advance):
            n += e.advance
        elif isinstance(e, Repeat):
            n += _count_steps(e.do) * e.repeat
    return n
