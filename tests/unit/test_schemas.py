"""The event contract: generated schema files, batch-line compatibility, and bad-input messages."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import CompletionEvent, DeltaEvent, ErrorEvent, Mode, PromptEvent
from schemas.generate import SCHEMA_FILES, drifted

BATCH_LINE = (
    '{"custom_id": "req-1", "params": {"model": "claude-sonnet-5-5", "max_tokens": 1024,'
    ' "messages": [{"role": "user", "content": "Hello, world"}], "temperature": 0.2}}'
)


def test_checked_in_json_schemas_match_the_models() -> None:
    """The files under schemas/json/ are exactly what `make schemas` generates from the models."""
    assert drifted() == [], "run `make schemas` and commit the result"


def test_every_schema_field_is_documented() -> None:
    """Each top-level property of each published schema has a description or a referenced model."""
    for name, model in SCHEMA_FILES.items():
        schema = model.model_json_schema()
        for prop, spec in schema["properties"].items():
            assert "description" in spec or "$ref" in spec or "allOf" in spec, f"{name}: {prop}"


def test_message_batches_jsonl_line_is_a_prompt_event() -> None:
    """A Message Batches JSONL line parses as a PromptEvent and its params pass through whole."""
    event = PromptEvent.model_validate_json(BATCH_LINE)
    assert event.custom_id == "req-1"
    assert event.mode is Mode.STREAM
    assert event.attributes == {}
    assert event.params.model_dump() == json.loads(BATCH_LINE)["params"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"params": {}}, "custom_id\n  Field required"),
        ({"custom_id": "has space", "params": {}}, "custom_id\n  String should match pattern"),
        ({"custom_id": "x" * 65, "params": {}}, "custom_id\n  String should match pattern"),
        ({"custom_id": "ok"}, "params\n  Field required"),
        (
            {"custom_id": "ok", "params": {"max_tokens": 5, "messages": [{}]}},
            "params.model\n  Field required",
        ),
        (
            {"custom_id": "ok", "params": {"model": "m", "max_tokens": "5", "messages": [{}]}},
            "params.max_tokens\n  Input should be a valid integer",
        ),
        (
            {"custom_id": "ok", "params": {"model": "m", "max_tokens": 5, "messages": []}},
            "params.messages\n  List should have at least 1 item",
        ),
        (
            {"custom_id": "ok", "params": {"model": 7, "max_tokens": 5, "messages": [{}]}},
            "params.model\n  Input should be a valid string",
        ),
        (
            {"custom_id": "ok", "mode": "later", "params": {"model": "m", "max_tokens": 5, "messages": [{}]}},
            "mode\n  Input should be 'stream' or 'batch'",
        ),
        (
            {
                "custom_id": "ok",
                "deadline": "2026-01-01T00:00:00",
                "params": {"model": "m", "max_tokens": 5, "messages": [{}]},
            },
            "deadline\n  Input should have timezone info",
        ),
        (
            {
                "custom_id": "ok",
                "attributes": {"n": 1},
                "params": {"model": "m", "max_tokens": 5, "messages": [{}]},
            },
            "attributes.n\n  Input should be a valid string",
        ),
    ],
)
def test_invalid_prompt_is_rejected_with_a_readable_reason(
    document: dict[str, object], expected: str
) -> None:
    """Each bad-input rule names the field and the problem, as a user would read it."""
    with pytest.raises(ValidationError) as info:
        PromptEvent.model_validate_json(json.dumps(document))
    assert expected in str(info.value)


def test_output_events_round_trip_through_json() -> None:
    """Every output model's documented example validates and survives a JSON round trip unchanged."""
    for model in (DeltaEvent, CompletionEvent, ErrorEvent):
        example = model.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
        parsed = model.model_validate(example)
        assert model.model_validate_json(parsed.model_dump_json()) == parsed
        assert {k: v for k, v in parsed.model_dump(mode="json").items() if k in example} == example


def test_unknown_prompt_fields_are_ignored_for_forward_compatibility() -> None:
    """A producer newer than the service may add fields; the prompt still parses."""
    document = json.loads(BATCH_LINE) | {"priority": "high"}
    assert PromptEvent.model_validate(document).custom_id == "req-1"
