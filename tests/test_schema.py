"""The committed JSON Schema is generated from the registry and must not go stale."""

import functools
import json
from pathlib import Path

import pytest

from ngcspec.registry import kinds
from ngcspec.schema import circuit_schema, schema_text

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_current():
    committed = (ROOT / "schemas" / "circuit.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schemas/circuit.schema.json is stale: run `ngc schema -o schemas/circuit.schema.json`")


def test_every_kind_appears_with_its_parameters():
    schema = circuit_schema()
    defs = schema["$defs"]
    for name, cls in kinds().items():
        entry = defs[f"{name}Entry"]
        assert entry["properties"]["kind"]["const"] == name
        for param in cls.Params.model_fields:
            assert param in entry["properties"], (name, param)
        for common in ("tie", "init", "normalize"):
            assert common in entry["properties"]
        assert entry.get("additionalProperties") is False


def test_schema_rejects_unknown_top_level_fields():
    import jsonschema
    v = jsonschema.Draft202012Validator(circuit_schema())   # one validator: compiling is slow
    doc = {"ngcspec": 1, "name": "x", "schedule": ["reset"],
           "components": {"a": {"kind": "RateCell", "n_units": 2, "tau_m": 1.0}}}
    v.validate(doc)
    with pytest.raises(jsonschema.ValidationError):
        v.validate({**doc, "wirez": []})
    with pytest.raises(jsonschema.ValidationError):
        v.validate({**doc, "components": {"a": {"kind": "RateCell", "n_unit": 2}}})
    json.dumps(v.schema)


def test_committed_component_docs_are_current():
    from ngcspec.describe import markdown

    committed = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/components.md is stale: run `ngc components --markdown > docs/components.md`")


# ---------------------------------------------------------------------------------------------
# the schema as editors use it: never flags what `ngc validate` accepts, flags form errors

MALFORMED = ROOT / "tests" / "malformed"

# Malformed files whose mistake is one of form, which the schema must catch, and where
# (the JSON path of the offending value), read off each file.
SCHEMA_LEVEL = {
    "clamp_list.yaml": ("clamps", "x1.j"),
    "dt_zero.yaml": ("dt",),
    "missing_required.yaml": (),
    "misspelt_required.yaml": ("components", "x"),
    "negative_units.yaml": ("components", "x", "n_units"),
    "several_errors.yaml": ("dt",),
    "spec_version.yaml": ("ngcspec",),
    "top_level_list.yaml": (),
    "unknown_kind.yaml": ("components", "W", "kind"),
    "unknown_param.yaml": ("components", "W"),
    "unknown_schedule_entry.yaml": ("schedule", 1),
    "unknown_top_field.yaml": (),
    "wire_syntax.yaml": ("wires", 1),
    "wrong_type.yaml": ("components", "x", "tau_m"),
}


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "circuit.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _with_context(errors):
    """Errors and, for unions, the errors of their alternatives (what editors show)."""
    for e in errors:
        yield e
        yield from _with_context(e.context or [])


def _examples():
    return sorted((ROOT / "circuits").glob("*.yaml"))


@pytest.mark.slow
def test_every_shipped_circuit_fits_the_schema_as_ngcspec_reads_it():
    """Loaded by ngcspec's own (YAML 1.1) loader: '1.0e7' arrives as text, wires as text."""
    from ngcspec.yamlsrc import load_yaml

    v = _validator()
    assert len(_examples()) >= 20
    for f in _examples():
        data = load_yaml(f.read_text(encoding="utf-8"), str(f)).data
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in v.iter_errors(data)]
        assert not errors, (f.name, errors[:3])


@pytest.mark.slow
def test_every_shipped_circuit_fits_the_schema_as_an_editor_reads_it():
    """Loaded by a YAML 1.2 reader (ruamel.yaml, as yaml-language-server reads YAML 1.2):
    '1.0e7' arrives as a number there."""
    from ruamel.yaml import YAML

    v = _validator()
    reader = YAML(typ="safe", pure=True)
    for f in _examples():
        data = reader.load(f.read_text(encoding="utf-8"))
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in v.iter_errors(data)]
        assert not errors, (f.name, errors[:3])
    # the case that set the two readers apart
    text = (ROOT / "circuits" / "diehl_cook_digits.yaml").read_text()
    assert "1.0e7" in text


