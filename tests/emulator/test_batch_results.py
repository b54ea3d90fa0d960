"""Result lines of a batch: shapes the SDK parses, lazy generation, and chunking on line boundaries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types.messages import MessageBatchIndividualResponse

from service.emulator.batch_results import chunked, out_of_order, request_id, result_lines, result_object
from service.emulator.batch_store import ResultEntry
from service.emulator.generate import generate_message

PARAMS = {"model": "claude-sonnet-5-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def entry(kind: str, **extra: Any) -> ResultEntry:
    params = json.dumps(PARAMS).encode() if kind == "succeeded" else None
    return ResultEntry(0, "req-a", kind, params, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "extra", "result"),
    [
        ("canceled", {}, {"type": "canceled"}),
        ("expired", {}, {"type": "expired"}),
        (
            "errored",
            {"error_type": "api_error"},
            {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "api_error", "message": "Internal server error"},
                    "request_id": request_id("msgbatch_x", "req-a"),
                },
            },
        ),
        (
            "errored",
            {"error_type": "not_found_error", "error_message": "model: claude-nope"},
            {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "not_found_error", "message": "model: claude-nope"},
                    "request_id": request_id("msgbatch_x", "req-a"),
                },
            },
        ),
    ],
)
def test_non_succeeded_results_have_the_wire_shape(kind, extra, result):
    """Errored lines wrap a full error envelope; canceled and expired carry only their type."""
    obj = result_object(entry(kind, **extra), batch_id="msgbatch_x", seed=0, generate=generate_message)
    assert obj == {"custom_id": "req-a", "result": result}
    parsed = MessageBatchIndividualResponse.model_validate(obj)
    assert parsed.result.type == kind


def test_succeeded_result_is_a_generated_message_on_the_batch_tier():
    """A succeeded line holds the message generate_message makes, with usage.service_tier batch."""
    obj = result_object(entry("succeeded"), batch_id="msgbatch_x", seed=3, generate=generate_message)
    expected = generate_message(PARAMS, seed=3, request_key="req-a")
    expected["usage"]["service_tier"] = "batch"
    assert obj["result"] == {"type": "succeeded", "message": expected}
    parsed = MessageBatchIndividualResponse.model_validate(obj)
    assert parsed.result.type == "succeeded"
    assert parsed.result.message.usage.service_tier == "batch"


def test_result_lines_generate_one_message_per_line_on_demand():
    """Messages are generated only as lines are consumed, never ahead of the reader."""
    calls: list[str | None] = []

    def fake(params: dict[str, Any], *, seed: int, request_key: str | None = None) -> dict[str, Any]:
        calls.append(request_key)
        return {"id": "msg", "usage": {}}

    entries = (ResultEntry(i, f"r{i}", "succeeded", b"{}") for i in range(1000))
    lines = result_lines(entries, batch_id="b", seed=0, generate=fake)
    first = next(lines)
    assert calls == ["r0"]
    assert json.loads(first)["result"]["message"]["usage"] == {"service_tier": "batch"}


@pytest.mark.parametrize(
    ("sizes", "chunk_bytes", "expected"),
    [
        ([], 10, []),
        ([3, 3, 3], 10, [9]),
        ([3, 3, 3, 3], 6, [6, 6]),
        ([3, 3, 3], 4, [6, 3]),
        ([20, 1], 5, [20, 1]),
    ],
)
def test_chunks_end_on_line_boundaries(sizes, chunk_bytes, expected):
    """Chunks are whole lines, about chunk_bytes each; one long line is its own chunk."""
    lines = [b"x" * (n - 1) + b"\n" for n in sizes]
    chunks = list(chunked(lines, chunk_bytes))
    assert [len(c) for c in chunks] == expected
    assert b"".join(chunks) == b"".join(lines)
    assert all(c.endswith(b"\n") for c in chunks)


def test_lines_are_single_json_objects_without_blank_lines():
    """Every line is one compact JSON object ending in a newline, even when text holds newlines."""
    entries = [
        ResultEntry(0, "a", "succeeded", json.dumps(PARAMS).encode()),
        ResultEntry(1, "b", "errored", None, "invalid_request_error", "multi\nline"),
        ResultEntry(2, "c", "expired", None),
    ]
    body = b"".join(result_lines(entries, batch_id="b", seed=0, generate=generate_message))
    lines = body.split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["custom_id"] for line in lines[:-1]] == ["a", "b", "c"]


@pytest.mark.parametrize("count", [2, 3, 63, 64, 65, 200])
def test_results_come_out_of_submission_order(count: int) -> None:
    """Every entry once, in an order other than submission order, the same on every download."""
    entries = [ResultEntry(i, f"req-{i}", "succeeded", b"{}") for i in range(count)]
    first = [e.index for e in out_of_order(iter(entries), batch_id="msgbatch_1")]
    again = [e.index for e in out_of_order(iter(entries), batch_id="msgbatch_1")]
    assert sorted(first) == list(range(count))
    assert first != list(range(count))
    assert first == again
