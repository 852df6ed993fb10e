"""``ngc validate``: check circuit files the way linters check code, for people and for CI.

Paths are taken as linters take them: files, folders (searched recursively for ``*.yaml`` and
``*.yml`` files that carry the ``ngcspec:`` key, so unrelated YAML is skipped), patterns
quoted so the shell leaves them alone (``'circuits/**/*.yaml'``), and ``-`` for standard
input. Named files are always checked (``--circuits-only`` skips those without the key, for
hooks that pass every YAML file). Reports go to standard output alone, so they can be piped;
``--output FILE`` writes the report there and shows the text on the terminal. Plain
validation never imports JAX; ``--deep`` also builds and traces the program.
"""

from __future__ import annotations

import os
import re
import sys
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import List, Optional

import typer

from ngcspec.cli.app import UsageError, _internal_error, app, err
from ngcspec.errors import CircuitError, NgcspecError, Problem
from ngcspec.reports import FORMATS, Checked, render, summary

STDIN = "-"
SUFFIXES = (".yaml", ".yml")
_CIRCUIT_KEY = re.compile(rb"^ngcspec[ \t]*:", re.MULTILINE)   # the version key, at top level
_PATTERN_CHARS = re.compile(r"[*?[]")


@app.command()
def validate(
    paths: List[str] = typer.Argument(
        ..., help="files, folders (searched for YAML files with an 'ngcspec:' key), quoted "
                  "glob patterns ('circuits/**/*.yaml'), or - for standard input"),
    fmt: str = typer.Option("text", "--format", "-f",
                            help="text, json, github (annotations), junit (XML) or sarif"),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="write the report to this file; the terminal gets the text"),
    exclude: List[str] = typer.Option(
        [], "--exclude", "-e", help="skip paths matching this glob (a name, a folder or a whole "
                                    "path; may be repeated)"),
    circuits_only: bool = typer.Option(
        False, "--circuits-only", help="skip named files that have no 'ngcspec:' key (for hooks "
                                       "that pass every YAML file)"),
    stdin_name: str = typer.Option("<stdin>", "--stdin-name",
                                   help="file name to report for standard input"),
    deep: bool = typer.Option(
        False, "--deep", help="also build the program and trace it abstractly (imports JAX; "
                              "runs no step) and estimate its memory per phase"),
) -> None:
    """Check circuit files; report every error with file:line:column (exit 0 all valid, 1 not)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    if output is not None and (output.is_dir() or not output.parent.is_dir()):
        raise UsageError(f"--output {output}: " + ("is a folder; give a file name" if
                         output.is_dir() else f"the folder {output.parent} does not exist"))
    targets, notes = collect(paths, exclude, circuits_only)
    if targets.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given once")
    checked = [check(t, deep=deep, stdin_name=stdin_name) for t in targets]
    report = render(fmt, checked, version=_version() if fmt == "sarif" else "")
    if output is None:
        sys.stdout.write(report)
    else:
        _write(output, report)
        sys.stdout.write(render("text", checked))
    for note in notes:
        err.print(f"note: {note}", markup=False)
    err.print(summary(checked) + (f"; report written to {output}" if output else ""), markup=False)
    internal = any(c.internal for c in checked)
    raise typer.Exit(3 if internal else 1 if any(not c.ok for c in checked) else 0)


# ---------------------------------------------------------------------------------------------
# which files


# Complexity over 10 on purpose: one branch per kind of path a linter takes (file, folder, glob,
# '-', exclusion); splitting it would scatter the order-and-no-repeats rule.
def collect(paths: list[str], exclude: list[str], circuits_only: bool = False  # noqa: C901
            ) -> tuple[list[str | Path], list[str]]:
    """The files to check, in order and without repeats, and notes for the user (folders that
    held no circuit). A pattern that matches nothing is a usage error: a typo in CI must not
    pass for a clean check."""
    found: list[str | Path] = []
    notes: list[str] = []
    seen: set = set()

    def add(path: Path, named: bool) -> bool:
        """Take ``path`` unless excluded or not a circuit; whether it is one to check."""
        key = os.path.realpath(path)
        if _excluded(path, exclude):
            return False
        if key not in seen:
            if (not named or circuits_only) and path.is_file() and not is_circuit(path):
                return False
            seen.add(key)
            found.append(path)
        return True

    for arg in paths:
        if arg == STDIN:
            found.append(STDIN)
            continue
        path = Path(arg)
        if path.is_dir():
            taken = [add(f, named=False) for f in _walk(path, exclude)]
            if not any(taken):
                notes.append(f"no circuit files (YAML with an 'ngcspec:' key) in {arg}")
        elif path.exists() or not _PATTERN_CHARS.search(arg):
            add(path, named=True)   # a missing named file is reported as a problem
        else:
            import glob

            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                raise UsageError(f"the pattern {arg!r} matches no file")
            for m in map(Path, matches):
                for f in _walk(m, exclude) if m.is_dir() else [m]:
                    if f.suffix in SUFFIXES or not m.is_dir():
                        add(f, named=False)
    return found, notes


def _walk(folder: Path, exclude: list[str]):
    """YAML files below ``folder``, sorted, skipping hidden and excluded folders."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not _excluded(Path(root, d), exclude))
        for name in sorted(files):
            if name.endswith(SUFFIXES):
                yield Path(root, name)