@pytest.mark.slow
def test_form_mistakes_of_the_malformed_corpus_fail_the_schema_where_ngcspec_points():
    from ngcspec.errors import CircuitError
    from ngcspec.yamlsrc import load_yaml

    v = _validator()
    for f in sorted(MALFORMED.glob("*.yaml")):
        try:
            data = load_yaml(f.read_text(encoding="utf-8"), str(f)).data
        except CircuitError:
            continue   # not YAML a schema could see (syntax, tags, duplicate keys, ...)
        paths = {tuple(e.absolute_path) for e in _with_context(v.iter_errors(data))}
        if f.name in SCHEMA_LEVEL:
            assert SCHEMA_LEVEL[f.name] in paths, (f.name, paths)
        else:
            # mistakes of names, shapes, loops, data: not the schema's to see, nor to flag
            assert not paths, (f.name, paths)


def test_number_fields_take_the_text_the_models_read_as_numbers():
    """pydantic (what ngc validate runs) is the reference: the schema takes a string for a
    number field exactly when pydantic reads it as one."""
    from pydantic import TypeAdapter, ValidationError

    v = _validator()
    texts = ["1.0e7", "20", " 3.5 ", ".5", "-2e-3", "+1E+3", "1_000", "1_0.5_0", "5.", "00012",
             "inf", "-Infinity", "NaN", "fast", "1.0.0", "", "0x10", "1e", "1__0", "_1", ".e1",
             "0b1", "1,5"]
    for field, kind, valid in (("tau_m", float, 10.0), ("n_units", int, 3)):
        for text in texts:
            try:
                TypeAdapter(kind).validate_python(text)
                reads = True
            except ValidationError:
                reads = False
            doc = {"ngcspec": 1, "name": "x", "schedule": ["reset"],
                   "components": {"a": {"kind": "RateCell", "n_units": 3, "tau_m": 10.0}}}
            doc["components"]["a"][field] = text
            assert v.is_valid(doc) == reads, (field, text, reads)


def test_wires_as_text_and_as_mappings():
    v = _validator()
    base = {"ngcspec": 1, "name": "x", "schedule": ["reset"],
            "components": {"a": {"kind": "RateCell", "n_units": 3, "tau_m": 10.0}}}
    for wire, ok in (("a.zF -> a.j", True), ("a.zF ~> a.j", True), ("-0.5 * a.zF ~> a.j", True),
                     ("1e-3*a.zF->a.j", True), ({"from": "a.zF", "to": "a.j", "scale": 2.0}, True),
                     ("a.zF => a.j", False), ("a.zF -> a.j -> a.j_td", False), ("a -> a.j", False),
                     ({"from": "a.zF"}, False), ({"from": "a.zF", "to": "a.j", "delay": True}, False)):
        assert v.is_valid({**base, "wires": [wire]}) == ok, wire


def test_top_level_fields_are_described():
    schema = json.loads((ROOT / "schemas" / "circuit.schema.json").read_text(encoding="utf-8"))
    for name, prop in schema["properties"].items():
        assert len(prop.get("description", "")) > 10, name
    assert "phase" in schema["properties"]["phases"]["description"]


def test_metrics_under_run_say_where_they_belong(tmp_path):
    from ngcspec.errors import CircuitError
    from ngcspec.resolve import resolve_file

    f = tmp_path / "m.yaml"
    f.write_text("ngcspec: 1\nname: m\ncomponents:\n  a: {kind: RateCell, n_units: 3, tau_m: 1.0}\n"
                 "schedule: [reset, advance]\nrun:\n  epochs: 2\n  metrics: {act: {mean: a.zF}}\n")
    with pytest.raises(CircuitError) as exc:
        resolve_file(f)
    (p,) = exc.value.problems
    assert p.path == "run" and p.line == 7
    assert "'metrics' belong under a phase, not under 'run'" in p.message
    assert "phases: {train: {data: train, metrics:" in p.hint
