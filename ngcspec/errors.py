"""User-facing errors: located, collected, and printable for people and for CI.

Every problem found in a circuit file is a :class:`Problem` that names the file, line, column
and field path, says what was expected, and (where a near name exists) suggests it. Problems
are gathered into a :class:`CircuitError` so that ``ngc validate`` reports all of them at once.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Problem:
    message: str
    file: str = "<string>"
    line: int | None = None
    column: int | None = None
    path: str = ""
    hint: str = ""

    def where(self) -> str:
        loc = self.file
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc

    def text(self) -> str:
        head = f"{self.where()}: error"
        if self.path:
            head += f" at {self.path}"
        out = f"{head}: {self.message}"
        if self.hint:
            out += f"\n    hint: {self.hint}"
        return out

    def github(self) -> str:
        props = [f"file={self.file}"]
        if self.line is not None:
            props.append(f"line={self.line}")
        if self.column is not None:
            props.append(f"col={self.column}")
        title = f"ngcspec {self.path}" if self.path else "ngcspec"
        props.append(f"title={_gh_escape_prop(title)}")
        msg = self.message + (f" (hint: {self.hint})" if self.hint else "")
        return f"::error {','.join(props)}::{_gh_escape_data(msg)}"


def _gh_escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_prop(s: str) -> str:
    return _gh_escape_data(s).replace(":", "%3A").replace(",", "%2C")


class NgcspecError(Exception):
    """Base of every error that is the user's to fix (no traceback is shown for these)."""


@dataclass
class CircuitError(NgcspecError):
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.text() for p in self.problems)

    def __str__(self) -> str:
        return self.render()


class RunError(NgcspecError):
    """A problem found while running (non-finite state, unreadable run directory...)."""


def suggest(name: str, candidates: Iterable[str]) -> str:
    """'did you mean X?' for the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def one_of(candidates: Sequence[str], limit: int = 12) -> str:
    names = sorted(candidates)
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def format_problems(problems: Sequence[Problem], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps([asdict(p) for p in problems], indent=2)
    if fmt == "github":
        return "\n".join(p.github() for p in problems)
    return "\n".join(p.text() for p in problems)
