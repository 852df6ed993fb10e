"""The committed JSON Schema is generated from the registry and must not go stale."""

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
    schema = circuit_schema()
    doc = {"ngcspec": 1, "name": "x", "schedule": ["reset"],
           "components": {"a": {"kind": "RateCell", "n_units": 2, "tau_m": 1.0}}}
    jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "wirez": []}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "components": {"a": {"kind": "RateCell", "n_unit": 2}}}, schema)
    json.dumps(schema)


def test_committed_component_docs_are_current():
    from ngcspec.describe import markdown

    committed = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/components.md is stale: run `ngc components --markdown > docs/components.md`")
