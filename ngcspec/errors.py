"""User-facing errors: located, collected, and printable for people and for CI.

Every problem found in a circuit file is a :class:`Problem` that names the file, line, column
and field path, says what was expected, and (where a near name exists) suggests it. Problems
are gathered into a :class:`CircuitError` so that ``ngc validate`` reports all of them at once.
"""

from __future__ import annotations

import difflib
import json
import re
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
    code: str = ""     # stable kind of problem (see CODES); derived from the message if not given

    def __post_init__(self) -> None:
        if not self.code:
            object.__setattr__(self, "code", classify(self.message, self.path))

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


# ---------------------------------------------------------------------------------------------
# stable codes: one per kind of problem, used as SARIF rule ids and JUnit failure types

#: code -> what it means (SARIF rule descriptions, docs/ci.md). Codes never change meaning;
#: new kinds of problem get new codes.
CODES: dict[str, str] = {
    "file-unreadable": "the file cannot be read: missing, a folder, not UTF-8 text, or holding "
                       "control characters",
    "yaml-syntax": "the text is not valid YAML, or not exactly one YAML document",
    "yaml-duplicate-key": "a key appears twice in one mapping",
    "yaml-unsafe": "a YAML tag, alias loop, nesting or alias expansion that plain data does "
                   "not allow",
    "empty-file": "the file holds no YAML document",
    "not-a-circuit": "the document is not a mapping of circuit fields",
    "format-version": "the 'ngcspec:' format version is not one this ngcspec reads",
    "unknown-field": "a field name that the section does not have",
    "missing-field": "a required field is missing",
    "wrong-type": "a value of the wrong type (text where a number is expected, ...)",
    "out-of-range": "a number outside its allowed range, or a list of the wrong length",
    "not-finite": "a NaN or infinite number where finite values are needed",
    "unknown-kind": "a component kind that is not registered (ngc components)",
    "unknown-component": "a name that is not a component of the circuit",
    "unknown-compartment": "a compartment that the component's kind does not have",
    "wire-syntax": "a wire that is not 'src.compartment -> dst.compartment'",
    "wire-role": "a wire or clamp that reads or drives a compartment of the wrong role",
    "shape-mismatch": "shapes that do not agree (wires, ties, clamps, arrays from files)",
    "undelayed-loop": "a loop of undelayed wires, which has no execution order",
    "order-conflict": "an explicit 'order' that contradicts the wires or misses components",
    "plasticity": "evolve or normalize on a component without (usable) plasticity",
    "tie": "a tie that cannot be honoured",
    "too-large": "sizes that no machine can hold",
    "unknown-data": "a data set, data source or data field that does not exist",
    "data-file": "a data or array file that is missing, unreadable or holds bad values",
    "clamp": "a clamp of no known form, or on a compartment that cannot be clamped",
    "schedule": "a schedule entry of no known form, or a missing schedule",
    "command-line": "a --set override that names nothing in the file",
    "sweep": "a sweep section that names no parameter, or values the sweep cannot take",
    "trace-failed": "the compiled program fails to trace (found by ngc validate --deep)",
    "internal-error": "a bug in ngcspec, not in the file",
    "invalid-value": "a value the component or section does not accept",
}

# (code, pattern searched in the message): the first match wins, so specific before general
_RULES: tuple[tuple[str, str], ...] = (
    ("internal-error", r"^internal error:"),
    ("trace-failed", r"^tracing the compiled program failed"),
    ("wire-syntax", r"^cannot read wire |^a wire is a string"),
    ("file-unreadable", r"^no such file: |is a directory, not a circuit file|^cannot read .*: |"
                        r"^not a UTF-8 text file|control character .* is not allowed"),
    ("empty-file", r"^the file is empty"),
    ("yaml-duplicate-key", r"^duplicate key "),
    ("yaml-unsafe", r"YAML tag '|^the tag '|alias refers to a value that contains it|"
                    r"once its aliases are expanded|nesting is too deep|^invalid merge"),
    ("yaml-syntax", r"^invalid YAML|mapping keys must be plain names"),
    ("not-a-circuit", r"^a circuit file is a mapping"),
    ("format-version", r"^unsupported format version"),
    ("command-line", r"^--set "),
    ("unknown-field", r"^unknown field "),
    ("missing-field", r"^missing required field |^needs a field |^too few items"),
    ("unknown-kind", r"^unknown component kind |name of a component kind"),
    ("undelayed-loop", r"^loop of undelayed wires"),
    ("order-conflict", r"^the order "),
    ("too-large", r" is too large: |^the state needs .* bytes"),
    ("unknown-data", r"^unknown data set |^unknown data source |^data '.*' has no field |"
                     r"needs a data source|reads data '.*' but this phase"),
    ("data-file", r"^data file not found|^cannot read the data|NaN or Inf value|contains NaN or Inf|"
                  r"holds .* values; numbers are needed|^cannot load "),
    ("unknown-compartment", r" has no compartment "),
    ("unknown-component", r"^unknown component "),
    ("plasticity", r"no plasticity|read only by plasticity|is tied to .* overwritten"),
    ("tie", r"cannot be tied|is itself tied|transpose ties"),
    ("shape-mismatch", r"^shape mismatch|has shape .* but|does not fit|per sample but|"
                       r"would have shape|time steps but"),
    ("clamp", r"^a clamp is |only unwired inputs can be clamped|^constant must|"
              r"data can only be clamped"),
    ("wire-role", r" is an? \w+ compartment; a |is an input driven by"),
    ("schedule", r"^unknown schedule entry|'schedule' is required"),
    ("not-finite", r"NaN|\.nan|finite"),
    ("wrong-type", r"^expected |is not a valid name|^a component is a mapping"),
    ("out-of-range", r"^must be |^needs at least |^takes at most |is larger than"),
)
_COMPILED = tuple((code, re.compile(pattern)) for code, pattern in _RULES)


def classify(message: str, path: str = "") -> str:
    """The code of a problem, from the wording its kind is always reported with (and, for
    the sweep section's own checks, from where it is)."""
    for code, pattern in _COMPILED:
        if pattern.search(message):
            return code
    return "sweep" if path == "sweep" or path.startswith(("sweep.", "sweep[")) else "invalid-value"


def format_problems(problems: Sequence[Problem], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps([asdict(p) for p in problems], indent=2)
    if fmt == "github":
        return "\n".join(p.github() for p in problems)
    return "\n".join(p.text() for p in problems)
