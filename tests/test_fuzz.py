"""Property: whatever a circuit file holds, validation answers with located problems.

Valid circuits (written here as Python dicts) are mutated at random, in their data (keys
deleted, duplicated, renamed or misspelt; values replaced by other types, random numbers,
strings, wire-like text, lists and mappings; values swapped) and in their text (truncated,
tabs, garbage characters, YAML tags, anchors, duplicated or deleted lines). For every mutant,
``resolve_file`` (validation only, no compilation) must either succeed or raise
:class:`ngcspec.CircuitError` whose every problem has a message, the file, and a line and
column inside the file; never any other exception. A few mutants also go through the real
CLI: exit 0 or 1, never a traceback.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngcspec import CircuitError
from ngcspec.resolve import resolve_file

# --------------------------------------------------------------------------------------------
# valid circuits

PC = {
    "ngcspec": 1, "name": "pc-smoke", "dt": 1.0, "seed": 3,
    "data": {"train": {"dataset": "digits", "split": "train", "batch_size": 64, "shuffle": True}},
    "components": {
        "z1": {"kind": "RateCell", "n_units": 20, "tau_m": 20.0, "act_fx": "relu", "prior": ["gaussian", 0.0]},
        "W1": {"kind": "HebbianSynapse", "shape": [20, 64], "eta": 0.01, "sign_value": -1.0, "w_bound": 0.0,
               "weight_init": {"dist": "gaussian", "std": 0.05}},
        "e0": {"kind": "GaussianErrorCell", "n_units": 64},
        "E1": {"kind": "StaticSynapse", "shape": [64, 20], "tie": {"to": "W1.weights", "transpose": True}},
    },
    "wires": ["z1.zF -> W1.inputs", "W1.outputs -> e0.mu", "e0.dmu ~> E1.inputs", "E1.outputs -> z1.j",
              "z1.zF -> W1.pre", "e0.dmu -> W1.post"],
    "clamps": {"e0.target": "train.x"},
    "schedule": ["reset", {"advance": 20}, {"evolve": ["W1"]}],
    "phases": {"train": {"data": "train", "metrics": {"loss": {"mean": "e0.L"}}}},
    "run": {"epochs": 3, "record": {"e0.L": "per_batch"}},
}

SMALL = {
    "ngcspec": 1, "name": "small", "dt": 0.5,
    "components": {
        "x": {"kind": "RateCell", "n_units": 4, "tau_m": 0.0},
        "W": {"kind": "HebbianSynapse", "shape": [4, 3], "eta": 0.1, "normalize": {"order": 2, "axis": 0},
              "init": {"weights": {"file": "w.npy"}}},
        "y": {"kind": "RateCell", "n_units": 3, "tau_m": 10.0, "act_fx": "tanh"},
        "e": {"kind": "GaussianErrorCell", "n_units": 3},
    },
    "wires": ["x.zF -> W.inputs", "W.outputs -> y.j", "y.zF -> e.mu", {"from": "x.zF", "to": "W.pre"},
              "0.5 * e.dmu -> W.post"],
    "order": ["x", "W", "y", "e"],
    "clamps": {"x.j": {"constant": [1.0, 0.0, 0.5, 0.2]}, "e.target": {"stimulus": "stim.npy"}},
    "phases": {"train": {"batch_size": 2, "batches": 3,
                         "schedule": ["reset", {"repeat": 3, "do": ["advance", {"evolve": ["W"]}]}],
                         "metrics": {"loss": {"mean": "e.L"}}}},
    "run": {"epochs": 2, "record": {"y.z": "per_step", "W.weights": "final"}},
}

CLASSIFIER = {
    "ngcspec": 1, "name": "classifier",
    "data": {"tr": {"dataset": "digits", "split": "train", "batch_size": 32},
             "te": {"dataset": "digits", "split": "test", "batch_size": 32}},
    "components": {
        "x": {"kind": "RateCell", "n_units": 64, "tau_m": 0.0},
        "W": {"kind": "HebbianSynapse", "shape": [64, 10], "eta": 0.01},
        "y": {"kind": "RateCell", "n_units": 10, "tau_m": 0.0, "act_fx": "softmax"},
        "e": {"kind": "GaussianErrorCell", "n_units": 10},
    },
    "wires": ["x.zF -> W.inputs", "W.outputs -> y.j", "y.zF -> e.mu", "x.zF -> W.pre", "e.dmu -> W.post"],
    "phases": {
        "train": {"data": "tr", "clamps": {"x.j": "tr.x", "e.target": "tr.y"},
                  "schedule": ["reset", "advance", {"evolve": ["W"]}]},
        "test": {"data": "te", "clamps": {"x.j": "te.x"}, "schedule": ["reset", "advance"],
                 "metrics": {"acc": {"accuracy": "y.zF"}}, "every": 2},
    },
}

BASES = {"pc": PC, "small": SMALL, "classifier": CLASSIFIER}

# --------------------------------------------------------------------------------------------
# ingredients of mutations

NAMES = ["z1", "W1", "e0", "E1", "x", "W", "y", "e", "train", "tr", "te", "kind", "shape", "n_units",
         "tau_m", "inputs", "outputs", "zF", "j", "mu", "dmu", "target", "weights", "pre", "post", "L",
         "reset", "advance", "evolve", "repeat", "do", "data", "clamps", "schedule", "wires", "order",
         "phases", "run", "record", "metrics", "tie", "to", "transpose", "init", "file", "constant",
         "stimulus", "dataset", "batch_size", "ngcspec", "name", "dt", "normalize", "compartment", "mean",
         "accuracy", "epochs", "every", "batches", "from", "scale", "delayed", "label", "Sigma"]
COMPONENTS = ["z1", "W1", "e0", "E1", "x", "W", "y", "e", "q", "tr", "train"]
COMPARTMENTS = ["zF", "z", "j", "j_td", "inputs", "outputs", "pre", "post", "weights", "mu", "dmu",
                "target", "L", "Sigma", "biases", "mask", "x", "y", "label", "output", "input"]
ARROWS = ["->", "~>", "=>", "-", ">", "<-", " ", "->->", "~"]
ODD_TEXT = ["", " ", "\t", "a.b", "..", ".", "x.", ".y", "->", "~>", "1e999", "nan", "-inf", "null", "~",
            "yes", "on", "2024-01-01", "=", "<<", "\x00", "\u2028", "\U0001f600", "a" * 300,
            "../../etc/passwd", "/dev/zero", "/", "w.npy", "stim.npy", "digits", "gaussian", "relu",
            "per_step", "!!python/name:os.system"]
GARBAGE = ["\t", ":", ": ", "- ", "[", "]", "{", "}", "&a ", "*a", "*nope", "!", "%", "@", "`", "\x00",
           "\x01", "\x7f", "\ufeff", "\u2028", "\x85", "'", '"', "#", "|", ">", "? ", "<<: 5\n",
           "---\n", "...\n", "\n  ", "\r", "\\", "é", "!!binary ", "!!timestamp ", "!!set ", "!!int ",
           "!!float ", "!!map ", "!!seq ", "!!str ", "!!python/object/apply:os.system ['touch PWNED'] ",
           "&a [*a]", "=", "\n- ", ", ", "{{", "]]"]

wire_text = st.builds(
    lambda pre, a, ca, arrow, b, cb: f"{pre}{a}.{ca} {arrow} {b}.{cb}",
    st.sampled_from(["", "", "2 * ", "-1.0*", "x * ", "1e999 * ", "nan * "]),
    st.sampled_from(COMPONENTS), st.sampled_from(COMPARTMENTS), st.sampled_from(ARROWS),
    st.sampled_from(COMPONENTS), st.sampled_from(COMPARTMENTS))
ref_text = st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(COMPONENTS + NAMES),
                     st.sampled_from(COMPARTMENTS + NAMES))


def _typo(s: str, i: int, kind: int, ch: str) -> str:
    if not s:
        return ch
    i %= len(s)
    if kind == 0:
        return s[:i] + s[i + 1:]
    if kind == 1:
        return s[:i] + ch + s[i:]
    if kind == 2 and len(s) > 1:
        j = min(i + 1, len(s) - 1)
        chars = list(s)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    return s.upper() if kind == 3 else s + "s"


typo = st.builds(_typo, st.sampled_from(NAMES), st.integers(0, 30), st.integers(0, 4),
                 st.sampled_from("abexyz_0.-"))
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-10**40, max_value=10**40),
    st.sampled_from([0, 1, -1, 2, 64, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(NAMES), st.sampled_from(ODD_TEXT), wire_text, ref_text, typo,
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(NAMES), typo, st.text(max_size=6)), inner, max_size=3)),
    max_leaves=8)


def _paths(obj, p=()):
    yield p
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, p + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, p + (i,))


def _get(obj, p):
    for k in p:
        obj = obj[k]
    return obj


TREE_OPS = ["delete", "rename", "replace", "swap", "wrap", "typo_value", "insert", "add_key", "wire"]


def mutate_tree(data, d: dict) -> dict:
    """One random change of the data, drawn from hypothesis' ``data`` (so failures shrink)."""
    d = copy.deepcopy(d)
    paths = list(_paths(d))[1:]
    p = data.draw(st.sampled_from(paths), label="path")
    parent, k = _get(d, p[:-1]), p[-1]
    op = data.draw(st.sampled_from(TREE_OPS), label="op")
    if op == "delete":
        del parent[k]
    elif op == "rename" and isinstance(parent, dict):
        v = parent.pop(k)
        parent[data.draw(st.one_of(typo, st.sampled_from(NAMES), st.text(max_size=8)), label="key")] = v
    elif op == "swap":
        q = data.draw(st.sampled_from(paths), label="other")
        try:
            a, b = copy.deepcopy(_get(d, p)), copy.deepcopy(_get(d, q))
            parent[k] = b
            _get(d, q[:-1])[q[-1]] = a
        except (KeyError, IndexError, TypeError):
            pass
    elif op == "wrap":
        parent[k] = data.draw(st.sampled_from([lambda v: [v], lambda v: {"x": v}, lambda v: [v, v]]))(parent[k])
    elif op == "typo_value" and isinstance(parent[k], str):
        parent[k] = _typo(parent[k], data.draw(st.integers(0, 40)), data.draw(st.integers(0, 4)),
                          data.draw(st.sampled_from("abexyz_0.->")))
    elif op == "insert" and isinstance(parent, list):
        parent.insert(k, data.draw(st.one_of(st.just(copy.deepcopy(parent[k])), values), label="item"))
    elif op == "add_key" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(NAMES), label="key")] = data.draw(values, label="value")
    elif op == "wire":
        parent[k] = data.draw(st.one_of(wire_text, ref_text), label="wire")
    else:
        parent[k] = data.draw(values, label="value")
    return d


