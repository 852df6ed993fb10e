"""``--set name.param=value``: changes to a circuit's data before it is checked.

Overrides are applied to the parsed file (plain data), never to the file itself, so every
check that follows sees the changed value, and a problem with it can name the ``--set``
that put it there (:func:`mention_overrides`).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from ngcspec.errors import CircuitError, Problem, one_of, suggest
from ngcspec.spec import CircuitSpec
from ngcspec.yamlsrc import format_path

#: where a --set changed the data (path in the file) -> the --set as the user gave it
Overridden = dict[tuple, str]


def apply_overrides(data: Any, overrides: dict[str, Any]) -> tuple[Any, Overridden]:
    """``data`` with each ``dotted.name: value`` set (a copy; ``data`` is left unchanged),
    and what was set where. A name that starts with a component's name sets a field of that
    component (``W1.eta``), otherwise a top-level field (``run.epochs``)."""
    data = copy.deepcopy(data) if isinstance(data, dict) else data
    overridden: Overridden = {}
    for dotted, value in overrides.items():
        parts = _parts(data, dotted)
        node = data
        for part in parts[:-1]:
            if not isinstance(node, dict):
                break
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise _error(f"--set {dotted}: cannot set a field inside a non-mapping")
        node[parts[-1]] = value
        overridden[tuple(parts)] = f"{dotted}={value!r}" if isinstance(value, str) else \
            f"{dotted}={value}"
    return data, overridden


def _parts(data: Any, dotted: str) -> list[str]:
    """The path in the file that ``dotted`` names."""
    parts = dotted.split(".")
    comps = data.get("components") if isinstance(data, dict) else None
    if isinstance(comps, dict) and parts[0] in comps:
        parts = ["components"] + parts
    elif parts[0] not in CircuitSpec.model_fields:
        names = list(comps or {}) + list(CircuitSpec.model_fields)
        raise _error(f"--set {dotted}: '{parts[0]}' is neither a component nor a top-level field",
                     suggest(parts[0], names) or f"components: {one_of(comps or {}) or 'none'}")
    if any(not p for p in parts):
        raise _error(f"--set {dotted}: empty name between dots", "e.g. --set W1.eta=0.001")
    return parts


def _error(message: str, hint: str = "") -> CircuitError:
    return CircuitError([Problem(message, "<command line>", hint=hint)])


def mention_overrides(problems: list[Problem], overridden: Overridden) -> list[Problem]:
    """The problems, each naming the --set that changed its value, if one did."""
    out = []
    for p in problems:
        for opath, item in overridden.items():
            o = format_path(opath)
            if p.path == o or p.path.startswith(o + ".") or p.path.startswith(o + "["):
                p = replace(p, message=p.message + f" (value set on the command line: --set {item})")
                break
        out.append(p)
    return out
