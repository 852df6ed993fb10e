"""The snippets of docs/ci.md and the files CI systems read (.pre-commit-hooks.yaml,
action.yml), exercised with the real tools where they exist here: pre-commit itself in a
temporary git repository, check-jsonschema with its copies of the GitHub Actions, GitHub
workflow and GitLab CI schemas, and the scripts of the action and the snippets run by bash
as a runner would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ci.md"
BIN = Path(sys.executable).parent
TRACEBACK = "Traceback (most recent call last)"

BROKEN_LINE = ("::error file=circuits/broken.yaml,line=5,col=13,title=ngcspec components.W.kind::"
               "unknown component kind 'HebianSynapse' (hint: did you mean 'HebbianSynapse'?)")


def _snippet(name: str) -> str:
    """The fenced block that follows ``<!-- snippet: NAME -->`` in docs/ci.md."""
    m = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert m, name
    return m.group(1)


def _env() -> dict:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("NGCSPEC_DEBUG", None)
    return env


def _project(folder: Path, broken: bool = True) -> Path:
    """A checkout: two circuits (one broken if asked), unrelated YAML, a README."""
    (folder / "circuits").mkdir(parents=True)
    shutil.copy(ROOT / "circuits" / "lif_fI.yaml", folder / "circuits" / "lif_fI.yaml")
    if broken:
        shutil.copy(ROOT / "tests" / "malformed" / "unknown_kind.yaml", folder / "circuits" / "broken.yaml")
    (folder / ".github" / "workflows").mkdir(parents=True)
    (folder / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (folder / "config.yaml").write_text("name: not a circuit\n")
    (folder / "README.md").write_text("project\n")
    return folder


def _check_jsonschema(builtin: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", builtin, str(path)],
                          capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# codes documented


def test_the_codes_table_of_the_docs_is_the_codes_of_the_code():
    from ngcspec.errors import CODES

    table = DOC.read_text().split("<!-- codes: start -->")[1].split("<!-- codes: end -->")[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+) \|$", table, re.M)
    assert dict(rows) == CODES


# ---------------------------------------------------------------------------------------------
# pre-commit


def test_published_hook_and_the_snippets_are_valid_for_pre_commit(tmp_path):
    pre_commit = str(BIN / "pre-commit")
    proc = subprocess.run([pre_commit, "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("pre-commit", "pre-commit-local"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(_snippet(name))
        proc = subprocess.run([pre_commit, "validate-config", str(cfg)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (name, proc.stdout + proc.stderr)
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "python" and hook["id"] == "ngc-validate"
    published = yaml.safe_load(_snippet("pre-commit"))["repos"][0]["hooks"][0]
    assert published["id"] == hook["id"]
    assert re.search(published["files"], "circuits/a.yaml") and \
        not re.search(published["files"], "other/a.yaml")
    # the local variant runs the same command on the same files
    local = yaml.safe_load(_snippet("pre-commit-local"))["repos"][0]["hooks"][0]
    assert local["language"] == "system"
    for key in ("id", "entry", "files", "types"):
        assert local[key] == hook[key], key


@pytest.mark.slow
def test_pre_commit_blocks_a_commit_of_a_broken_circuit(tmp_path):
    """The real pre-commit in a git repository, with the documented local hook."""
    repo = _project(tmp_path / "repo")
    env = {**_env(), "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(tmp_path)}

    def run(*cmd):
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=120)

    (repo / ".pre-commit-config.yaml").write_text(_snippet("pre-commit-local"))
    assert run("git", "init", "-q").returncode == 0
    assert run(str(BIN / "pre-commit"), "install").returncode == 0
    assert run("git", "add", ".").returncode == 0
    proc = run("git", "commit", "-q", "-m", "circuits")
    assert proc.returncode != 0   # the hook stopped the commit
    out = proc.stdout + proc.stderr
    assert TRACEBACK not in out
    assert ("circuits/broken.yaml:5:13: error at components.W.kind: unknown component kind "
            "'HebianSynapse'\n    hint: did you mean 'HebbianSynapse'?") in out
    # the workflow file and config.yaml were handed over and skipped: two circuits counted
    assert "2 files, 1 error (1 file with errors)" in out
    assert run("git", "rev-parse", "--verify", "HEAD").returncode != 0   # nothing committed
    (repo / "circuits" / "broken.yaml").write_text(
        (repo / "circuits" / "broken.yaml").read_text().replace("HebianSynapse", "HebbianSynapse"))
    assert run("git", "add", ".").returncode == 0
    proc = run("git", "commit", "-q", "-m", "circuits")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ngc validate" in proc.stdout + proc.stderr and "Passed" in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# GitHub


def _action_script(step_name: str) -> tuple[str, dict]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    (step,) = [s for s in action["runs"]["steps"] if s.get("name") == step_name]
    assert step["shell"] == "bash"
    return step["run"], step.get("env", {})


def _runner_env(templates: dict, inputs: dict) -> dict:
    """What the runner puts in a step's environment: ${{ inputs.X }} with the input's value."""
    out = {}
    for key, template in templates.items():
        m = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", template)
        assert m, template
        out[key] = inputs[m.group(1)]
    return out


@pytest.mark.slow
def test_action_yml_is_valid_and_its_validate_step_prints_the_annotations(tmp_path):
    proc = _check_jsonschema("vendor.github-actions", ROOT / "action.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    defaults = {k: v.get("default", "") for k, v in action["inputs"].items()}
    script, templates = _action_script("ngc validate")
    checkout = _project(tmp_path / "checkout")

    def step(**inputs):
        env = {**_env(), **_runner_env(templates, {**defaults, **inputs})}
        return subprocess.run(["bash", "-e", "-c", script], cwd=checkout, env=env,
                              capture_output=True, text=True, timeout=120)

    proc = step()   # paths: '.'
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [BROKEN_LINE]
    assert proc.stderr.strip() == "2 files, 1 error (1 file with errors)"
    # a pattern reaches ngc unexpanded; options pass through
    proc = step(paths="circuits/*.yaml", args="--exclude broken.yaml")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr.strip() == "1 file, 0 errors"
    proc = step(paths="circuits/*.yml")
    assert proc.returncode == 2 and "matches no file" in proc.stderr
    # the install step installs what it is given, else the action's own folder
    install, install_env = _action_script("Install ngcspec")
    assert "${NGC_INSTALL:-$GITHUB_ACTION_PATH}" in install and \
        install_env == {"NGC_INSTALL": "${{ inputs.install }}"}


@pytest.mark.slow
def test_documented_github_workflow_is_valid_and_its_sarif_steps_work(tmp_path):
    from test_validate_ci import _sarif_validator

    wf = tmp_path / "ngcspec.yml"
    wf.write_text(_snippet("github-workflow"))
    proc = _check_jsonschema("vendor.github-workflows", wf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = yaml.safe_load(wf.read_text())
    steps = doc["jobs"]["code-scanning"]["steps"]
    upload = steps[-1]
    sarif_name = upload["with"]["sarif_file"]
    checkout = _project(tmp_path / "checkout")
    for s in steps:
        if "run" in s and s["run"].startswith("ngc "):
            proc = subprocess.run(["bash", "-c", s["run"]], cwd=checkout, env=_env(),
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 1 and TRACEBACK not in proc.stderr
            # the log shows the text, the file holds the report
            assert proc.stdout.startswith("circuits/broken.yaml:5:13: error")
    report = json.loads((checkout / sarif_name).read_text())
    assert not list(_sarif_validator().iter_errors(report))
    (result,) = report["runs"][0]["results"]
    assert result["ruleId"] == "unknown-kind"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "circuits/broken.yaml"},
        "region": {"startLine": 5, "startColumn": 13}}


# ---------------------------------------------------------------------------------------------
# GitLab


@pytest.mark.slow
def test_documented_gitlab_job_is_valid_and_writes_the_junit_report(tmp_path):
    from junitparser import Failure, JUnitXml

    ci = tmp_path / ".gitlab-ci.yml"
    ci.write_text(_snippet("gitlab-ci"))
    proc = _check_jsonschema("vendor.gitlab-ci", ci)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = yaml.safe_load(ci.read_text())["validate-circuits"]
    checkout = _project(tmp_path / "checkout")
    for line in job["script"]:
        if line.startswith("ngc "):
            proc = subprocess.run(["bash", "-c", line], cwd=checkout, env=_env(),
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 1 and TRACEBACK not in proc.stderr
    report = checkout / job["artifacts"]["reports"]["junit"]
    (suite,) = list(JUnitXml.fromfile(str(report)))
    cases = {c.name: c for c in suite}
    assert set(cases) == {"circuits/broken.yaml", "circuits/lif_fI.yaml"}
    assert cases["circuits/lif_fI.yaml"].is_passed
    (failure,) = cases["circuits/broken.yaml"].result
    assert isinstance(failure, Failure) and failure.type == "unknown-kind"
    assert failure.message == ("circuits/broken.yaml:5:13: unknown component kind "
                               "'HebianSynapse'")


# ---------------------------------------------------------------------------------------------
# editors


def test_vscode_settings_snippet_maps_the_shipped_schema():
    settings = json.loads(_snippet("vscode"))
    (schema_path, globs), = settings["yaml.schemas"].items()
    assert (ROOT / schema_path).is_file()
    assert any(ROOT.glob(globs[0]))
