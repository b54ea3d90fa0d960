"""Pure cores: answer planning, schema sampling, SSE frames and fault directives."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from service.emulator.config import FaultRates
from service.emulator.errors import ApiError
from service.emulator.faults import FaultBook, directive_fault, find_directive, parse_directive, rate_fault
from service.emulator.generate import generate_message, plan_message
from service.emulator.schema_sample import sample
from service.emulator.sse import stream_frames

BODY: dict[str, Any] = {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": "hi"}]}


def test_generate_message_is_pure_and_seeded() -> None:
    """Same params and seed → same message; another seed or request_key → other content."""
    a = generate_message(BODY, seed=1)
    assert a == generate_message(BODY, seed=1)
    assert a["content"] != generate_message(BODY, seed=2)["content"]
    assert a["content"] != generate_message(BODY, seed=1, request_key="x")["content"]


def test_stream_and_message_come_from_one_plan() -> None:
    """Concatenated text deltas equal the message text; message_delta carries the total usage."""
    plan = plan_message(BODY, seed=3)
    frames = [json.loads(f.split(b"data: ", 1)[1]) for f, _ in stream_frames(plan)]
    text = "".join(f["delta"]["text"] for f in frames if f["type"] == "content_block_delta")
    assert text == plan.to_message()["content"][0]["text"]
    assert (
        frames[-2]["usage"]["output_tokens"] == plan.output_tokens == sum(t for _, t in stream_frames(plan))
    )


@pytest.mark.parametrize("max_tokens", [0, 1, 5, 64])
def test_output_never_exceeds_max_tokens(max_tokens: int) -> None:
    """usage.output_tokens ≤ max_tokens, with stop_reason max_tokens when cut."""
    message = generate_message({**BODY, "max_tokens": max_tokens}, seed=5, output_tokens=100)
    assert message["usage"]["output_tokens"] == max_tokens and message["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "enum": ["x", "y"]}}, "required": ["a"]},
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 4}},
            "required": ["n"],
        },
        {
            "type": "object",
            "properties": {"l": {"type": "array", "items": {"type": "number"}, "minItems": 2}},
            "required": ["l"],
        },
        {
            "type": "object",
            "properties": {
                "o": {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]}
            },
            "required": ["o"],
        },
        {
            "type": "object",
            "properties": {"u": {"type": ["string", "null"], "format": "uuid"}},
            "required": ["u"],
        },
    ],
)
def test_schema_sample_fills_required_fields_with_valid_types(schema: dict[str, Any]) -> None:
    """Sampled tool input has every required property with a value of the declared type."""
    for seed in range(20):
        value = sample(schema, random.Random(seed))
        assert set(schema["required"]) <= set(value)
    value = sample(schema, random.Random(0))
    if "a" in value:
        assert value["a"] in ("x", "y")
    if "n" in value:
        assert value["n"] in (3, 4)
    if "l" in value:
        assert len(value["l"]) >= 2 and all(isinstance(v, float) for v in value["l"])
    if "o" in value:
        assert isinstance(value["o"]["b"], bool)


@pytest.mark.parametrize(
    ("header", "user_id", "expected"),
    [
        (None, "tenant-1 emu:status=529;times=1 trailing", "status=529;times=1"),
        ("emu:status=500", "emu:status=529", "status=500"),
        ("drop_after=3", None, "drop_after=3"),
        (None, "no directive here", None),
    ],
)
def test_find_directive_prefers_header_then_user_id(
    header: str | None, user_id: str | None, expected: str | None
) -> None:
    """The header wins; otherwise the emu: token inside metadata.user_id."""
    assert find_directive(header, user_id) == expected


def test_directive_grammar_builds_faults() -> None:
    """status, retry_after(_ms), drop/truncate/sse_error_after, ttft_ms and slow_ms map to faults."""
    fault = directive_fault(
        parse_directive("status=429;retry_after_ms=50"), stream=False, default_retry_after_s=1
    )
    assert fault.kind == "status_429" and fault.error is not None
    assert fault.error.headers == {"retry-after-ms": "50", "retry-after": "1"}
    assert directive_fault(
        parse_directive("status=529"), stream=True, default_retry_after_s=1
    ).error == ApiError("overloaded_error")
    drop = directive_fault(parse_directive("drop_after=5"), stream=True, default_retry_after_s=1)
    assert (drop.kind, drop.cut_after, drop.cut_mode) == ("drop", 5, "drop")
    sse = directive_fault(
        parse_directive("sse_error_after=3;error=api_error"), stream=True, default_retry_after_s=1
    )
    assert (sse.cut_mode, sse.sse_error_type) == ("sse_error", "api_error")
    slow = directive_fault(parse_directive("ttft_ms=100;slow_ms=5"), stream=True, default_retry_after_s=1)
    assert (slow.kind, slow.ttft_ms, slow.slow_ms) == ("slow_first_token", 100, 5)
    assert not directive_fault(parse_directive("drop_after=5"), stream=False, default_retry_after_s=1).any


@pytest.mark.parametrize("text", ["status", "status=abc", "bogus=1"])
def test_malformed_directives_raise_bad_request(text: str) -> None:
    """Directive typos raise a 400 ApiError."""
    with pytest.raises(ApiError) as caught:
        parse_directive(text)
    assert caught.value.status == 400


def test_fault_book_injects_only_the_first_n_per_key() -> None:
    """times=N;key=K injects on the first N requests carrying K, then lets requests through."""
    book = FaultBook()
    directive = parse_directive("status=529;times=2;key=K")
    assert [book.take(directive) for _ in range(4)] == [True, True, False, False]
    assert book.take(parse_directive("status=529"))  # no times: always


def test_rate_fault_draws_are_deterministic_per_seed() -> None:
    """The same seed yields the same fault sequence; zero rates yield none."""
    rates = FaultRates(status_529=0.2, drop=0.2, slow_first_token=0.1)

    def kinds(seed: int) -> list[str | None]:
        rng = random.Random(seed)
        return [rate_fault(rates, rng, stream=True, retry_after_s=1, slow_ms=10).kind for _ in range(50)]

    assert kinds(1) == kinds(1) and {"status_529", "drop", None} <= set(kinds(1))
    rng = random.Random(0)
    assert not any(
        rate_fault(FaultRates(), rng, stream=True, retry_after_s=1, slow_ms=1).any for _ in range(20)
    )
