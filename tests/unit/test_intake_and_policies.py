"""Prompt intake rules, prices, backoff and rate limits: pure decisions, table-driven."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from schemas import PromptEvent
from service.backoff import attempt_delay
from service.events import original_text
from service.pipeline.intake import Rejection, decode_prompt
from service.pipeline.ratelimit import RateGate, TokenBucket
from service.settings import PipelineSettings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RULES = PipelineSettings(
    _env_file=None,  # type: ignore[call-arg]
    max_prompt_bytes=2048,
    allowed_models=("claude-haiku-4-5",),
    max_tokens_cap=4096,
)


def _prompt(**overrides: object) -> bytes:
    params = {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    document: dict[str, object] = {"custom_id": "p-1", "params": params}
    for key, value in overrides.items():
        if key in params:
            params[key] = value
        else:
            document[key] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("value", "error_type", "message_part"),
    [
        (None, "invalid_prompt", "tombstone"),
        (b"\xff\xfe\x00", "invalid_encoding", "not UTF-8"),
        (b"{not json", "invalid_json", "not JSON"),
        (b"[1, 2]", "invalid_prompt", "Input should be a valid dictionary"),
        (b'{"params": {}}', "invalid_prompt", "custom_id: Field required"),
        (_prompt(max_tokens="many"), "invalid_prompt", "params.max_tokens: Input should be a valid integer"),
        (b"[" * 5000 + b"]" * 5000, "prompt_too_large", "MAX_PROMPT_BYTES is 2048"),
        (_prompt(model="claude-opus-4-1"), "model_not_allowed", "not in ALLOWED_MODELS"),
        (_prompt(max_tokens=10_000), "max_tokens_exceeded", "above MAX_TOKENS_CAP 4096"),
        (_prompt(deadline=(NOW - timedelta(seconds=1)).isoformat()), "expired", "passed before start"),
        (_prompt(mode="batch", loop={}), "invalid_prompt", "loop and session need mode stream"),
        (_prompt(mode="batch", session={"id": "s"}), "invalid_prompt", "loop and session need mode stream"),
        (_prompt(loop={"max_iterations": 0}), "invalid_prompt", "loop.max_iterations"),
        (_prompt(session={"id": "no spaces"}), "invalid_prompt", "session.id"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(
    value: bytes | None, error_type: str, message_part: str
) -> None:
    """Every intake rule turns a bad record into a rejection naming the cause; nothing is sent to the API."""
    decoded = decode_prompt(value, RULES, NOW)
    assert isinstance(decoded, Rejection)
    assert decoded.error.type == error_type
    assert message_part in decoded.error.message


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    """JSON nested past the parser's recursion limit is an invalid record, not an exception."""
    rules = PipelineSettings(_env_file=None, max_prompt_bytes=1_000_000)  # type: ignore[call-arg]
    decoded = decode_prompt(b"[" * 200_000 + b"]" * 200_000, rules, NOW)
    assert isinstance(decoded, Rejection) and decoded.error.type in {"invalid_json", "invalid_prompt"}


def test_valid_prompt_within_deadline_passes() -> None:
    """A well-formed prompt inside every limit comes back as a PromptEvent."""
    decoded = decode_prompt(_prompt(deadline=(NOW + timedelta(minutes=5)).isoformat()), RULES, NOW)
    assert isinstance(decoded, PromptEvent) and decoded.custom_id == "p-1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain text", ("plain text", "utf-8")),
        (b"\xff\x00", (base64.b64encode(b"\xff\x00").decode(), "base64")),
    ],
)
def test_original_bytes_are_kept_for_replay(raw: bytes, expected: tuple[str, str]) -> None:
    """UTF-8 input is carried as text, anything else as base64."""
    assert original_text(raw) == expected


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (10, 2.5, 5.0)]
)
def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    """Delays double per attempt, are jittered into the upper half, and stop growing at the cap."""
    rng = random.Random(1)
    delays = [attempt_delay(attempt, 0.5, 5.0, None, rng) for _ in range(50)]
    assert all(low <= d <= high for d in delays)


def test_server_retry_after_wins_over_backoff() -> None:
    """A retry-after from the API is used as given."""
    assert attempt_delay(1, 0.5, 5.0, retry_after=7.0) == 7.0


def test_token_bucket_allows_a_burst_then_paces() -> None:
    """A 60/min bucket lets 60 through at once, then one per second."""
    bucket = TokenBucket(60, now=0.0)
    assert [bucket.reserve(1, 0.0) for _ in range(60)] == [0.0] * 60
    assert bucket.reserve(1, 0.0) == pytest.approx(1.0)
    assert bucket.reserve(1, 2.0) == pytest.approx(0.0)


def test_a_429_pauses_every_new_request_of_the_process() -> None:
    """After the API asks for retry-after, the shared gate holds new requests until then."""
    gate = RateGate(rpm=0, tpm=0, now=0.0)
    assert gate.reserve(100, 0.0) == 0.0
    gate.pause(3.0, now=10.0)
    assert gate.reserve(100, 11.0) == pytest.approx(2.0)
    assert gate.reserve(100, 13.5) == 0.0
