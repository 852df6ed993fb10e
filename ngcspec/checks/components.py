"""Components: kind, parameters, compartment shapes, initial values and normalisation."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ngcspec.checks.collector import Collector
from ngcspec.checks.values import file_array, inline_array
from ngcspec.components import initializers
from ngcspec.errors import one_of, suggest
from ngcspec.loader import Loader
from ngcspec.pydantic_errors import problems_from_pydantic, show_value
from ngcspec.registry import Component, get_kind, kinds
from ngcspec.resolved import ResolvedComponent
from ngcspec.spec import CircuitSpec, entry_model


def check_components(col: Collector, data: dict, loader: Loader) -> dict[str, ResolvedComponent]:
    """Every component entry of the file that checks out, by name."""
    out: dict[str, ResolvedComponent] = {}
    entries = data.get("components")
    if not isinstance(entries, dict):
        return out
    for name, entry in entries.items():
        rc = _component(col, loader, name, entry)
        if rc is not None:
            out[name] = rc
    return out


def _component(col: Collector, loader: Loader, name: str, entry: Any) -> ResolvedComponent | None:
    path = ("components", name)
    if name in CircuitSpec.model_fields:
        col.fail(path, f"'{name}' is a top-level field of circuit files, so it cannot "
                 f"name a component (--set {name}=... would change the field)",
                 f"rename the component, e.g. '{name}_1'", key=True)
        return None
    if not isinstance(entry, dict):
        col.fail(path, "a component is a mapping with a 'kind' and its parameters",
                 "e.g. {kind: RateCell, n_units: 10, tau_m: 20.0}")
        return None
    kind = _kind(col, path, entry.get("kind"))
    if kind is None:
        return None
    model = entry_model(kind)
    try:
        full = model.model_validate(entry)
    except ValidationError as exc:
        col.extend(problems_from_pydantic(exc, col.src, path, entry, model))
        return None
    params = kind.Params.model_validate({k: getattr(full, k) for k in kind.Params.model_fields})
    shapes = _shapes(col, path, kind, params)
    if shapes is None:
        return None
    initial = initial_values(col, loader, path, kind, full.init or {}, shapes, params)
    if full.normalize is not None:
        _check_normalize(col, path, kind, full.normalize, shapes)
    return ResolvedComponent(name, kind, params, shapes, full.tie, initial, full.normalize)


def _kind(col: Collector, path: tuple, kind_name: Any) -> type[Component] | None:
    if kind_name is None:
        col.fail(path, "missing required field 'kind'", f"known kinds: {one_of(kinds())}")
        return None
    if not isinstance(kind_name, str):
        col.fail(path + ("kind",), f"expected the name of a component kind, got {show_value(kind_name)}",
                 f"known kinds: {one_of(kinds())}")
        return None
    kind = get_kind(kind_name)
    if kind is None:
        col.fail(path + ("kind",), f"unknown component kind '{kind_name}'",
                 suggest(str(kind_name), kinds()) or f"known kinds: {one_of(kinds())}")
    return kind


def _shapes(col: Collector, path: tuple, kind: type[Component], params) -> dict | None:
    """The compartments' shapes, or None when the kind's own checks or a size fail."""
    bad = False
    for param, message in kind.check(params):
        col.fail(path + (param,), message)
        bad = True
    if bad:
        return None
    shapes = kind.shapes(params)
    for cname, shp in shapes.items():
        if any(d <= 0 for d in shp):
            col.fail(path, f"compartment '{cname}' would have shape {shp}", "sizes must be positive")
            bad = True
    return None if bad else shapes


def _check_normalize(col: Collector, path: tuple, kind: type[Component], normalize, shapes) -> None:
    c = kind.compartments.get(normalize.compartment)
    if c is None or c.role != "weight" or len(shapes[normalize.compartment]) != 2:
        col.fail(path + ("normalize", "compartment"),
                 f"'{normalize.compartment}' is not a 2-D weight compartment of {kind.kind}",
                 suggest(normalize.compartment, kind.compartments))
    elif not kind.plastic:
        col.fail(path + ("normalize",), f"{kind.kind} has no plasticity, so nothing to "
                 "normalise after evolve", "normalise a plastic synapse")


def initial_values(col: Collector, loader: Loader, path: tuple, kind: type[Component],
                   init: dict, shapes: dict, params=None) -> dict:
    """The ``init`` entries of a component: arrays (inline or from files) of the
    compartment's shape, and draws (a ``WeightInit``, drawn by the compiler from the seed)."""
    out = {}
    for cname, ref in init.items():
        p = path + ("init", cname)
        if not _may_initialise(col, p, kind, cname, params):
            continue
        if hasattr(ref, "dist"):
            if _drawable(col, p, kind, cname, ref, shapes[cname]):
                out[cname] = ref
            continue
        arr = inline_array(col, p, ref) if isinstance(ref, list) else file_array(col, loader, p, ref)
        if arr is None:
            continue
        if tuple(arr.shape) != tuple(shapes[cname]):
            what = "the list" if isinstance(ref, list) else ref.file
            col.fail(p, f"{what} has shape {tuple(arr.shape)}, compartment '{cname}' "
                     f"needs {tuple(shapes[cname])}" +
                     (" (per sample, without the batch axis)" if kind.compartments[cname].batched else ""))
            continue
        bad = kind.check_initial(params, cname, arr) if params is not None else []
        for msg in bad:
            col.fail(p, msg)
        if not bad:
            out[cname] = arr
    return out


def _may_initialise(col: Collector, p: tuple, kind: type[Component], cname: str, params) -> bool:
    if cname not in kind.compartments:
        col.fail(p, f"{kind.kind} has no compartment '{cname}'", suggest(cname, kind.compartments),
                 key=True)
        return False
    if cname == "biases" and kind.plastic and getattr(params, "bias_init", 0) is None:
        col.fail(p, f"{kind.kind} learns its biases only when it has a bias_init; "
                 "without one, biases read from a file would be used but never learned",
                 "add a bias_init (e.g. bias_init: {dist: constant, value: 0.0}); "
                 "the file then sets the biases' initial values", key=True)
        return False
    return True


def _drawable(col: Collector, p: tuple, kind: type[Component], cname: str, draw, shape) -> bool:
    bad = initializers.problems(draw, shape)
    if kind.compartments[cname].integer:
        bad.append(f"'{cname}' holds integers; a drawn initial value needs a float compartment")
    for msg in bad:
        col.fail(p, msg)
    return not bad
