"""From a circuit file to the checked, resolved form the compiler consumes.

Everything the user can get wrong is checked here, before any tracing, and reported together
with file, line, column, field path and a suggestion. The steps, each in its own module:

1. ``--set`` overrides change the parsed data (:mod:`ngcspec.overrides`);
2. the form of the file is checked by the pydantic models of :mod:`ngcspec.spec`, whose
   errors :mod:`ngcspec.pydantic_errors` locates and rewords;
3. the checks of meaning in :mod:`ngcspec.checks` (components, wiring and order, phases,
   schedules and clamps, resources) report into one collector; files and data sets are read
   through the :class:`~ngcspec.loader.Loader` they are handed, which records every user file;
4. what checks out becomes the :mod:`ngcspec.resolved` form.

Nothing here imports JAX. The resolved form's classes, :func:`entry_model` and the entry
points are importable from this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ngcspec.checks.collector import Collector
from ngcspec.checks.components import check_components
from ngcspec.checks.phases import check_phases
from ngcspec.checks.resources import check_resources
from ngcspec.checks.values import check_nan
from ngcspec.checks.wiring import check_order, check_ties, check_wires
from ngcspec.errors import CircuitError, Problem
from ngcspec.loader import Loader
from ngcspec.overrides import apply_overrides, mention_overrides
from ngcspec.pydantic_errors import problems_from_pydantic
from ngcspec.resolved import (Resolved, ResolvedClamp, ResolvedComponent, ResolvedData,
                              ResolvedPhase, ResolvedWire)
from ngcspec.spec import CircuitSpec, entry_model
from ngcspec.yamlsrc import Source, load_yaml

__all__ = ["read_source", "resolve", "resolve_file", "entry_model", "Resolved",
           "ResolvedClamp", "ResolvedComponent", "ResolvedData", "ResolvedPhase", "ResolvedWire",
           "Loader"]


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


def resolve_file(path_or_text, overrides: dict[str, Any] | None = None) -> Resolved:
    src, base = read_source(path_or_text)
    return resolve(src, base, overrides=overrides)


def resolve(src: Source, base_dir: Path, overrides: dict[str, Any] | None = None,
            loader: Loader | None = None) -> Resolved:
    """The resolved form of ``src`` (files named in it are relative to ``base_dir``, read
    through ``loader``, a :class:`Loader` of ``base_dir`` by default), or a CircuitError
    listing every problem found, each naming the ``--set`` that changed its value."""
    data, overridden = apply_overrides(src.data, overrides) if overrides else (src.data, {})
    if not isinstance(data, dict):
        raise CircuitError([src.problem((), "a circuit file is a mapping of fields "
                                             "(ngcspec, name, components, wires, ...)")])
    col = Collector(src, _declared(data))
    resolved = _checked(col, src, base_dir, data, Loader(base_dir) if loader is None else loader)
    if resolved is None:
        raise CircuitError(mention_overrides(col.problems, overridden))
    return resolved


def _declared(data: dict) -> tuple[str, ...]:
    comps = data.get("components")
    return tuple(comps) if isinstance(comps, dict) else ()


def _checked(col: Collector, src: Source, base_dir: Path, data: dict,
             loader: Loader) -> Resolved | None:
    """The checks in the order their problems are listed; None when any failed. Wiring,
    phases and resources are checked only once the file's form and components are sound."""
    try:
        spec = CircuitSpec.model_validate(data)
    except ValidationError as exc:
        col.extend(problems_from_pydantic(exc, src, (), data, CircuitSpec))
        spec = None
    comps = check_components(col, data, loader)
    check_nan(col, data)   # after the typed checks, which may have said it already
    if spec is None or col.problems:
        return None
    wires = check_wires(col, spec, data.get("wires"), comps)
    check_ties(col, comps)
    order = check_order(col, spec, comps, wires)
    phases = check_phases(col, spec, comps, wires, loader)
    if spec.sweep is not None:
        from ngcspec.sweepspec import check_sweep
        check_sweep(spec.sweep, comps, phases, col.fail, entry_model)
    check_resources(col, comps, phases, spec.dtype)
    if col.problems:
        return None
    return Resolved(spec=spec, file=src.file, base_dir=base_dir, components=comps,
                    wires=tuple(wires), order=tuple(order), phases=phases, raw=data,
                    files=tuple(loader.files.items()), dt=spec.dt, dtype=spec.dtype,
                    seed=spec.seed, check_finite=spec.run.check_finite)