def mutate_text(data, s: str) -> str:
    op = data.draw(st.sampled_from(["truncate", "insert", "dup_line", "del_line", "tab_line", "garbage"]),
                   label="text op")
    if op == "truncate":
        return s[: data.draw(st.integers(0, max(len(s) - 1, 0)), label="cut")]
    lines = s.split("\n")
    j = data.draw(st.integers(0, len(lines) - 1), label="line")
    if op == "dup_line":
        lines.insert(j, lines[j])
        return "\n".join(lines)
    if op == "del_line":
        del lines[j]
        return "\n".join(lines)
    if op == "tab_line":
        lines[j] = "\t" + lines[j].lstrip(" ")
        return "\n".join(lines)
    i = data.draw(st.integers(0, len(s)), label="at")
    bits = data.draw(st.lists(st.one_of(st.sampled_from(GARBAGE), st.text(max_size=3)), min_size=1, max_size=3))
    return s[:i] + "".join(bits) + s[i:]


def dump(data, d) -> str:
    flow = data.draw(st.sampled_from([False, None, True]), label="flow style")
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=flow, allow_unicode=True)


# --------------------------------------------------------------------------------------------
# the property


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    np.save(d / "w.npy", np.full((4, 3), 0.1, np.float32))
    np.save(d / "stim.npy", np.zeros((10, 3), np.float32))
    return d


