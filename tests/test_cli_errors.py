"""User-facing errors through the real ``ngc`` command.

Every file in ``tests/malformed/`` is a circuit with one kind of mistake. For each, the CLI must
exit with status 1, print no traceback, and name the offending place (``file:line:column``,
field path) with a message that says what was expected and, where a near name exists, suggests
it. Line and column numbers below are those of the offending text in each file.

The whole directory is validated once through a real ``ngc`` subprocess (``--format json``,
which also proves that one call reports the errors of every file); each case is then also
checked in-process through ``main()`` in the text format people read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MALFORMED = Path(__file__).resolve().parent / "malformed"
NGC = str(Path(sys.executable).with_name("ngc"))
MARKER = "ngcspec_pwned_marker"   # what python_tag.yaml would create if its tag were executed


@dataclass(frozen=True)
class Case:
    line: int
    col: int | None
    path: str
    words: tuple[str, ...]                      # all in the message (case-insensitive)
    hint: tuple[str, ...] = ()                  # all in the hint
    more: tuple[tuple[int, str], ...] = field(default=())   # other problems: (line, path)


CASES: dict[str, Case] = {
    # -- YAML itself ----------------------------------------------------------------------
    # (a syntax error's path is the field whose text was being read: the value of 'schedule',
    # or, for the tab, the mapping of the line before)
    "yaml_syntax.yaml": Case(6, 11, "schedule", ("invalid yaml", "file ends", "list '['", "closed"),
                             ("']'",)),
    "tabs.yaml": Case(6, 1, "components", ("invalid yaml", "'\\t'"), ("spaces, not tabs",)),
    "empty.yaml": Case(1, 1, "", ("file is empty",), ("ngcspec: 1",)),
    "top_level_list.yaml": Case(2, 1, "", ("mapping of fields", "ngcspec, name, components")),
    "duplicate_key.yaml": Case(6, 3, "components.x", ("duplicate key 'x'",), ("line 4",)),
    "python_tag.yaml": Case(3, 7, "name", ("!!python/object/apply:os.system", "not allowed"),
                            ("plain data",)),
    "multi_document.yaml": Case(6, 1, "", ("one yaml document", "second one"), ("---",)),
    "alias_bomb.yaml": Case(1, 1, "", ("more than 500,000 values", "aliases"), ()),
    # -- form: kinds, parameters, types, ranges -------------------------------------------
    "unknown_kind.yaml": Case(5, 13, "components.W.kind", ("unknown component kind 'HebianSynapse'",),
                              ("did you mean 'HebbianSynapse'?",)),
    "unknown_param.yaml": Case(8, 5, "components.W.etta", ("unknown field 'etta'",),
                               ("did you mean 'eta'?",)),
    "misspelt_required.yaml": Case(4, 35, "components.x.tau_mm", ("unknown field 'tau_mm'",),
                                   ("did you mean 'tau_m'?", "required")),
    "wrong_type.yaml": Case(7, 12, "components.x.tau_m", ("expected a number", "got 'fast'")),
    "negative_units.yaml": Case(4, 32, "components.x.n_units", ("must be greater than 0", "got -5")),
    "dt_zero.yaml": Case(3, 5, "dt", ("must be greater than 0", "got 0")),
    "nan_value.yaml": Case(4, 43, "components.x1.tau_m", ("nan", "not a valid value")),
    "spec_version.yaml": Case(1, 10, "ngcspec", ("unsupported format version", "got 2", "ngcspec: 1")),
    "missing_required.yaml": Case(2, 1, "name", ("missing required field 'name'",),
                                  more=((2, "components"),)),
    "unknown_top_field.yaml": Case(6, 1, "wire", ("unknown field 'wire'",), ("did you mean 'wires'?",)),
    "unknown_schedule_entry.yaml": Case(7, 5, "schedule[1]", ("unknown schedule entry 'advanse'",
                                                              "expected 'reset', 'advance', {advance: n}"),
                                        ("did you mean 'advance'?",)),
    "clamp_list.yaml": Case(6, 9, "clamps.x1.j", ("a clamp is a data field", "not a list"),
                            ("write a list as {constant: [...]}",)),
    "several_errors.yaml": Case(3, 5, "dt", ("must be greater than 0", "got -1"),
                                more=((5, "components.x1.kind"), (6, "components.W1.eta_"))),
    # -- names, wires, roles, shapes ------------------------------------------------------
    "wire_unknown_component.yaml": Case(9, 19, "wires[1]", ("unknown component 'y2'",),
                                        ("did you mean 'y1'?",)),
    "wire_unknown_compartment.yaml": Case(9, 5, "wires[1]", ("W1 (DenseSynapse) has no compartment 'output'",),
                                          ("did you mean 'outputs'?",)),
    "wire_to_output.yaml": Case(9, 19, "wires[1]", ("y1.zF is an output compartment", "must be input"),
                                ("j, j_td",)),
    "wire_syntax.yaml": Case(9, 5, "wires[1]", ("cannot read wire 'W1.outputs => y1.j'",
                                                "'=>' is not an arrow", "use '->'"),
                             ("src.compartment -> dst.compartment",)),
    "wire_shape_mismatch.yaml": Case(9, 5, "wires[1]", ("shape mismatch", "(batch, 3)", "(batch, 5)")),
    "undelayed_loop.yaml": Case(12, 5, "wires[3]", ("loop of undelayed wires", "x1 -> W1 -> y1 -> V1 -> x1",
                                                    "wire #2: y1.zF -> V1.inputs"),
                                ("delay one wire", "'V1.outputs ~> x1.j'")),
    "order_contradicts_wire.yaml": Case(10, 13, "order[1]", ("runs y1 before W1", "wire #1 'W1.outputs -> y1.j'",
                                                             "(line 9)"),
                                        ("move W1 before y1", "'W1.outputs ~> y1.j'")),
    "evolve_static.yaml": Case(12, 14, "schedule[2].evolve[0]", ("W1 is a DenseSynapse", "no plasticity"),
                               ("plastic components here: H1",)),
    "evolve_tied.yaml": Case(12, 17, "schedule[2].evolve[1]", ("E.weights is tied to W.weights",
                                                               "overwritten"), ("evolve W instead",)),
    "delayed_evolve_input.yaml": Case(10, 5, "wires[2]", ("read only by plasticity", "'~>'"),
                                      ("x.zF -> W.pre",)),
    "evolve_unknown.yaml": Case(12, 14, "schedule[2].evolve[0]", ("unknown component 'W2'",),
                                ("did you mean 'W1'?",)),
    "tie_wrong_shape.yaml": Case(8, 10, "components.E1.tie", ("E1.weights has shape (3, 4)",
                                                              "W1.weights is (4, 3)"),
                                 ("transpose: true",)),
    "absurd_size.yaml": Case(5, 7, "components.W1", ("W1 is too large", "weights (100,000,000,000,000)",
                                                     "2^31"), ("reduce the sizes",)),
    # -- data and clamps ------------------------------------------------------------------
    "missing_data_file.yaml": Case(4, 17, "data.train.file", ("data file not found", "no_such_samples.npz"),
                                   ("folder of the circuit file",)),
    "unknown_dataset.yaml": Case(4, 20, "data.train.dataset", ("unknown data set 'digitz'",),
                                 ("did you mean 'digits'?",)),
    "unknown_data_field.yaml": Case(8, 9, "clamps.x1.j", ("data 'train' has no field 'xs'",),
                                    ("did you mean 'x'?",)),
    "batch_too_large.yaml": Case(4, 54, "data.train.batch_size", ("batch_size 5000", "larger than the 1437 samples"),
                                 ("at most 1437",)),
    "clamp_wired_input.yaml": Case(12, 9, "clamps.y1.j", ("driven by wire #1 'W1.outputs -> y1.j'",
                                                          "only unwired inputs can be clamped")),
    "clamp_wrong_shape.yaml": Case(11, 20, "clamps.x1.j.constant", ("constant of shape (3,)", "x1.j (4,)")),
    "clamp_data_shape.yaml": Case(8, 9, "clamps.x1.j", ("'train.x' is (64,) per sample", "x1.j is (10,)")),
    "nan_init_file.yaml": Case(8, 16, "components.W1.init.weights", ("nan_weights.csv", "nan or inf",
                                                                     "index [1, 1]"), ("finite",)),
}

TRACEBACK = "Traceback (most recent call last)"


def _files() -> list[Path]:
    return sorted(MALFORMED.glob("*.yaml"))


def _text(p: dict) -> str:
    return (p["message"] + "\n" + (p.get("hint") or "")).lower()


def _check(case: Case, problems: list[dict], name: str) -> None:
    assert problems, f"{name}: no problem reported"
    first = problems[0]
    assert (first["line"], first["path"]) == (case.line, case.path), (name, first)
    if case.col is not None:
        assert first["column"] == case.col, (name, first)
    for w in case.words:
        assert w.lower() in first["message"].lower(), (name, w, first["message"])
    for w in case.hint:
        assert w.lower() in (first.get("hint") or "").lower(), (name, w, first.get("hint"))
    found = {(p["line"], p["path"]) for p in problems}
    for line, path in case.more:
        assert (line, path) in found, (name, line, path, found)
    assert len(problems) == 1 + len(case.more), (name, problems)


def _ngc(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([NGC, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_there_are_enough_cases_and_each_file_has_one():
    names = {p.name for p in _files()}
    assert names == set(CASES), (names ^ set(CASES))
    assert len(CASES) >= 25


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """One real `ngc validate --format json` over every malformed file, run in an empty folder."""
    cwd = tmp_path_factory.mktemp("cwd")
    t0 = time.perf_counter()
    proc = _ngc("validate", "--format", "json", *map(str, _files()), cwd=cwd)
    return proc, cwd, time.perf_counter() - t0


@pytest.mark.slow
def test_subprocess_json_reports_every_error_of_every_file(json_run):
    proc, cwd, seconds = json_run
    assert proc.returncode == 1, proc.stderr
    assert TRACEBACK not in proc.stderr and TRACEBACK not in proc.stdout
    problems = json.loads(proc.stdout)
    by_file: dict[str, list[dict]] = {}
    for p in problems:
        assert set(p) == {"message", "file", "line", "column", "path", "hint", "code"}
        by_file.setdefault(Path(p["file"]).name, []).append(p)
    assert set(by_file) == set(CASES), "every file must be reported, not only the first"
    for name, case in CASES.items():
        _check(case, by_file[name], name)
    # an absurd size is refused from the numbers alone: nothing is allocated, nothing hangs
    assert seconds < 60


def test_the_python_tag_was_not_executed(json_run, tmp_path):
    proc, cwd, _ = json_run
    assert not (cwd / MARKER).exists()
    # ... and the marker is a real witness: an unsafe loader does run the command in the file.
    import yaml
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        try:
            yaml.unsafe_load((MALFORMED / "python_tag.yaml").read_text())
        except Exception:
            pass
    finally:
        os.chdir(here)
    assert (tmp_path / MARKER).exists()


def _main(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    from ngcspec.cli.app import main

    monkeypatch.setattr(sys, "argv", ["ngc", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_format_names_file_line_column_and_path(name, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    case = CASES[name]
    path = str(MALFORMED / name)
    code, out, err = _main(["validate", path], capsys, monkeypatch)
    assert code == 1
    assert TRACEBACK not in out + err
    where = f"{path}:{case.line}" + (f":{case.col}" if case.col is not None else "")
    head = f"{where}: error" + (f" at {case.path}" if case.path else "") + ": "
    assert head in out, (head, out)
    for w in case.words + case.hint:
        assert w.lower() in out.lower(), (w, out)
    if case.hint:
        assert "\n    hint: " in out
    assert "1 file, " in err and "(1 file with errors)" in err


def test_github_annotations(capsys, monkeypatch, tmp_path):
    files = [str(MALFORMED / n) for n in ("unknown_kind.yaml", "wire_unknown_compartment.yaml",
                                          "undelayed_loop.yaml")]
    monkeypatch.chdir(tmp_path)   # outside the checkout: paths stay as given
    code, out, err = _main(["validate", "--format", "github", *files], capsys, monkeypatch)
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 3, out   # a multi-line message stays on one annotation line
    pattern = re.compile(r"^::error file=([^,]+),line=(\d+),col=(\d+),title=([^:]*)::(.+)$")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m[1], int(m[2]), int(m[3])) for m in parsed] == [
        (files[0], 5, 13), (files[1], 9, 5), (files[2], 12, 5)]
    assert "did you mean 'outputs'?" in parsed[1][5]
    assert "%0A" in parsed[2][5]   # newlines of the loop listing are escaped
    assert "ngcspec wires[1]" in parsed[1][4]
    # in CI the working directory is the checkout: annotations name files relative to it
    monkeypatch.chdir(MALFORMED.parent)
    code, out, err = _main(["validate", "--format", "github", files[0]], capsys, monkeypatch)
    assert out.startswith("::error file=malformed/unknown_kind.yaml,line=5,col=13,"), out


def _valid_circuit(folder: Path) -> Path:
    p = folder / "ok.yaml"
    p.write_text(textwrap.dedent("""\
        ngcspec: 1
        name: ok
        components:
          x1: {kind: RateCell, n_units: 4, tau_m: 0.0}
          W1: {kind: HebbianSynapse, shape: [4, 3], eta: 0.01}
          y1: {kind: RateCell, n_units: 3, tau_m: 10.0}
        wires:
          - x1.zF -> W1.inputs
          - W1.outputs -> y1.j
          - x1.zF -> W1.pre
          - y1.zF -> W1.post
        clamps:
          x1.j: {constant: [1.0, 0.0, 0.5, 0.25]}
        schedule: [reset, {advance: 3}, {evolve: [W1]}]
        """))
    return p


def test_valid_and_invalid_files_together(tmp_path, capsys, monkeypatch):
    ok = _valid_circuit(tmp_path)
    bad = [str(MALFORMED / "unknown_kind.yaml"), str(MALFORMED / "missing_required.yaml")]
    code, out, err = _main(["validate", str(ok), *bad], capsys, monkeypatch)
    assert code == 1
    assert str(ok) not in out
    assert out.count("error at") == 3   # every error of every bad file, not only the first
    assert "3 files, 3 errors (2 files with errors)" in err
    code, out, err = _main(["validate", str(ok)], capsys, monkeypatch)
    assert (code, out) == (0, "")
    assert "1 file, 0 errors" in err
    code, out, err = _main(["validate", "--format", "json", str(ok)], capsys, monkeypatch)
    assert code == 0 and json.loads(out) == []


def test_files_that_cannot_be_read(tmp_path, capsys, monkeypatch):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"ngcspec: 1\nname: \xff\xfe\n")
    control = tmp_path / "control.yaml"
    control.write_text("ngcspec: 1\nname: a\x01b\n")
    missing = tmp_path / "nowhere.yaml"
    code, out, err = _main(["validate", str(binary), str(control), str(missing), str(tmp_path)],
                           capsys, monkeypatch)
    assert code == 1 and TRACEBACK not in out + err
    assert f"{binary}:2:7: error: not a UTF-8 text file (byte 0xff" in out
    assert f"{control}:2:8: error: the control character #x0001 is not allowed" in out
    assert f"{missing}: error: no such file" in out
    # a folder is searched for circuit files: those named already are not checked twice
    assert out.count(f"{binary}:2:7: error") == 1 and out.count(f"{control}:2:8: error") == 1


def test_usage_errors_exit_2_without_traceback(capsys, monkeypatch):
    code, out, err = _main(["validate", "--format", "xml", str(MALFORMED / "empty.yaml")], capsys, monkeypatch)
    assert code == 2 and "--format 'xml': use text, json, github, junit or sarif" in err
    code, out, err = _main(["validate"], capsys, monkeypatch)
    assert code == 2 and "Missing argument" in err and TRACEBACK not in err
    code, out, err = _main(["no-such-command"], capsys, monkeypatch)
    assert code == 2 and "No such command" in err and TRACEBACK not in err


def test_a_bug_is_reported_without_traceback_and_other_files_are_still_checked(capsys, monkeypatch, tmp_path):
    import ngcspec.resolve

    real = ngcspec.resolve.resolve_file

    def flaky(path, *a, **k):
        if Path(path).name == "ok.yaml":
            raise ZeroDivisionError("simulated bug")
        return real(path, *a, **k)

    monkeypatch.setattr(ngcspec.resolve, "resolve_file", flaky)
    ok = _valid_circuit(tmp_path)
    code, out, err = _main(["validate", str(ok), str(MALFORMED / "unknown_kind.yaml")], capsys, monkeypatch)
    assert code == 3
    assert TRACEBACK not in out + err
    assert "internal error: ZeroDivisionError: simulated bug" in out
    assert "did you mean 'HebbianSynapse'?" in out   # the next file was still checked
    monkeypatch.setenv("NGCSPEC_DEBUG", "1")
    code, out, err = _main(["validate", str(ok)], capsys, monkeypatch)
    assert code == 3 and TRACEBACK in out   # the traceback only on request
    monkeypatch.delenv("NGCSPEC_DEBUG")

    def exhausted(path, *a, **k):
        raise MemoryError("RESOURCE_EXHAUSTED: cannot allocate 8.0TiB")

    monkeypatch.setattr(ngcspec.resolve, "resolve_file", exhausted)
    code, out, err = _main(["graph", str(ok)], capsys, monkeypatch)
    assert code == 1 and TRACEBACK not in out + err
    assert "out of memory" in err and "reduce the sizes" in err


@pytest.mark.slow
def test_run_with_an_unknown_set_parameter_fails_at_validation(tmp_path):
    ok = _valid_circuit(tmp_path)
    proc = _ngc("run", str(ok), "--set", "W1.etta=0.1", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert proc.returncode == 1
    assert TRACEBACK not in proc.stderr + proc.stdout
    assert f"{ok}:5:7: error at components.W1.etta: unknown field 'etta'" in proc.stderr
    assert "--set W1.etta=0.1" in proc.stderr and "did you mean 'eta'?" in proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_run_fails_before_compiling_or_importing_jax(tmp_path):
    """`ngc run` validates first: a bad --set never reaches the compiler (JAX not even imported)."""
    ok = _valid_circuit(tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from ngcspec.cli.app import main
        for sets in (["W1.etta=0.1"], ["W2.eta=0.1"], ["W1.eta=fast"]):
            sys.argv = ["ngc", "run", {str(ok)!r}, "--out", {str(tmp_path / 'runs')!r}]
            for s in sets:
                sys.argv += ["--set", s]
            try:
                main()
            except SystemExit as e:
                print("exit", e.code)
        print("jax imported:", any(m == "jax" or m.startswith("jax.") for m in sys.modules))
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == ["exit 1", "exit 1", "exit 1", "jax imported: False"], proc
    assert TRACEBACK not in proc.stderr
    assert "'W2' is neither a component nor a top-level field" in proc.stderr
    assert "did you mean 'W1'?" in proc.stderr
    assert "expected a number, got 'fast' (value set on the command line: --set W1.eta='fast')" in proc.stderr


@pytest.mark.slow
def test_validation_never_imports_jax(tmp_path):
    ok = _valid_circuit(tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from ngcspec.errors import CircuitError
        from ngcspec.resolve import resolve_file
        from ngcspec.schema import schema_text
        resolve_file({str(ok)!r})
        resolve_file({str(MALFORMED.parent.parent / 'circuits' / 'pc_digits_classifier.yaml')!r})
        for name in {[p.name for p in _files()]!r}:
            try:
                resolve_file({str(MALFORMED)!r} + "/" + name)
            except CircuitError:
                pass
        schema_text()
        from ngcspec.cli.app import main
        sys.argv = ["ngc", "validate", {str(ok)!r}]
        try:
            main()
        except SystemExit as e:
            print("exit", e.code)
        print(sorted(m for m in sys.modules if m == "jax" or m.startswith("jax.")))
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["exit 0", "[]"], proc.stdout


def test_set_errors_point_at_the_command_line(tmp_path):
    from ngcspec import CircuitError
    from ngcspec.resolve import resolve_file

    ok = _valid_circuit(tmp_path)
    with pytest.raises(CircuitError) as exc:
        resolve_file(ok, overrides={"y1.n_units": -3})
    (p,) = exc.value.problems
    assert (p.line, p.path) == (6, "components.y1.n_units")
    assert "must be greater than 0, got -3 (value set on the command line: --set y1.n_units=-3)" in p.message
    with pytest.raises(CircuitError) as exc:
        resolve_file(ok, overrides={"W1..eta": 1})
    assert exc.value.problems[0].file == "<command line>"


@pytest.mark.slow
def test_run_on_fewer_cpus(tmp_path):
    ok = _valid_circuit(tmp_path)
    proc = _ngc("run", str(ok), "--cpus", "0", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert proc.returncode == 2 and TRACEBACK not in proc.stderr + proc.stdout
    assert "--cpus must be between 1 and" in proc.stderr
    assert not (tmp_path / "runs").exists()
    proc = _ngc("run", str(ok), "--cpus", "1", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (summary,) = (tmp_path / "runs").glob("*/*/summary.json")
    assert json.loads(summary.read_text())["versions"]["cpus"] == 1
