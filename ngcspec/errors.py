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
        props = [f"file={_gh_escape_prop(_repo_relative(self.file))}"]
        if self.line is not None:
            props.append(f"line={self.line}")
        if self.column is not None:
            props.append(f"col={self.column}")
        title = f"ngcspec {self.path}" if self.path else "ngcspec"
        props.append(f"title={_gh_escape_prop(title)}")
        msg = self.message + (f" (hint: {self.hint})" if self.hint else "")
        return f"::error {','.join(props)}::{_gh_escape_data(msg)}"


def _repo_relative(file: str) -> str:
    """GitHub attaches annotations to paths relative to the checkout (the working directory
    of a CI step): absolute paths below it are made relative."""
    import os

    if os.path.isabs(file):
        try:
            rel = os.path.relpath(file)
        except ValueError:  # another drive (Windows)
            return file
        if not rel.startswith(".."):
            return rel
    return file


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


def _distance(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (a swap of neighbours counts as one edit)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def near(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name``, or None when none is close enough to be a typo.

    Exact matches up to case win; otherwise the smallest edit distance within a budget that
    grows with the length (1 edit for names of up to 4 characters, so ``z9`` finds ``z1``),
    and then difflib's ratio for longer rearrangements."""
    name = str(name)
    cands = [str(c) for c in candidates if str(c) != name]
    if not cands or not name or len(name) > 200:
        return None
    low = name.lower()
    for c in cands:
        if c.lower() == low:
            return c
    budget = 1 if len(name) <= 4 else 2 if len(name) <= 8 else 3
    scored = sorted((_distance(low, c.lower()), i, c) for i, c in enumerate(cands)
                    if abs(len(c) - len(name)) <= budget)
    if scored and scored[0][0] <= budget and scored[0][0] < len(name):
        return scored[0][2]
    close = difflib.get_close_matches(name, cands, n=1, cutoff=0.75)
    return close[0] if close else None


def suggest(name: str, candidates: Iterable[str]) -> str:
    """'did you mean X?' for the closest candidate, or '' when nothing is close."""
    close = near(name, candidates)
    return f"did you mean '{close}'?" if close is not None else ""


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