def _excluded(path: Path, patterns: list[str]) -> bool:
    """Whether a pattern matches the path as written, its name, or a folder it lies in."""
    if not patterns:
        return False
    text = path.as_posix()
    for pat in patterns:
        pat = pat.rstrip("/") or pat
        if fnmatch(text, pat) or fnmatch(path.name, pat) or \
                any(fnmatch(part, pat) for part in path.parts[:-1]) or \
                text.startswith(pat + "/") or fnmatch(text, pat + "/*"):
            return True
    return False


def is_circuit(path: Path) -> bool:
    """Whether a file carries the ``ngcspec:`` version key at top level (block style)."""
    try:
        with open(path, "rb") as fh:
            return _CIRCUIT_KEY.search(fh.read()) is not None
    except OSError:
        return True   # unreadable: let the check report why


# ---------------------------------------------------------------------------------------------
# checking one file


def check(target: str | Path, deep: bool = False, stdin_name: str = "<stdin>") -> Checked:
    """Validate one file (or standard input) into a :class:`Checked`; never raises for a
    problem in the file, and reports a bug in ngcspec as an ``internal-error`` problem."""
    import ngcspec.resolve as resolve_mod

    name = stdin_name if target == STDIN else str(target)
    start = time.perf_counter()
    problems: list[Problem] = []
    notes: list[str] = []
    try:
        src = None
        if target == STDIN:
            from ngcspec.yamlsrc import load_yaml

            base = Path(stdin_name).resolve().parent if stdin_name != "<stdin>" else Path.cwd()
            src = load_yaml(_read_stdin(name), name)
            resolved = resolve_mod.resolve(src, base)
        else:
            resolved = resolve_mod.resolve_file(Path(target))
        if deep:
            from ngcspec.cli.app import resume_collection
            from ngcspec.deepcheck import deep_check

            resume_collection()         # tracing makes cyclic garbage

            found, notes = deep_check(resolved, src)
            problems += found
    except CircuitError as exc:
        problems += exc.problems
    except NgcspecError as exc:
        problems.append(Problem(str(exc), name))
    except Exception as exc:  # a bug in ngcspec: report it, and still check the other files
        problems.append(Problem(_internal_error(exc), name, code="internal-error"))
    return Checked(name, tuple(problems), time.perf_counter() - start, tuple(notes))


def _read_stdin(name: str) -> str:
    """Standard input as text; bytes that are not UTF-8 are a located problem, as in a file."""
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CircuitError([Problem(f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x}: "
                                    f"{exc.reason})", name, line, col, "",
                                    "save the file as UTF-8")]) from None


def _version() -> str:
    from ngcspec import __version__

    return __version__


def _write(path: Path, text: str) -> None:
    """Write the report through a temporary file and a rename: never half a report."""
    from ngcspec.rundir import atomic_write_text

    atomic_write_text(path, text)
