"""Write (or check) the JSON Schema files in ``schemas/json/``: ``python -m schemas.generate [--check]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.events import CompletionEvent, DeltaEvent, ErrorEvent, PromptEvent
from schemas.tools import ToolCallEvent, ToolResultEvent

JSON_DIR = Path(__file__).parent / "json"
SCHEMA_FILES: dict[str, type[BaseModel]] = {
    "prompt_event.v1.json": PromptEvent,
    "delta_event.v1.json": DeltaEvent,
    "completion_event.v1.json": CompletionEvent,
    "error_event.v1.json": ErrorEvent,
    "tool_call_event.v1.json": ToolCallEvent,
    "tool_result_event.v1.json": ToolResultEvent,
}


def render(model: type[BaseModel], filename: str) -> str:
    """The schema file's exact text: stable key order and a trailing newline, so diffs stay readable."""
    schema = model.model_json_schema(mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://github.com/claude-kafka/claude-kafka/schemas/json/{filename}",
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def drifted() -> list[str]:
    """Names of schema files whose checked-in text differs from what the models generate."""
    return [
        name
        for name, model in SCHEMA_FILES.items()
        if not (JSON_DIR / name).exists() or (JSON_DIR / name).read_text() != render(model, name)
    ]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = drifted()
        for name in stale:
            print(f"schemas/json/{name} is out of date: run `make schemas`", file=sys.stderr)
        return 1 if stale else 0
    JSON_DIR.mkdir(exist_ok=True)
    for name, model in SCHEMA_FILES.items():
        (JSON_DIR / name).write_text(render(model, name))
        print(f"wrote schemas/json/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
