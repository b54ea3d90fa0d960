"""SSE events -> DeltaEvent bytes, the accumulated Message, and coalescing: pure, table-driven."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import DeltaEvent
from service.pipeline.accumulate import MessageAccumulator, StreamIncomplete
from service.pipeline.coalesce import Coalescer
from service.pipeline.deltas import DeltaEncoder

START = {
    "type": "message_start",
    "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 0},
    },
}  # fmt: skip


def _delta(index: int, kind: str, field: str, text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: text}}


STREAM: list[dict[str, Any]] = [
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    _delta(0, "thinking_delta", "thinking", "Let me "),
    _delta(0, "thinking_delta", "thinking", "think."),
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig=="}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    _delta(1, "text_delta", "text", "Hello"),
    _delta(1, "text_delta", "text", ", world"),
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
    },
    _delta(2, "input_json_delta", "partial_json", ""),
    _delta(2, "input_json_delta", "partial_json", '{"city": "Pa'),
    _delta(2, "input_json_delta", "partial_json", 'ris"}'),
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"type": "message_delta", "stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 9, "input_tokens": None},
    },
    {"type": "message_stop"},
]  # fmt: skip


def _raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_encoded_delta_is_a_valid_delta_event_with_the_api_event_verbatim() -> None:
    """The spliced bytes parse as a DeltaEvent and `event` is the API's JSON unchanged."""
    encoder = DeltaEncoder(
        "req-1", 4, 2, {"tenant": "acme"}, b"/claude-kafka/test",
        (("traceparent", b"00-abc-def-01"), ("tracestate", b"k=v"), ("baggage", b"tenant=acme")),
    )  # fmt: skip
    values = [encoder.encode(_raw(event)) for event in STREAM]
    parsed = [DeltaEvent.model_validate_json(value) for value, _ in values]
    assert [p.seq for p in parsed] == list(range(len(STREAM)))
    assert [p.event for p in parsed] == STREAM
    assert {(p.custom_id, p.generation, p.attempt) for p in parsed} == {("req-1", 4, 2)}
    assert parsed[0].attributes == {"tenant": "acme"}
    headers = dict(values[3][1])
    assert headers["ce_id"] == b"req-1:4:2:3"
    assert headers["ce_type"] == b"com.anthropic.claude-kafka.delta.v1"
    assert headers["traceparent"] == b"00-abc-def-01"
    assert headers["tracestate"] == b"k=v" and headers["baggage"] == b"tenant=acme"
    assert headers["content-type"] == b"application/json"


def test_custom_id_and_attributes_are_escaped_safely() -> None:
    """Quotes and unicode in attributes cannot break the spliced JSON."""
    encoder = DeltaEncoder("id_-9", 0, 1, {"note": 'he said "hi"\n', "ü": "✓"}, b"/s", ())
    value, headers = encoder.encode(b'{"type":"message_stop"}')
    assert DeltaEvent.model_validate_json(value).attributes == {"note": 'he said "hi"\n', "ü": "✓"}
    assert "traceparent" not in dict(headers)


def test_accumulated_message_matches_the_non_streaming_shape() -> None:
    """Thinking, text and tool_use blocks fold into the final Message with parsed tool input and usage."""
    accumulator = MessageAccumulator()
    for event in STREAM:
        accumulator.add(event)
    message = accumulator.result()
    assert message["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="},
        {"type": "text", "text": "Hello, world"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 12, "output_tokens": 9, "cache_read_input_tokens": 0}
    assert accumulator.first_delta_seen


@pytest.mark.parametrize("cut", [1, 5, len(STREAM) - 1])
def test_stream_without_message_stop_is_incomplete(cut: int) -> None:
    """A body that ends before message_stop never yields a Message."""
    accumulator = MessageAccumulator()
    for event in STREAM[:cut]:
        accumulator.add(event)
    with pytest.raises(StreamIncomplete):
        accumulator.result()


def _coalesce(events: list[tuple[float, dict[str, Any]]], window: float) -> list[dict[str, Any]]:
    coalescer = Coalescer(window)
    out: list[bytes] = []
    for now, event in events:
        out.extend(coalescer.push(event, _raw(event), now))
    out.extend(coalescer.flush())
    return [json.loads(text) for text in out]


@pytest.mark.parametrize(
    ("events", "expected_kinds"),
    [
        # Adjacent text deltas of one block inside the window merge into one.
        (
            [(0.0, _delta(0, "text_delta", "text", "a")), (0.001, _delta(0, "text_delta", "text", "b"))],
            ["ab"],
        ),
        # Past the window a new merged delta starts.
        (
            [(0.0, _delta(0, "text_delta", "text", "a")), (0.02, _delta(0, "text_delta", "text", "b"))],
            ["a", "b"],
        ),
        # Never across blocks.
        (
            [(0.0, _delta(0, "text_delta", "text", "a")), (0.001, _delta(1, "text_delta", "text", "b"))],
            ["a", "b"],
        ),
        # Never across delta types.
        (
            [
                (0.0, _delta(0, "thinking_delta", "thinking", "a")),
                (0.001, _delta(0, "text_delta", "text", "b")),
            ],
            ["a", "b"],
        ),
        # Tool input fragments merge too.
        (
            [
                (0.0, _delta(0, "input_json_delta", "partial_json", '{"a"')),
                (0.001, _delta(0, "input_json_delta", "partial_json", ": 1}")),
            ],
            ['{"a": 1}'],
        ),
    ],
)
def test_coalescing_merges_only_adjacent_deltas_of_one_block(
    events: list[tuple[float, dict[str, Any]]], expected_kinds: list[str]
) -> None:
    """DELTA_COALESCE_MS merges neighbours of the same block and type within the window, nothing else."""
    merged = _coalesce(events, 0.01)
    texts = [next(v for k, v in e["delta"].items() if k != "type") for e in merged]
    assert texts == expected_kinds


def test_coalesced_stream_folds_to_the_same_message() -> None:
    """Merging deltas changes the number of events, never the accumulated Message."""
    merged = _coalesce([(0.0, event) for event in STREAM], 0.01)
    assert len(merged) < len(STREAM)
    plain, coalesced = MessageAccumulator(), MessageAccumulator()
    for event in STREAM:
        plain.add(event)
    for event in merged:
        coalesced.add(event)
    assert coalesced.result() == plain.result()