def check_answer(path: Path, text: str) -> str:
    """Validate ``path``: 'ok', or 'error' with every problem located inside the file."""
    try:
        resolve_file(path)
    except CircuitError as exc:
        assert exc.problems
        n_lines = text.count("\n") + 1
        for p in exc.problems:
            assert isinstance(p.message, str) and p.message.strip(), p
            assert p.file == str(path), p
            assert isinstance(p.line, int) and 1 <= p.line <= n_lines + 1, (p, n_lines)
            assert isinstance(p.column, int) and p.column >= 1, p
            assert isinstance(p.path, str), p
            assert p.text().startswith(f"{path}:{p.line}:{p.column}: error")
        return "error"
    return "ok"


def _write(folder: Path, text: str, name: str = "mutant.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_bases_are_valid(folder):
    for name, base in BASES.items():
        text = yaml.safe_dump(base, sort_keys=False)
        assert check_answer(_write(folder, text, f"{name}.yaml"), text) == "ok", name


FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_data_mutations_give_located_errors(folder, data):
    base = BASES[data.draw(st.sampled_from(sorted(BASES)), label="base")]
    d = base
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        d = mutate_tree(data, d)
    text = dump(data, d)
    check_answer(_write(folder, text), text)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_text_mutations_give_located_errors(folder, data):
    base = BASES[data.draw(st.sampled_from(sorted(BASES)), label="base")]
    d = mutate_tree(data, base) if data.draw(st.booleans(), label="also data") else base
    text = dump(data, d)
    for _ in range(data.draw(st.integers(1, 3), label="text mutations")):
        text = mutate_text(data, text)
    check_answer(_write(folder, text), text)
    assert not (folder / "PWNED").exists() and not Path("PWNED").exists()


@pytest.mark.slow
def test_mutants_through_the_cli(folder, tmp_path, capsys, monkeypatch):
    """Real `ngc validate` on mutants: exit 0 (valid) or 1 (located errors), no traceback."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    rng = random.Random(1234)
    texts = []
    for i in range(12):
        d = copy.deepcopy(BASES[sorted(BASES)[i % 3]])
        # a deterministic, cheap mutation mix: replace a value, rename a key, cut the text
        paths = list(_paths(d))[1:]
        p = paths[rng.randrange(len(paths))]
        parent = _get(d, p[:-1])
        choice = i % 4
        if choice == 0:
            parent[p[-1]] = rng.choice([None, "z9.zF -> W1.inputs", -1, 1e309, [], {"x": 1}, "W1.output"])
        elif choice == 1 and isinstance(parent, dict):
            parent[_typo(str(p[-1]), rng.randrange(9), rng.randrange(5), "x")] = parent.pop(p[-1])
        text = yaml.safe_dump(d, sort_keys=False)
        if choice == 2:
            text = text[: rng.randrange(len(text))]
        elif choice == 3:
            i_ = rng.randrange(len(text))
            text = text[:i_] + rng.choice(GARBAGE) + text[i_:]
        texts.append(text)
    texts.append(yaml.safe_dump(SMALL, sort_keys=False))   # one valid file among them
    paths = [_write(folder, t, f"cli_{i}.yaml") for i, t in enumerate(texts)]
    expected = {str(p): check_answer(p, t) for p, t in zip(paths, texts)}
    ngc = str(Path(sys.executable).with_name("ngc"))
    proc = subprocess.run([ngc, "validate", "--format", "json", *map(str, paths)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr + proc.stdout
    reported = {p["file"] for p in json.loads(proc.stdout)}
    assert reported == {f for f, answer in expected.items() if answer == "error"}
    assert proc.returncode == (1 if reported else 0)
    assert "ok" in expected.values() and "error" in expected.values()
    # and one by one, through main(): each exit code says whether that file is valid
    from ngcspec.cli.app import main

    for path in paths:
        sys.argv = ["ngc", "validate", str(path)]
        with pytest.raises(SystemExit) as exc:
            main()
        assert exc.value.code == (1 if expected[str(path)] == "error" else 0), path
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
