"""Validation results as the reports that people, CI systems and code scanners read.

``ngc validate`` checks files one by one into :class:`Checked` records; this module turns
them into text (people), JSON (scripts), GitHub workflow annotations, JUnit XML (GitLab,
Jenkins: one test case per file) and SARIF 2.1.0 (GitHub code scanning: one result per
problem, its rule the problem's stable code from :data:`ngcspec.errors.CODES`). Nothing
here imports JAX or reads files; every renderer is a pure function of its records.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import Sequence

from ngcspec.errors import CODES, Problem

FORMATS = ("text", "json", "github", "junit", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class Checked:
    """One checked file: what was found in it and how long checking it took."""

    file: str                          # as given or found; '<stdin>' for standard input
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = ()        # information that is not a problem (--deep: memory)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def internal(self) -> bool:
        return any(p.code == "internal-error" for p in self.problems)


def all_problems(checked: Sequence[Checked]) -> list[Problem]:
    return [p for c in checked for p in c.problems]


def summary(checked: Sequence[Checked]) -> str:
    """'23 files, 0 errors', or '3 files, 4 errors (2 files with errors)'."""
    n_files, n_errors = len(checked), sum(len(c.problems) for c in checked)
    bad = sum(not c.ok for c in checked)
    line = f"{_plural(n_files, 'file')}, {_plural(n_errors, 'error')}"
    return line + (f" ({_plural(bad, 'file')} with errors)" if bad else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render(fmt: str, checked: Sequence[Checked], version: str = "") -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending in a newline unless empty."""
    if fmt == "text":
        body = text(checked)
    elif fmt == "json":
        body = json.dumps([asdict(p) for p in all_problems(checked)], indent=2)
    elif fmt == "github":
        body = "\n".join(p.github() for p in all_problems(checked))
    elif fmt == "junit":
        body = junit(checked)
    elif fmt == "sarif":
        body = json.dumps(sarif(checked, version), indent=2)
    else:
        raise ValueError(f"unknown report format {fmt!r}")
    return body + "\n" if body else ""


def text(checked: Sequence[Checked]) -> str:
    lines = [p.text() for p in all_problems(checked)]
    lines += [f"{c.file}: {note}" for c in checked for note in c.notes]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# JUnit XML: <testsuites><testsuite><testcase/>...</testsuite></testsuites>, with the attributes
# the commonly used JUnit schema requires (suite: name, tests, failures, errors, time,
# timestamp, hostname, id, package; case: name, classname, time; failure/error: type, message)


def junit(checked: Sequence[Checked], timestamp: str | None = None, hostname: str | None = None) -> str:
    import socket
    import time

    stamp = timestamp or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    host = hostname or socket.gethostname() or "localhost"
    errors = sum(c.internal for c in checked)
    failures = sum(not c.ok and not c.internal for c in checked)
    total = sum(c.seconds for c in checked)
    counts = (f'tests="{len(checked)}" failures="{failures}" errors="{errors}" '
              f'time="{total:.3f}"')
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="ngc validate" {counts}>',
           f'  <testsuite name="ngc validate" {counts} skipped="0" id="0" package="ngcspec" '
           f'timestamp="{stamp}" hostname={quoteattr(host)}>']
    for c in checked:
        case = f'    <testcase classname="ngcspec.validate" name={quoteattr(c.file)} time="{c.seconds:.3f}"'
        if c.ok:
            out.append(case + "/>")
            continue
        first = c.problems[0]
        tag = "error" if c.internal else "failure"
        message = f"{first.where()}: {first.message}".splitlines()[0]
        if len(c.problems) > 1:
            message += f" (and {_plural(len(c.problems) - 1, 'more error')})"
        body = "\n".join(p.text() for p in c.problems)
        out += [case + ">",
                f"      <{tag} type={quoteattr(first.code)} message={quoteattr(_xml_text(message))}>"
                f"{escape(_xml_text(body))}</{tag}>",
                "    </testcase>"]
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out)


def escape(s: str) -> str:
    """Text as XML character data (written here: xml.sax.saxutils would import urllib and
    http for the two functions, a tenth of the time `ngc validate` takes)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(s: str) -> str:
    """Text as a double-quoted XML attribute value (newlines and tabs kept as such)."""
    return '"' + escape(s).replace('"', "&quot;").replace("\n", "&#10;").replace(
        "\r", "&#13;").replace("\t", "&#9;") + '"'


def _xml_text(s: str) -> str:
    """Drop the characters XML 1.0 cannot hold (a file's control characters can end up in a
    message); tabs and newlines stay."""
    return "".join(ch for ch in s if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")


# ---------------------------------------------------------------------------------------------
# SARIF 2.1.0: one run, a rule per code, a result per problem


def sarif(checked: Sequence[Checked], version: str = "") -> dict:
    codes = list(CODES)
    results = []
    for p in all_problems(checked):
        message = p.message + (f"\nhint: {p.hint}" if p.hint else "")
        result = {"ruleId": p.code, "ruleIndex": codes.index(p.code), "level": "error",
                  "message": {"text": message}}
        location = _sarif_location(p)
        if location is not None:
            result["locations"] = [location]
        if p.path:
            result["properties"] = {"fieldPath": p.path}
        results.append(result)
    driver = {"name": "ngcspec",
              "rules": [{"id": code, "name": _rule_name(code),
                         "shortDescription": {"text": desc},
                         "defaultConfiguration": {"level": "error"}}
                        for code, desc in CODES.items()]}
    if version:
        driver["version"] = version
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints",
                      "results": results}]}


def _rule_name(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("-"))


def _sarif_location(p: Problem) -> dict | None:
    """A physical location: the file as a URI relative to the working directory (the
    checkout, in CI) where it lies below it, else a file: URI; none for standard input and
    the command line, which are not files."""
    if p.file.startswith("<") and p.file.endswith(">"):
        return None
    artifact = {"uri": _uri(p.file)}
    physical: dict = {"artifactLocation": artifact}
    if p.line is not None:
        region = {"startLine": p.line}
        if p.column is not None:
            region["startColumn"] = p.column
        physical["region"] = region
    return {"physicalLocation": physical}


def _uri(file: str) -> str:
    from urllib.parse import quote

    path = PurePath(file)
    if path.is_absolute():
        try:
            rel = os.path.relpath(file)
        except ValueError:
            rel = ".."
        if rel.startswith(".."):
            return PurePath(os.path.abspath(file)).as_uri()
        path = PurePath(rel)
    return quote(path.as_posix())
