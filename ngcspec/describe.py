"""Human-readable documentation of component kinds, generated from the registry."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ngcspec.errors import NgcspecError, one_of, suggest
from ngcspec.params import _is_static_field
from ngcspec.registry import ROLE_MEANING, get_kind, kinds


def _summary(cls) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def kind_table() -> Table:
    table = Table(title="component kinds (ngc components KIND for details)")
    for col in ("kind", "family", "plastic"):
        table.add_column(col, no_wrap=True)   # names stay whole; the summary wraps
    table.add_column("summary")
    for name, cls in sorted(kinds().items(), key=lambda kv: (kv[1].family, kv[0])):
        table.add_row(name, cls.family, "yes" if cls.plastic else "", Text(_summary(cls)))
    return table


def _type_name(ann: Any) -> str:
    import re
    from typing import get_origin

    text = str(ann) if get_origin(ann) is not None else getattr(ann, "__name__", str(ann))
    text = re.sub(r"\b[\w.]+\.(\w+)", r"\1", text.replace("typing.", ""))
    text = re.sub(r"Annotated\[([^,\]]+)(, [^\]]*)?\]", r"\1", text)
    return text if len(text) <= 40 else text[:37] + "..."


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "(required)"
    value = field.default if field.default_factory is None else field.default_factory()
    if hasattr(value, "model_dump"):
        dumped = value.model_dump(exclude_defaults=True)
        value = {**({"dist": value.dist} if hasattr(value, "dist") else {}), **dumped}
    return repr(value)


def parameter_rows(cls):
    for name, field in cls.Params.model_fields.items():
        traced = field.annotation is float and not _is_static_field(field)
        yield name, _type_name(field.annotation), _default(field), field.description or "", traced


def describe_kind(name: str) -> Group:
    cls = get_kind(name)
    if cls is None:
        raise NgcspecError(f"unknown component kind '{name}'; "
                           + (suggest(name, kinds()) or f"known kinds: {one_of(kinds())}"))
    params = Table(title="parameters", title_justify="left")
    for col in ("name", "type", "default", "meaning"):
        params.add_column(col)
    for pname, typ, default, doc, traced in parameter_rows(cls):
        params.add_row(Text(pname), Text(typ + (" (traced)" if traced else "")), Text(default),
                       Text(doc))
    comps = Table(title="compartments (B = batch)", title_justify="left")
    for col in ("name", "role", "shape", "reset", "meaning"):
        comps.add_column(col)
    for cname, c in cls.compartments.items():
        shape = ("B, " if c.batched else "") + c.shape if c.shape else ("B" if c.batched else "scalar")
        reset = "kept" if c.persistent else str(c.reset)
        role = c.role + (" (evolve)" if c.evolve_only else "")
        comps.add_row(cname, role, Text(f"({shape})"), reset, Text(c.doc))
    roles = Text("roles: " + "; ".join(f"{k}: {v}" for k, v in ROLE_MEANING.items()), style="dim")
    head = Text(f"{name}  [{cls.family}]" + ("  plastic (evolve)" if cls.plastic else ""), style="bold")
    return Group(head, Text(cls.describe()), params, comps, roles)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """docs/components.md: every kind with its parameters, compartments and docstring."""
    out = ["# Component kinds", "",
           "Generated from the registry by `ngc components --markdown`; do not edit by hand.",
           "Parameters marked *traced* enter the compiled program as data (changing them never",
           "recompiles). Shapes are per sample; batched compartments get a leading batch axis B.",
           ""]
    by_family: dict[str, list[str]] = {}
    for name, cls in sorted(kinds().items()):
        by_family.setdefault(cls.family or "other", []).append(name)
    for family in sorted(by_family):
        out.append(f"- **{family}**: " + ", ".join(f"[{n}](#{n.lower()})" for n in by_family[family]))
    out.append("")
    for family in sorted(by_family):
        out += [f"## {family}", ""]
        for name in by_family[family]:
            cls = kinds()[name]
            out += [f"### {name}", "", "```text", cls.describe(), "```", "",
                    "| parameter | type | default | meaning |", "|---|---|---|---|"]
            for pname, typ, default, doc, traced in parameter_rows(cls):
                out.append(f"| `{pname}` | {_md(typ)}{' (traced)' if traced else ''} | "
                           f"`{_md(default)}` | {_md(doc)} |")
            out += ["", "| compartment | role | shape | reset | meaning |", "|---|---|---|---|---|"]
            for cname, c in cls.compartments.items():
                shape = ("B, " if c.batched else "") + c.shape if c.shape else ("B" if c.batched else "scalar")
                role = c.role + (" (evolve only)" if c.evolve_only else "")
                reset = "kept" if c.persistent else f"{c.reset}"
                out.append(f"| `{cname}` | {role} | ({_md(shape)}) | {reset} | {_md(c.doc)} |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"
