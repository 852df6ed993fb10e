"""The JSON Schema of circuit files, generated from the pydantic models and the registry.

Component entries are a union over the registered kinds (each the kind's parameters plus the
common fields), so an editor with the schema completes and checks parameters per kind.
"""

from __future__ import annotations

import json
from typing import Annotated, Union

from pydantic import Field, create_model

from ngcspec.registry import kinds
from ngcspec.resolve import entry_model
from ngcspec.spec import CircuitSpec, Name

SCHEMA_ID = "https://ngcspec.dev/schemas/circuit.schema.json"


def circuit_schema() -> dict:
    entries = [entry_model(k) for _, k in sorted(kinds().items())]
    union = Annotated[Union[tuple(entries)], Field(discriminator="kind")]
    model = create_model("Circuit", __base__=CircuitSpec,
                         components=(dict[Name, union], Field(..., min_length=1)))
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "ngcspec circuit"
    return schema


def schema_text() -> str:
    return json.dumps(circuit_schema(), indent=2, sort_keys=True) + "\n"
