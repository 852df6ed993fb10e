"""``component.compartment`` references: wires, ties, clamps, metrics and records."""

from __future__ import annotations

from ngcspec.checks.collector import Collector
from ngcspec.errors import one_of, suggest
from ngcspec.spec import REF_RE


def compartment_ref(col: Collector, path, ref: str, comps, roles=None, what: str = "compartment",
                    within: bool = False) -> tuple[str, str] | None:
    """Resolve 'component.compartment' among ``comps``; returns (component, compartment), or
    None after reporting why not. ``roles``: the roles the compartment may have.

    ``within``: the value at ``path`` contains ``ref`` (a wire string); point at it."""
    at = ref if within else ""
    m = REF_RE.match(ref)
    if not m:
        col.fail(path, f"'{ref}' is not 'component.compartment'", within=at)
        return None
    cname, part = m.group(1), m.group(2)
    if cname not in comps:
        names = list(col.declared)
        if cname in names:  # the component itself had errors, already reported
            return None
        col.fail(path, f"unknown component '{cname}' in '{ref}'", suggest(cname, names) or
                 f"components: {one_of(names)}", within=at)
        return None
    kind = comps[cname].kind
    comp = kind.compartments.get(part)
    if comp is None:
        col.fail(path, f"{cname} ({kind.kind}) has no compartment '{part}'",
                 suggest(part, kind.compartments) or f"compartments: {one_of(kind.compartments)}",
                 within=at)
        return None
    if roles and comp.role not in roles:
        allowed = [n for n, c in kind.compartments.items() if c.role in roles]
        article = "an" if comp.role[0] in "aeiou" else "a"
        col.fail(path, f"{cname}.{part} is {article} {comp.role} compartment; a {what} must be "
                 f"{' or '.join(roles)}", f"{what}s of {kind.kind}: {one_of(allowed)}", within=at)
        return None
    return cname, part
