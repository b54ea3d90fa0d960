"""Rejected records keep a readable custom_id, so their error event correlates like any other outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas import SourceRecord
from service import events
from service.pipeline.intake import Rejection, decode_prompt
from service.settings import PipelineSettings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = PipelineSettings(
    _env_file=None,  # type: ignore[call-arg]
    max_prompt_bytes=1024,
    allowed_models=("claude-sonnet-5-5",),
    max_tokens_cap=4096,
)
PARAMS = {"model": "claude-sonnet-5-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


def _record(**document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("value", "error_type", "custom_id"),
    [
        (_record(custom_id="q-1", params={**PARAMS, "max_tokens": "many"}), "invalid_prompt", "q-1"),
        (_record(custom_id="q-2", params={}), "invalid_prompt", "q-2"),
        (_record(custom_id="q-3"), "invalid_prompt", "q-3"),
        (_record(custom_id="q-4", params=PARAMS, mode="fast"), "invalid_prompt", "q-4"),
        (_record(custom_id="q-5", params={**PARAMS, "model": "claude-opus-4-1"}), "model_not_allowed", "q-5"),
        (_record(custom_id="q-6", params={**PARAMS, "max_tokens": 9999}), "max_tokens_exceeded", "q-6"),
        (_record(custom_id="q-7", params=PARAMS, pad="x" * 2000), "prompt_too_large", "q-7"),
        (b'{"custom_id": "q-8", "params": {"model": "\\ud800"}}', "invalid_encoding", "q-8"),
        # Not a valid custom_id by the schema's rule: never echoed back.
        (_record(custom_id="bad id!", params=PARAMS), "invalid_prompt", None),
        (_record(custom_id="x" * 65, params=PARAMS), "invalid_prompt", None),
        (_record(custom_id="q-9\n", params=PARAMS), "invalid_prompt", None),
        (_record(custom_id=17, params=PARAMS), "invalid_prompt", None),
        (_record(params=PARAMS, attributes={"custom_id": "nested"}), "invalid_prompt", None),
        (_record(custom_id="big", pad="x" * 2000)[:-2], "prompt_too_large", None),  # oversize, not JSON
        (b'["q-10"]', "invalid_prompt", None),
        (b"{not json", "invalid_json", None),
        (b"\xff\xfe", "invalid_encoding", None),
        (None, "invalid_prompt", None),
    ],
)
def test_a_rejection_carries_the_records_valid_custom_id(
    value: bytes | None, error_type: str, custom_id: str | None
) -> None:
    """A bad record whose top-level custom_id is valid yields that custom_id; an invalid one yields None."""
    decoded = decode_prompt(value, RULES, NOW)
    assert isinstance(decoded, Rejection)
    assert (decoded.error.type, decoded.custom_id) == (error_type, custom_id)


def test_the_error_event_of_a_bad_params_prompt_names_its_custom_id() -> None:
    """The ErrorEvent built from a rejected record with a valid custom_id carries it (and so its key)."""
    raw = _record(custom_id="order-1", params={**PARAMS, "messages": []})
    rejection = decode_prompt(raw, RULES, NOW)
    assert isinstance(rejection, Rejection) and rejection.prompt is None
    event = events.error(
        error=rejection.error,
        source=SourceRecord(topic="claude.prompts", partition=0, offset=3),
        generation=1,
        attempt=1,
        retryable=False,
        prompt=rejection.prompt,
        raw=raw,
        custom_id=rejection.custom_id,
    )
    assert event.custom_id == "order-1" and event.mode is None and event.original == raw.decode()
