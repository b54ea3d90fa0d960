"""The pipeline's fold against the SDK's own accumulator: the same streams give equal Messages."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from service.emulator.features import NO_CACHE, NORMAL, Behaviour, CacheUsage
from service.emulator.generate import plan_message
from service.emulator.sse import stream_frames
from service.pipeline.accumulate import MessageAccumulator

MODEL = "claude-sonnet-5-5"
CITATION = {
    "type": "char_location",
    "cited_text": "The sky is blue.",
    "document_index": 0,
    "document_title": "Facts",
    "start_char_index": 0,
    "end_char_index": 16,
}
WEB_CITATION = {
    "type": "web_search_result_location",
    "cited_text": "Paris is the capital",
    "encrypted_index": "Eo8BCioIAhgB",
    "title": "Paris",
    "url": "https://example.com/paris",
}
CONTAINER = {"id": "container_011CPR5CNjB747bTd36fQLFk", "expires_at": "2026-12-01T12:00:00Z"}


def start(**message: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    return {"type": "message_start", "message": {**body, **message}}


def block(index: int, content_block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, **body: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(
    stop_reason: str = "end_turn", usage: dict[str, Any] | None = None, **extra: Any
) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None, **extra},
            "usage": usage or {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ]


def text(index: int, *pieces: str, **start_extra: Any) -> list[dict[str, Any]]:
    return [
        block(index, {"type": "text", "text": "", **start_extra}),
        *(delta(index, type="text_delta", text=p) for p in pieces),
        stop(index),
    ]


def tool(index: int, kind: str, name: str, *parts: str) -> list[dict[str, Any]]:
    return [
        block(index, {"type": kind, "id": f"{kind}_{index}", "name": name, "input": {}}),
        *(delta(index, type="input_json_delta", partial_json=p) for p in parts),
        stop(index),
    ]


def result(index: int, content_block: dict[str, Any]) -> list[dict[str, Any]]:
    return [block(index, content_block), stop(index)]


HAND: dict[str, list[dict[str, Any]]] = {
    "text": [start(), *text(0, "Hello", ", world"), *end()],
    "empty text": [start(), *text(0), *end()],
    "citations absent": [
        start(),
        *text(0, "The sky")[:-1],
        delta(0, type="citations_delta", citation=CITATION),
        stop(0),
        *end(),
    ],
    "citations []": [
        start(),
        *text(0, "The sky", citations=[])[:-1],
        delta(0, type="citations_delta", citation=CITATION),
        delta(0, type="citations_delta", citation=CITATION),
        stop(0),
        *end(),
    ],
    "citations null": [
        start(),
        *text(0, "The sky", citations=None)[:-1],
        delta(0, type="citations_delta", citation=WEB_CITATION),
        stop(0),
        *end(),
    ],
    "citations null, none arrive": [start(), *text(0, "plain", citations=None), *end()],
    "tool use": [
        start(),
        *text(0, "Let me check."),
        *tool(1, "tool_use", "get_weather", "", '{"city": ', '"Par', 'is", "days": [1, ', "2]}"),
        *end("tool_use"),
    ],
    "tool use, no input": [start(), *tool(0, "tool_use", "now"), *end("tool_use")],
    "tool use, empty parts": [start(), *tool(0, "tool_use", "now", "", ""), *end("tool_use")],
    "thinking with signature": [
        start(),
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, type="thinking_delta", thinking="First, "),
        delta(0, type="thinking_delta", thinking="the sum."),
        delta(0, type="signature_delta", signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3h"),
        stop(0),
        *text(1, "4"),
        *end(),
    ],
    "redacted thinking": [
        start(),
        *result(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}),
        *text(1, "Done."),
        *end(),
    ],
    "web search": [
        start(),
        *tool(1 - 1, "server_tool_use", "web_search", '{"query": "capital of ', 'France"}'),
        *result(
            1,
            {
                "type": "web_search_tool_result",
                "tool_use_id": "server_tool_use_0",
                "content": [
                    {
                        "type": "web_search_result",
                        "title": "Paris",
                        "url": "https://example.com/paris",
                        "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1",
                        "page_age": "April 30, 2025",
                    }
                ],
            },
        ),
        *text(2, "Paris.")[:-1],
        delta(2, type="citations_delta", citation=WEB_CITATION),
        stop(2),
        *end(
            usage={
                "output_tokens": 40,
                "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
            }
        ),
    ],
    "web search error": [
        start(),
        *tool(0, "server_tool_use", "web_search", '{"query": "x"}'),
        *result(
            1,
            {
                "type": "web_search_tool_result",
                "tool_use_id": "server_tool_use_0",
                "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
            },
        ),
        *text(2, "I could not search."),
        *end(),
    ],
    "web fetch and its error": [
        start(),
        *tool(0, "server_tool_use", "web_fetch", '{"url": "https://example.com"}'),
        *result(
            1,
            {
                "type": "web_fetch_tool_result",
                "tool_use_id": "server_tool_use_0",
                "content": {
                    "type": "web_fetch_result",
                    "url": "https://example.com",
                    "retrieved_at": "2026-12-01T00:00:00Z",
                    "content": {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Example"},
                        "title": "Example",
                    },
                },
            },
        ),
        *tool(2, "server_tool_use", "web_fetch", '{"url": "https://bad.example"}'),
        *result(
            3,
            {
                "type": "web_fetch_tool_result",
                "tool_use_id": "server_tool_use_2",
                "content": {"type": "web_fetch_tool_result_error", "error_code": "url_not_accessible"},
            },
        ),
        *end(
            usage={"output_tokens": 9, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 2}}
        ),
    ],
    "code execution with container": [
        start(),
        *tool(0, "server_tool_use", "code_execution", '{"code": "print(', '1 + 1)"}'),
        *result(
            1,
            {
                "type": "code_execution_tool_result",
                "tool_use_id": "server_tool_use_0",
                "content": {
                    "type": "code_execution_result",
                    "stdout": "2\n",
                    "stderr": "",
                    "return_code": 0,
                    "content": [],
                },
            },
        ),
        *tool(2, "server_tool_use", "code_execution", '{"code": "while True: pass"}'),
        *result(
            3,
            {
                "type": "code_execution_tool_result",
                "tool_use_id": "server_tool_use_2",
                "content": {
                    "type": "code_execution_tool_result_error",
                    "error_code": "execution_time_exceeded",
                },
            },
        ),
        *end(container=CONTAINER),
    ],
    "container null on the delta keeps the start's": [
        start(container=CONTAINER),
        *text(0, "x"),
        *end(container=None),
    ],
    "pause_turn": [
        start(),
        *tool(0, "server_tool_use", "web_search", '{"query": "a"}'),
        *end("pause_turn"),
    ],
    "refusal with stop_details": [
        start(),
        *text(0, "I can't"),
        *end("refusal", stop_details={"type": "refusal", "category": "cyber", "explanation": "Not this."}),
    ],
    "refusal without category": [
        start(),
        *end("refusal", stop_details={"type": "refusal", "category": None, "explanation": None}),
    ],
    "model_context_window_exceeded": [start(), *text(0, "long"), *end("model_context_window_exceeded")],
    "usage counts overwrite the start's": [
        start(
            usage={
                "input_tokens": 10,
                "output_tokens": 1,
                "cache_read_input_tokens": 4,
                "service_tier": "standard",
            }
        ),
        *text(0, "x"),
        *end(usage={"output_tokens": 5, "input_tokens": 12, "cache_creation_input_tokens": 3}),
    ],
    "unknown event type": [start(), {"type": "brand_new_event", "x": 1}, *text(0, "x"), *end()],
    "unknown block type": [
        start(),
        *result(0, {"type": "brand_new_block", "payload": {"a": [1, 2]}}),
        *text(1, "x"),
        *end(),
    ],
    "unknown delta type": [
        start(),
        *text(0, "x")[:-1],
        delta(0, type="brand_new_delta", stuff="y"),
        stop(0),
        *end(),
    ],
    "text delta on a non-text block": [
        start(),
        *result(0, {"type": "redacted_thinking", "data": "abc"})[:-1],
        delta(0, type="text_delta", text="ignored"),
        delta(0, type="input_json_delta", partial_json='{"x": 1}'),
        stop(0),
        *end(),
    ],
}


def emulated(
    behaviour: Behaviour = NORMAL, cache: CacheUsage = NO_CACHE, **params: Any
) -> list[dict[str, Any]]:
    """The events of the emulator's stream for ``params`` (parsed from its SSE frames)."""
    body = {"model": MODEL, "max_tokens": 2048, "messages": [{"role": "user", "content": "hi"}], **params}
    plan = plan_message(body, seed=3, tokens_per_delta=None, behaviour=behaviour, cache=cache, now=1.8e9)
    events = []
    for data, _ in stream_frames(plan):
        line = next(x for x in data.decode().split("\n") if x.startswith("data: "))
        events.append(json.loads(line[len("data: ") :]))
    return [e for e in events if e["type"] != "ping"]


WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
SERVER = [
    {"type": "web_search_20260209", "name": "web_search"},
    {"type": "web_fetch_20260209", "name": "web_fetch"},
    {"type": "code_execution_20260120", "name": "code_execution"},
]
ASK_ALL = [{"role": "user", "content": "web search, web fetch and code execution"}]
EMULATED: dict[str, list[dict[str, Any]]] = {
    "emulator text": emulated(),
    "emulator text cut by max_tokens": emulated(max_tokens=5),
    "emulator stop sequence": emulated(stop_sequences=["the"]),
    "emulator tool use": emulated(
        tools=[WEATHER], messages=[{"role": "user", "content": "use get_weather for Paris"}]
    ),
    "emulator server tools and container": emulated(tools=SERVER, messages=ASK_ALL),
    "emulator server tool errors": emulated(
        Behaviour(tool_error="unavailable"), tools=SERVER, messages=ASK_ALL
    ),
    "emulator pause_turn": emulated(Behaviour(pause_turns=1), tools=SERVER, messages=ASK_ALL),
    "emulator refusal": emulated(Behaviour(refusal="bio")),
    "emulator context window": emulated(Behaviour(context_window=20)),
    "emulator structured output": emulated(
        output_config={"format": {"type": "json_schema", "schema": WEATHER["input_schema"]}}
    ),
    "emulator adaptive thinking": emulated(thinking={"type": "adaptive"}),
    "emulator cache usage": emulated(cache=CacheUsage(read=2000, write_5m=100, write_1h=1100)),
}


def sdk_fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in copy.deepcopy(events):
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    # The SDK serialises blocks it has no model for with a pydantic warning; the content is still kept.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return snapshot.to_dict(mode="json")


def our_fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    accumulator = MessageAccumulator()
    for event in copy.deepcopy(events):
        accumulator.add(event)
    return accumulator.result()


CASES = {**HAND, **EMULATED}


@pytest.mark.parametrize("events", list(CASES.values()), ids=list(CASES))
def test_fold_equals_the_sdk_accumulator(events: list[dict[str, Any]]) -> None:
    """The pipeline's final Message equals the SDK's accumulated snapshot, as JSON."""
    assert json.loads(json.dumps(our_fold(events))) == sdk_fold(events)


@pytest.mark.parametrize("events", list(EMULATED.values()), ids=list(EMULATED))
def test_emulated_events_validate_against_the_sdk_types(events: list[dict[str, Any]]) -> None:
    """Every event the emulator streams validates strictly as the SDK's RawMessageStreamEvent."""
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    for event in events:
        adapter.validate_python(event)
    Message.model_validate(our_fold(events))
