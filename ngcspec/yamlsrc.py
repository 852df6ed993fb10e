"""Safe YAML loading that remembers where every value came from.

The document is composed into nodes with PyYAML's safe loader and turned into plain Python
data by hand, so that (a) every mapping key and value keeps its ``line:column`` for error
messages, (b) duplicate keys are errors instead of silently overwritten values, and (c) a tag
outside YAML's standard scalar/collection set (``!!python/object`` and friends) is refused:
no tag ever constructs a Python object.

Whatever the text, loading ends in data or in a :class:`CircuitError` with located problems,
never in another exception: control characters, undecodable tagged scalars (``!!int abc``),
bad merges, nesting deeper than :data:`MAX_DEPTH`, aliases that contain themselves and alias
"bombs" that expand beyond :data:`MAX_VALUES` values are all reported. A syntax error names
the field whose text was being read (read back from the text before the error). Plain
scalars that YAML 1.1 would turn into dates (``2024-01-01``) stay text.
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
    # one-line scalars: path -> (text as parsed, offset of its first character from the value's
    # column: 1 for quoted scalars), so a message can point inside a value ('W1.output' in a wire)
    scalars: dict[Path, tuple[str, int]] = field(default_factory=dict)
    text: str | None = field(default=None, repr=False)   # the document itself

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

    def locate_text(self, path: Path, needle: str) -> tuple[int | None, int | None]:
        """Position of ``needle`` inside the one-line scalar at ``path`` (else of ``path``)."""
        line, col = self.locate(path)
        found = self.scalars.get(tuple(path))
        if found and needle and line is not None and col is not None:
            text, offset = found
            i = text.find(needle)
            if i >= 0:
                return line, col + offset + i
        return line, col

    def problem(self, path: Path, message: str, hint: str = "", *, key: bool = False,
                within: str = "") -> Problem:
        """A located problem; ``within`` points at that text inside the value at ``path``."""
        line, col = self.locate_text(path, within) if within and not key else self.locate(path, key=key)
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


#: limits that keep a hostile or broken file from exhausting memory or the stack
MAX_DEPTH = 64            # nesting of mappings/lists
MAX_VALUES = 500_000      # values after expanding aliases ("billion laughs")

# Tags PyYAML resolves implicitly for plain scalars that mean nothing special in a circuit file:
# they are kept as the text that was written (``2024-01-01``, ``=``, ``<<`` as a value).
_TEXT_TAGS = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value", "tag:yaml.org,2002:merge"}

_EXPECTED_NODE = {
    "tag:yaml.org,2002:map": (yaml.MappingNode, "a mapping"),
    "tag:yaml.org,2002:seq": (yaml.SequenceNode, "a list"),
}


_OPENED = {"while parsing a flow sequence": ("list '['", "']'"),
           "while parsing a flow mapping": ("mapping '{'", "'}'"),
           "while scanning a quoted scalar": ("quoted text", "the same quote")}


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# Complexity over 10 on purpose: the libyaml fast path, then one located message and hint per
# kind of YAML syntax error the pure-Python parser reports.
def load_yaml(text: str, file: str = "<string>") -> Source:  # noqa: C901
    """Parse ``text``; raise :class:`CircuitError` with located problems on failure.

    libyaml (``CSafeLoader``) composes well-formed files about six times faster than the
    pure-Python parser; a file it rejects is parsed again by the pure-Python one, whose
    messages and marks the error reports below are written for."""
    fast = _compose_fast(text)
    if fast is not None:
        loader, root = fast
        try:
            return _build_source(text, file, loader, root)
        finally:
            loader.dispose()
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:   # control characters, NUL bytes...
        line, col = _line_col(text, exc.position) if isinstance(text, str) else (None, None)
        ch = exc.character
        shown = f"#x{ch:04x}" if isinstance(ch, int) else repr(ch)
        raise CircuitError([Problem(
            f"the control character {shown} is not allowed in a YAML file", file, line, col, "",
            "remove it; circuit files are plain UTF-8 text")]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            msg = f"{exc.problem or 'invalid YAML'}" + (f" ({exc.context})" if exc.context else "")
            hint = ""
            ctx = exc.context_mark
            if ctx is not None and mark is not None and ("<stream end>" in msg or "end of stream" in msg) \
                    and (ctx.line, ctx.column) != (mark.line, mark.column):
                # the file ends inside a bracket or a quote: point at where it was opened
                what, closer = _OPENED.get(exc.context or "", ("value", ""))
                msg = f"the file ends (line {mark.line + 1}) before the {what} opened here is closed"
                hint = f"close it with {closer}" if closer else "close it"
                mark = ctx
            line = mark.line + 1 if mark else None
            col = mark.column + 1 if mark else None
            if hint:
                pass
            elif "\\t" in msg or "tab" in msg.lower():
                hint = "YAML indentation must use spaces, not tabs"
            elif "mapping values are not allowed" in msg:
                hint = "a value containing ': ' must be quoted"
            elif "another document" in msg:
                msg = "a circuit file holds one YAML document, but a second one starts here"
                hint = "remove the '---' line (or split the file in two)"
            elif "found undefined alias" in msg:
                hint = "define the anchor (&name) before using the alias (*name)"
            elif "while parsing a flow" in msg:
                hint = "check the brackets: '[' closes with ']', '{' with '}', items are separated by ','"
            elif "could not find expected ':'" in msg:
                hint = "each line of a mapping is 'key: value'"
            where = "" if "second one starts here" in msg else _field_before(text, mark)
            raise CircuitError([Problem(f"invalid YAML: {msg}", file, line, col, where, hint)]) from None
        except yaml.YAMLError as exc:  # pragma: no cover - reader errors while scanning
            raise CircuitError([Problem(f"invalid YAML: {exc}", file)]) from None
        except RecursionError:
            raise CircuitError([Problem(f"the YAML nesting is too deep (more than {MAX_DEPTH} levels)",
                                        file, 1, 1)]) from None
        return _build_source(text, file, loader, root)
    finally:
        loader.dispose()


def _compose_fast(text: str):
    """(loader, root node) from libyaml, or None when it is missing or the text is not
    plain well-formed YAML (the pure-Python path then reports the problem)."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None or not isinstance(text, str):
        return None
    loader = None
    try:
        loader = fast(text)
        return loader, loader.get_single_node()
    except Exception:  # any libyaml complaint: let the pure-Python parser explain it
        if loader is not None:
            loader.dispose()
        return None


