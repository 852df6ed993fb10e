"""docs/format.md, the file-format reference, against the models it documents: every field of
every section in its table with the model's own description, every example accepted, and the
record shapes it states against a real run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "format.md").read_text(encoding="utf-8")


def _section(heading: str) -> str:
    """The text from a '## heading' (or '### heading') to the next heading of that level."""
    m = re.search(rf"^(#+) {re.escape(heading)}\n(.*?)(?=^\1 |\Z)", DOC, re.M | re.S)
    assert m, heading
    return m.group(2)


def _first_table(text: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def _rows(text: str) -> dict[str, str]:
    """First-column name -> the whole row, for the rows of the tables in ``text``."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*\|$", text, re.M)}


def _sections():
    from ngcspec import spec

    return [
        ("Top level", spec.CircuitSpec, None), ("`data`: data sources", spec.DataSource, None),
        ("`components`: component entries", spec.ComponentCommon, None),
        ("`components`: component entries", spec.Tie, "`tie`:"),
        ("`components`: component entries", spec.Normalize, "`normalize`:"),
        ("`wires`", spec.WireSpec, None), ("`phases`", spec.Phase, None),
        ("`run`", spec.RunSpec, None), ("`sweep`", spec.SweepSpec, None),
    ]


def test_every_field_of_every_section_is_in_its_table_with_its_description():
    for heading, model, after in _sections():
        text = _section(heading)
        if after is not None:   # a table introduced by a line inside the section
            text = text.split(after, 1)[1]
        rows = _rows(_first_table(text))
        for name, field in model.model_fields.items():
            key = field.alias or name
            assert key in rows, (heading, key)
            if field.description:
                assert field.description in rows[key], (heading, key, field.description)
        extra = set(rows) - {f.alias or n for n, f in model.model_fields.items()}
        assert not extra, (heading, extra)


def test_every_top_level_section_of_the_schema_is_documented():
    import json

    schema = json.loads((ROOT / "schemas" / "circuit.schema.json").read_text(encoding="utf-8"))
    assert set(_rows(_section("Top level"))) == set(schema["properties"])


def _examples() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC, re.S)


def test_the_complete_example_validates():
    from ngcspec.resolve import resolve_file

    first = _examples()[0]
    r = resolve_file(first)
    assert list(r.phases) == ["run"] and r.phases["run"].record == {("x", "z"): "per_step"}


def test_every_example_fragment_fits_the_schema_of_its_section():
    """Each fragment is a mapping of top-level sections: checked against those sections of
    the JSON Schema (with its definitions), as an editor would."""
    import json

    import jsonschema

    from ngcspec.yamlsrc import load_yaml

    schema = json.loads((ROOT / "schemas" / "circuit.schema.json").read_text(encoding="utf-8"))
    checked = 0
    for text in _examples():
        for doc in _documents(text):
            for key, value in load_yaml(doc).data.items():
                part = {"$schema": schema["$schema"], "$defs": schema["$defs"],
                        **schema["properties"][key]}
                errors = [e.message[:200] for e in
                          jsonschema.Draft202012Validator(part).iter_errors(value)]
                assert not errors, (key, errors[:2])
                checked += 1
    assert checked >= 15


def _documents(text: str) -> list[str]:
    """A block may show one section twice (two ways to write it): one document each."""
    docs, current, seen = [], [], set()
    for line in text.splitlines(keepends=True):
        top = re.match(r"^([a-z_]+):", line)
        if top and top.group(1) in seen:
            docs.append("".join(current))
            current, seen = [], set()
        if top:
            seen.add(top.group(1))
        current.append(line)
    docs.append("".join(current))
    return docs


def test_record_keys_have_the_phase_prefix_and_run_for_phaseless_circuits():
    text = _section("Records")
    assert "`phase/component.compartment`" in text and "`run/x.z`" in text


@pytest.mark.slow
def test_record_shapes_are_those_of_a_real_run():
    """2 epochs of 2 batches of 5 samples, 3 steps a batch: the table's shapes, written out."""
    import ngcspec

    text = """
ngcspec: 1
name: rec
components:
  x1: {kind: RateCell, n_units: 4, tau_m: 0.0}
  W1: {kind: HebbianSynapse, shape: [4, 3], eta: 0.01}
  y1: {kind: RateCell, n_units: 3, tau_m: 10.0}
  s: {kind: LIFCell, n_units: 5, tau_m: 10.0}
wires:
  - x1.zF -> W1.inputs
  - W1.outputs -> y1.j
  - x1.zF -> W1.pre
  - y1.zF -> W1.post
clamps:
  x1.j: {constant: [1.0, 0.0, 0.5, 0.25]}
  s.j: 30.0
schedule: [reset, {advance: 3}, {evolve: [W1]}]
phases:
  train:
    batches: 2
    batch_size: 5
    record: {y1.z: per_step, W1.weights: per_step, y1.zF: per_batch, W1.dWeights: per_batch,
             x1.zF: final, W1.biases: final, y1.j: initial, s.s: spike_times, s.v: rate}
run: {epochs: 2}
"""
    rec = ngcspec.load(text).run().records
    epochs, steps, samples, batches, bsz = 2, 3, 10, 2, 5
    expected = {
        "train/y1.z": (epochs, steps, samples, 3), "train/W1.weights": (epochs, batches, steps, 4, 3),
        "train/y1.zF": (epochs, samples, 3), "train/W1.dWeights": (epochs, batches, 4, 3),
        "train/x1.zF": (bsz, 4), "train/W1.biases": (3,), "train/y1.j": (bsz, 3),
        "train/s.v": (epochs, steps, samples)}
    for key, shape in expected.items():
        assert np.shape(rec[key]) == shape, key
    assert np.shape(rec["train/s.s"])[1:] == (4,)
    phaseless = ngcspec.load("ngcspec: 1\nname: p\ncomponents:\n  x: {kind: RateCell, n_units: 2, "
                             "tau_m: 10.0}\nclamps: {x.j: 1.0}\nschedule: [reset, {advance: 20}]\n"
                             "run: {record: {x.z: per_step}}\n").run().records
    assert list(phaseless) == ["run/x.z"] and np.shape(phaseless["run/x.z"]) == (1, 20, 1, 2)
