"""Safe YAML loading that remembers where every value came from.

The document is composed into nodes with PyYAML's safe loader and turned into plain Python
data by hand, so that (a) every mapping key and value keeps its ``line:column`` for error
messages, (b) duplicate keys are errors instead of silently overwritten values, and (c) a tag
outside YAML's standard scalar/collection set (``!!python/object`` and friends) is refused:
no tag ever constructs a Python object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ngcspec.errors import CircuitError, Problem

Path = tuple  # a path into the document: keys (str) and list indices (int)

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass
class Source:
    """A loaded document: its data, and the positions of its keys and values."""

    data: Any
    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of ``path``, or of its nearest ancestor that exists in the file."""
        path = tuple(path)
        while True:
            table = self.keys if key and path in self.keys else self.values
            if path in table:
                return table[path]
            if not path:
                return (None, None)
            path = path[:-1]
            key = False

    def problem(self, path: Path, message: str, hint: str = "", *, key: bool = False) -> Problem:
        line, col = self.locate(path, key=key)
        return Problem(message=message, file=self.file, line=line, column=col,
                       path=format_path(path), hint=hint)


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, file: str = "<string>") -> Source:
    """Parse ``text``; raise :class:`CircuitError` with located problems on failure."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            col = mark.column + 1 if mark else None
            msg = f"{exc.problem or 'invalid YAML'}" + (f" ({exc.context})" if exc.context else "")
            hint = ""
            if "\\t" in msg or "tab" in msg.lower():
                hint = "YAML indentation must use spaces, not tabs"
            elif "mapping values are not allowed" in msg:
                hint = "a value containing ': ' must be quoted"
            raise CircuitError([Problem(msg, file, line, col, "", hint)]) from None
        except yaml.YAMLError as exc:  # pragma: no cover - reader errors (bad bytes)
            raise CircuitError([Problem(f"invalid YAML: {exc}", file)]) from None
        src = Source(data=None, file=file)
        problems: list[Problem] = []
        if root is None:
            raise CircuitError([Problem("the file is empty", file, 1, 1, "",
                                        "start from an example in circuits/")])
        src.data = _build(root, (), src, loader, problems)
        if problems:
            raise CircuitError(problems)
        return src
    finally:
        loader.dispose()


def _build(node: yaml.Node, path: Path, src: Source, loader: yaml.SafeLoader,
           problems: list[Problem]) -> Any:
    src.values[path] = _pos(node)
    if node.tag not in _STANDARD_TAGS:
        line, col = _pos(node)
        problems.append(Problem(
            f"YAML tag '{_short_tag(node.tag)}' is not allowed", src.file, line, col, format_path(path),
            "circuit files hold plain data only; remove the tag"))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _build(key_node, path + ("<key>",), src, loader, problems)
            src.values.pop(path + ("<key>",), None)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                line, col = _pos(key_node)
                problems.append(Problem("mapping keys must be plain names", src.file, line, col,
                                        format_path(path)))
                continue
            key = str(key)
            if key in out:
                line, col = _pos(key_node)
                first = src.keys.get(path + (key,), (None, None))[0]
                problems.append(Problem(
                    f"duplicate key '{key}'", src.file, line, col, format_path(path + (key,)),
                    f"it is already defined on line {first}; each name may appear once"))
                continue
            src.keys[path + (key,)] = _pos(key_node)
            out[key] = _build(value_node, path + (key,), src, loader, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), src, loader, problems) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