def _build_source(text: str, file: str, loader, root) -> Source:
    src = Source(data=None, file=file, text=text)
    problems: list[Problem] = []
    if root is None:
        raise CircuitError([Problem("the file is empty (no YAML document in it)", file, 1, 1, "",
                                    "a circuit file starts with 'ngcspec: 1', 'name: ...'; "
                                    "start from an example in circuits/")])
    try:
        src.data = _Builder(src, loader, problems).build(root, ())
    except RecursionError:
        raise CircuitError([Problem(f"the YAML nesting is too deep (more than {MAX_DEPTH} levels)",
                                    file, 1, 1)]) from None
    if problems:
        raise CircuitError(problems)
    return src


def _field_before(text: str, mark, _depth: int = 0) -> str:
    """Field path of the last key before ``mark``, read from the text up to there: the field
    whose value could not be parsed (or the one just before the broken line). Best effort."""
    if mark is None or getattr(mark, "index", None) is None:
        return ""
    head = text[: mark.index]
    for _ in range(4):  # the text before the error may end inside a construct: drop lines
        loader = yaml.SafeLoader(head)
        try:
            root = loader.get_single_node()
            if root is None:
                return ""
            src = Source(data=None, file="")
            src.data = _Builder(src, loader, []).build(root, ())
        except (yaml.YAMLError, RecursionError):
            head = head[: head.rstrip("\n").rfind("\n") + 1] if "\n" in head.rstrip("\n") else ""
            if not head:
                return ""
            continue
        finally:
            loader.dispose()
        before = [(pos[0], -len(path), path) for path, pos in src.keys.items()
                  if pos <= (mark.line + 1, mark.column + 1)]
        if not before:
            return ""
        # the latest line; on it, the outermost key (the owner of a {flow: mapping})
        line, _, path = max(before)
        if line == mark.line + 1:
            return format_path(path)
        value = src.data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        # the text stopped in that key's value, or after it (then the broken line is a sibling)
        return format_path(path if value is None else path[:-1])
    return ""


class _TooBig(Exception):
    pass


