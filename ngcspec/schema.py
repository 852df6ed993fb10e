"""The JSON Schema of circuit files, generated from the pydantic models and the registry.

Component entries are a union over the registered kinds (each the kind's parameters plus the
common fields), so an editor with the schema completes and checks parameters per kind.

The schema must never flag what ``ngc validate`` accepts. The models read numbers leniently:
a YAML 1.1 reader (PyYAML, ngcspec's own loader) reads ``1.0e7`` as the text '1.0e7', which
the models turn into a number, as they do with a quoted "20". So wherever the models take a
number, the schema also takes text that spells one (:func:`_numbers_as_text`).

A component entry is checked against its kind's entry only (an ``if``/``then`` per kind,
:func:`_dispatch_on_kind`), so an editor reports the one thing wrong with it (an unknown
kind, a misspelt parameter) rather than why it matches none of the other kinds either.
"""

from __future__ import annotations

import json
from typing import Annotated, Union

from pydantic import Field, create_model

from ngcspec.registry import kinds
from ngcspec.spec import CircuitSpec, Name, entry_model

#: text the models read as a number (pydantic's float and int parsing of text): digits with
#: single underscores between them, optional fraction and exponent, inf/infinity/nan in any case
_DIGITS = r"[0-9](?:_?[0-9])*"
NUMBER_TEXT = (rf"^\s*[-+]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][-+]?{_DIGITS})?"
               r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])\s*$")
INTEGER_TEXT = rf"^\s*[-+]?{_DIGITS}\s*$"
SCHEMA_ID = "https://ngcspec.dev/schemas/circuit.schema.json"


def circuit_schema() -> dict:
    entries = [entry_model(k) for _, k in sorted(kinds().items())]
    union = Annotated[Union[tuple(entries)], Field(discriminator="kind")]
    model = create_model("Circuit", __base__=CircuitSpec,
                         components=(dict[Name, union], Field(
                             ..., min_length=1,
                             description=CircuitSpec.model_fields["components"].description)))
    schema = _dispatch_on_kind(_numbers_as_text(model.model_json_schema(mode="validation")))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "ngcspec circuit"
    return schema


def _numbers_as_text(node):
    """Let every number (integer) also be text that spells one. Range keywords (minimum, ...)
    apply to numbers only and ``pattern`` to text only, so both sit beside the type list."""
    if isinstance(node, list):
        return [_numbers_as_text(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _numbers_as_text(v) for k, v in node.items()}
    kind = node.get("type")
    if kind in ("number", "integer") and "pattern" not in node:
        out["type"] = [kind, "string"]
        out["pattern"] = NUMBER_TEXT if kind == "number" else INTEGER_TEXT
    return out


def _dispatch_on_kind(node):
    """Replace each discriminated ``oneOf`` by a check of the discriminating field (one of
    the known values) and an ``if``/``then`` per value that applies that value's schema."""
    if isinstance(node, list):
        return [_dispatch_on_kind(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _dispatch_on_kind(v) for k, v in node.items()}
    disc = node.get("discriminator")
    if isinstance(disc, dict) and "mapping" in disc and "oneOf" in node:
        field, mapping = disc["propertyName"], disc["mapping"]
        del out["discriminator"], out["oneOf"]
        out.update({
            "type": "object", "required": [field],
            "properties": {field: {"enum": sorted(mapping)}},
            "allOf": [{"if": {"properties": {field: {"const": value}}, "required": [field]},
                       "then": {"$ref": ref}} for value, ref in sorted(mapping.items())],
        })
    return out


def schema_text() -> str:
    return json.dumps(circuit_schema(), indent=2, sort_keys=True) + "\n"
