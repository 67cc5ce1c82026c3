"""The JSON Schema of flow files, generated from the pydantic model. Layer 1 (flow).

The generated schema is shipped as `flow.schema.json` beside this module (a
test keeps it in sync: regenerate with `dipflow flow schema > src/dipflow/flow/flow.schema.json`)
so editors can validate and complete flow files: add
`# yaml-language-server: $schema=<path to flow.schema.json>` at the top of a flow.

On top of what pydantic generates, each activity kind's `on` map lists the
output names that kind has (menus also take their digit keys), and the kind's
outputs are recorded as `x-outputs` / `x-required-outputs` for tools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dipflow.flow.checks import KIND_CLASSES
from dipflow.flow.model import DIGITS, FLOW_FORMAT_VERSION, Flow

SCHEMA_PATH = Path(__file__).with_name("flow.schema.json")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a flow file."""
    schema = Flow.model_json_schema()
    definitions: dict[str, Any] = schema.get("$defs", {})
    for kind, cls in KIND_CLASSES.items():
        definition = definitions.get(cls.__name__)
        if definition is None:
            continue
        definition["x-outputs"] = list(cls.outputs)
        definition["x-required-outputs"] = list(cls.required_outputs)
        on = definition.get("properties", {}).get("on")
        if on is None:
            continue
        if kind == "menu":
            digit_pattern = "^[0-9*#]$"
            on["propertyNames"] = {
                "anyOf": [{"enum": list(cls.outputs)}, {"pattern": digit_pattern}]
            }
        else:
            on["propertyNames"] = {"enum": list(cls.outputs)}
    menu = definitions.get("MenuActivity", {}).get("properties", {}).get("choices")
    if menu is not None:
        menu["propertyNames"] = {"enum": list(DIGITS)}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"dipflow flow (format {FLOW_FORMAT_VERSION})",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def schema_text() -> str:
    """The schema as the shipped file holds it (2-space JSON, trailing newline)."""
    return json.dumps(flow_json_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")