def _expanded_size(root: yaml.Node) -> int:
    """Number of values once aliases are expanded, without expanding them (memoised on the
    nodes, which aliases share); loops and deep nesting are left to the builder to report."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if isinstance(node, yaml.ScalarNode) or depth > MAX_DEPTH or id(node) in active:
            return 1
        active.add(id(node))
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) \
            else node.value
        total = 1 + sum(size(c, depth + 1) for c in children)
        active.discard(id(node))
        sizes[id(node)] = total = min(total, MAX_VALUES + 1)
        return total

    return size(root, 0)


class _Builder:
    """Nodes -> plain data, with positions; refuses non-standard tags, loops and bombs."""

    def __init__(self, src: Source, loader: yaml.SafeLoader, problems: list[Problem]):
        self.src, self.loader, self.problems = src, loader, problems
        self.count = 0
        self.active: set[int] = set()   # ids of the collections being built (alias loops)

    def fail(self, node: yaml.Node, path: Path, message: str, hint: str = "") -> None:
        line, col = _pos(node)
        self.problems.append(Problem(message, self.src.file, line, col, format_path(path), hint))

    def build(self, root: yaml.Node, path: Path) -> Any:
        try:
            if _expanded_size(root) > MAX_VALUES:   # counted on the shared nodes: instant
                raise _TooBig
            return self._build(root, path, 0)
        except _TooBig:
            self.problems.append(Problem(
                f"the document holds more than {MAX_VALUES:,} values once its aliases are expanded",
                self.src.file, 1, 1, "", "keep large arrays in .npy/.npz files; avoid nested aliases"))
            return None

    # Complexity over 10 on purpose: one branch per YAML node type and tag, the heart of the
    # located loader.
    def _build(self, node: yaml.Node, path: Path, depth: int) -> Any:  # noqa: C901
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooBig
        self.src.values[path] = _pos(node)
        if node.tag in _TEXT_TAGS and isinstance(node, yaml.ScalarNode):
            return str(node.value)
        if node.tag not in _STANDARD_TAGS:
            self.fail(node, path, f"YAML tag '{_short_tag(node.tag)}' is not allowed",
                      "circuit files hold plain data only; remove the tag")
            return None
        if node.tag == "tag:yaml.org,2002:str" and not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, "the tag '!!str' needs a single value, not a mapping or a list",
                      "remove the tag")
            return None
        expected = _EXPECTED_NODE.get(node.tag)
        if expected is not None and not isinstance(node, expected[0]):
            self.fail(node, path, f"the tag '{_short_tag(node.tag)}' needs {expected[1]}, "
                      "but a single value follows it", "remove the tag")
            return None
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if depth >= MAX_DEPTH:
                self.fail(node, path, f"the nesting is too deep (more than {MAX_DEPTH} levels)")
                return None
            if id(node) in self.active:
                self.fail(node, path, "an alias refers to a value that contains it (a loop)",
                          "circuit files hold plain data (trees), not recursive structures")
                return None
            self.active.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path, depth)
                return [self._build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, f"the tag '{_short_tag(node.tag)}' needs a single value")
            return None
        self._remember_text(node, path)
        if node.tag == "tag:yaml.org,2002:str":
            return str(node.value)
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError):
            self.fail(node, path, f"cannot read {node.value!r} as {_short_tag(node.tag)}",
                      "remove the tag, or write a value of that type")
            return None

    def _remember_text(self, node: yaml.ScalarNode, path: Path) -> None:
        """Keep one-line scalars whose text maps 1:1 onto the file (no escapes, no folding)."""
        start, end = node.start_mark, node.end_mark
        if start.line != end.line or not isinstance(self.src.text, str):
            return
        raw = self.src.text[start.index:end.index]   # (libyaml's marks carry no buffer)
        if not node.style and raw == node.value:   # plain (libyaml says "", PyYAML None)
            self.src.scalars[path] = (node.value, 0)
        elif node.style in ("'", '"') and raw[1:-1] == node.value:
            self.src.scalars[path] = (node.value, 1)

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict:
        out: dict[Any, Any] = {}
        written = {id(k) for k, _ in node.value}   # keys written here, not merged in by '<<'
        try:
            self.loader.flatten_mapping(node)   # '<<' merge keys: merged pairs come first
        except yaml.MarkedYAMLError as exc:
            self.fail(node, path, f"invalid merge ('<<'): {exc.problem}",
                      "'<<' takes an alias of a mapping (or a list of them)")
            return out
        merged: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (
                    _STANDARD_TAGS | _TEXT_TAGS) or key_node.tag in _EXPECTED_NODE:
                self.fail(key_node, path, "mapping keys must be plain names",
                          "write 'name: value'; a key cannot be a list, a mapping or a tagged value")
                continue
            key = str(key_node.value)   # the key as written (so 'on', '1.0', '~' stay text)
            if key in merged:   # overrides a merged value (as PyYAML and YAML's merge do)
                if id(key_node) in written:
                    merged.discard(key)
            elif key in out or path + (key,) in self.src.keys:
                line, col = _pos(key_node)
                first = self.src.keys.get(path + (key,), (None, None))[0]
                self.problems.append(Problem(
                    f"duplicate key '{key}'", self.src.file, line, col, format_path(path + (key,)),
                    f"it is already defined on line {first}; each name may appear once"))
                continue
            if id(key_node) not in written:
                merged.add(key)
            self.src.keys[path + (key,)] = _pos(key_node)
            out[key] = self._build(value_node, path + (key,), depth + 1)
        return out
