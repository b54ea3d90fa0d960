"""The official SDK against the emulator: messages, streams, tools, thinking, usage, auth."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)

from service.emulator import Emulator, EmulatorConfig
from tests.emulator.conftest import API_KEY, params

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "hourly": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}},
                "required": ["lat"],
            },
        },
        "required": ["city", "days", "unit", "hourly", "tags", "where"],
    },
}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small JSON Schema check covering the keywords WEATHER_TOOL uses."""
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return (
            isinstance(value, dict)
            and all(k in value for k in schema.get("required", []))
            and all(conforms(v, props[k]) for k, v in value.items())
        )
    if kind == "array":
        return (
            isinstance(value, list)
            and schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9)
            and all(conforms(v, schema.get("items", {})) for v in value)
        )
    if kind == "string":
        return isinstance(value, str) and len(value) >= schema.get("minLength", 0)
    if kind in ("integer", "number"):
        ok = isinstance(value, int) if kind == "integer" else isinstance(value, int | float)
        return ok and schema.get("minimum", -(10**9)) <= value <= schema.get("maximum", 10**9)
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def blocks(message: anthropic.types.Message) -> list[dict[str, Any]]:
    """Content as plain dicts, so parsed (stream) and plain (create) block classes compare equal."""
    return [b.model_dump(exclude={"parsed_output"}, exclude_none=True) for b in message.content]


async def test_raw_stream_yields_every_event_type_in_order(aclient: anthropic.AsyncAnthropic) -> None:
    """A raw stream parses into start, block start/delta/stop with indexes 0..n-1, delta and stop."""
    stream = await aclient.messages.create(**params(), stream=True)
    events = [event async for event in stream]
    assert isinstance(events[0], RawMessageStartEvent)
    assert events[0].message.content == [] and events[0].message.stop_reason is None
    assert events[0].message.usage.output_tokens == 1
    assert isinstance(events[1], RawContentBlockStartEvent) and events[1].index == 0
    assert all(
        isinstance(e, RawContentBlockDeltaEvent) and e.delta.type == "text_delta" for e in events[2:-3]
    )
    assert isinstance(events[-3], RawContentBlockStopEvent) and events[-3].index == 0
    assert isinstance(events[-2], RawMessageDeltaEvent) and events[-2].delta.stop_reason == "end_turn"
    assert isinstance(events[-1], RawMessageStopEvent)


async def test_stream_final_message_equals_non_streaming_answer(aclient: anthropic.AsyncAnthropic) -> None:
    """messages.stream().get_final_message() has the same content, stop reason and usage as create()."""
    body = params(
        system="Be brief.",
        tools=[WEATHER_TOOL],
        thinking={"type": "adaptive"},
        max_tokens=3000,
        messages=[{"role": "user", "content": "Use get_weather for Oslo."}],
    )
    created = await aclient.messages.create(**body)
    async with aclient.messages.stream(**body) as stream:
        final = await stream.get_final_message()
    assert blocks(final) == blocks(created)
    assert (final.stop_reason, final.stop_sequence) == (created.stop_reason, created.stop_sequence)
    assert final.usage == created.usage
    assert final.usage.output_tokens > 1


async def test_text_stream_concatenates_to_the_answer_text(aclient: anthropic.AsyncAnthropic) -> None:
    """text_stream chunks join to the final TextBlock text."""
    async with aclient.messages.stream(**params()) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert isinstance(final.content[0], TextBlock) and text == final.content[0].text and text


async def test_same_seed_and_body_give_the_same_answer(aclient: anthropic.AsyncAnthropic) -> None:
    """Content is deterministic for a seed and body; a different prompt gives different content."""
    first = await aclient.messages.create(**params())
    again = await aclient.messages.create(**params())
    other = await aclient.messages.create(**params(messages=[{"role": "user", "content": "Other."}]))
    assert blocks(first) == blocks(again) and first.id != again.id
    assert blocks(first) != blocks(other)


async def test_max_tokens_cuts_the_same_text_with_stop_reason_max_tokens(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """A small max_tokens yields a prefix of the full answer, exactly max_tokens long."""
    full = await aclient.messages.create(**params(max_tokens=4000))
    cut = await aclient.messages.create(**params(max_tokens=7))
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 7
    assert isinstance(cut.content[0], TextBlock) and isinstance(full.content[0], TextBlock)
    assert full.content[0].text.startswith(cut.content[0].text)
    assert full.stop_reason == "end_turn"


async def test_stop_sequence_ends_text_before_it(aclient: anthropic.AsyncAnthropic) -> None:
    """A stop sequence taken from the full answer ends the text just before it (stop_sequence set)."""
    full = await aclient.messages.create(**params(max_tokens=4000))
    assert isinstance(full.content[0], TextBlock)
    words = full.content[0].text.split()
    stop = words[len(words) // 2].strip(".,")
    cut = await aclient.messages.create(**params(max_tokens=4000, stop_sequences=[stop]))
    async with aclient.messages.stream(**params(max_tokens=4000, stop_sequences=[stop])) as stream:
        streamed = await stream.get_final_message()
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == stop
    assert isinstance(cut.content[0], TextBlock)
    assert cut.content[0].text == full.content[0].text[: full.content[0].text.index(stop)]
    assert blocks(streamed) == blocks(cut) and streamed.stop_sequence == stop


async def test_named_tool_round_trips_into_a_valid_tool_use_block(aclient: anthropic.AsyncAnthropic) -> None:
    """With tool_choice auto, naming the tool yields a ToolUseBlock whose input fits input_schema."""
    body = params(tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "Call get_weather please."}])
    async with aclient.messages.stream(**body) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    tool = final.content[-1]
    assert isinstance(tool, ToolUseBlock) and tool.name == "get_weather" and tool.id.startswith("toolu_")
    assert conforms(tool.input, WEATHER_TOOL["input_schema"])
    created = await aclient.messages.create(**body)
    assert isinstance(created.content[-1], ToolUseBlock) and created.content[-1].input == tool.input


async def test_input_json_deltas_start_empty_and_concatenate_to_the_input(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """input_json_delta fragments begin with "" and join to JSON equal to the block's input."""
    body = params(tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "Call get_weather."}])
    stream = await aclient.messages.create(**body, stream=True)
    fragments = [
        e.delta.partial_json
        async for e in stream
        if isinstance(e, RawContentBlockDeltaEvent) and e.delta.type == "input_json_delta"
    ]
    created = await aclient.messages.create(**body)
    assert fragments[0] == "" and len(fragments) > 2
    assert isinstance(created.content[-1], ToolUseBlock)  # after a one-sentence preamble
    assert json.loads("".join(fragments)) == created.content[-1].input


@pytest.mark.parametrize(
    ("tool_choice", "prompt", "expect_tool"),
    [
        ({"type": "auto"}, "What is the weather?", False),
        ({"type": "auto"}, "use get_weather", True),
        ({"type": "any"}, "What is the weather?", True),
        ({"type": "none"}, "use get_weather", False),
    ],
)
async def test_tool_choice_decides_whether_a_tool_is_called(
    aclient: anthropic.AsyncAnthropic, tool_choice: dict[str, Any], prompt: str, expect_tool: bool
) -> None:
    """auto calls a tool only when the prompt names it; any always; none never (on Haiku 4.5: the
    5.5 models refuse forced tool use)."""
    message = await aclient.messages.create(
        **params(
            model="claude-haiku-4-5",
            tools=[WEATHER_TOOL],
            tool_choice=tool_choice,
            messages=[{"role": "user", "content": prompt}],
        )
    )
    assert (message.stop_reason == "tool_use") is expect_tool
    assert any(isinstance(b, ToolUseBlock) for b in message.content) is expect_tool


async def test_tool_result_turn_gets_a_text_answer(aclient: anthropic.AsyncAnthropic) -> None:
    """After a tool_result the model answers in text (the tool loop terminates)."""
    first = await aclient.messages.create(
        **params(tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "get_weather"}])
    )
    tool = first.content[-1]
    assert isinstance(tool, ToolUseBlock)
    follow_up = [
        {"role": "user", "content": "get_weather"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "12C, clear"}],
        },
    ]
    second = await aclient.messages.create(**params(tools=[WEATHER_TOOL], messages=follow_up))
    assert second.stop_reason == "end_turn" and isinstance(second.content[0], TextBlock)
    assert second.usage.input_tokens > first.usage.input_tokens


async def test_thinking_block_streams_deltas_then_signature(aclient: anthropic.AsyncAnthropic) -> None:
    """adaptive thinking → block 0 is thinking (thinking_deltas, one signature_delta last), then text."""
    body = params(max_tokens=2000, thinking={"type": "adaptive"})
    stream = await aclient.messages.create(**body, stream=True)
    events = [e async for e in stream]
    deltas = [e.delta.type for e in events if isinstance(e, RawContentBlockDeltaEvent) and e.index == 0]
    assert deltas[-1] == "signature_delta" and set(deltas[:-1]) == {"thinking_delta"}
    stop_index = next(
        i for i, e in enumerate(events) if isinstance(e, RawContentBlockStopEvent) and e.index == 0
    )
    assert isinstance(events[stop_index - 1], RawContentBlockDeltaEvent)
    assert events[stop_index - 1].delta.type == "signature_delta"
    async with aclient.messages.stream(**body) as helper:
        final = await helper.get_final_message()
    thinking, text = final.content
    assert isinstance(thinking, ThinkingBlock) and thinking.thinking and len(thinking.signature) > 100
    assert isinstance(text, TextBlock) and text.text


async def test_count_tokens_equals_usage_input_tokens(aclient: anthropic.AsyncAnthropic) -> None:
    """count_tokens returns the same input estimate the message usage reports."""
    body = params(system="You are terse.", tools=[WEATHER_TOOL])
    counted = await aclient.messages.count_tokens(
        model=body["model"], messages=body["messages"], system=body["system"], tools=body["tools"]
    )
    message = await aclient.messages.create(**body)
    assert counted.input_tokens == message.usage.input_tokens > 300
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0


async def test_fixed_output_tokens_fix_the_answer_length() -> None:
    """EmulatorConfig(output_tokens=N) makes every answer exactly N output tokens."""
    async with (
        Emulator(EmulatorConfig(output_tokens=50, tokens_per_delta=5)) as emu,
        anthropic.AsyncAnthropic(base_url=emu.base_url, api_key=API_KEY) as client,
    ):
        message = await client.messages.create(**params())
        stream = await client.messages.create(**params(), stream=True)
        deltas = [e async for e in stream if isinstance(e, RawContentBlockDeltaEvent)]
    assert message.usage.output_tokens == 50 and message.stop_reason == "end_turn"
    assert len(deltas) == 10


async def test_sampling_params_and_any_version_are_accepted_on_haiku_4_5(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """temperature/top_k via extra_body (SDK 2.15 no longer types them) and an old anthropic-version
    header are accepted on a model that still takes sampling params."""
    message = await aclient.messages.create(
        **params(),
        extra_body={"temperature": 0.2, "top_k": 5},
        extra_headers={"anthropic-version": "2023-06-01"},
    )
    assert message.stop_reason == "end_turn"


async def test_x_api_key_and_bearer_are_both_accepted(emu: Emulator) -> None:
    """Requests authenticate with x-api-key or Authorization: Bearer; the SDK's auth_token works too."""
    async with httpx2.AsyncClient(base_url=emu.base_url) as raw:
        by_key = await raw.post("/v1/messages", json=params(), headers={"x-api-key": "k"})
        by_bearer = await raw.post("/v1/messages", json=params(), headers={"authorization": "Bearer k"})
    assert by_key.status_code == by_bearer.status_code == 200
    async with anthropic.AsyncAnthropic(base_url=emu.base_url, auth_token="tok") as client:
        assert (await client.messages.create(**params())).content


async def test_missing_credentials_raise_authentication_error(emu: Emulator) -> None:
    """No x-api-key and no Bearer → 401 authentication_error → AuthenticationError."""
    async with httpx2.AsyncClient(base_url=emu.base_url) as raw:
        response = await raw.post("/v1/messages", json=params())
    assert response.status_code == 401
    body = response.json()
    assert (
        body["error"]["type"] == "authentication_error"
        and body["request_id"] == response.headers["request-id"]
    )
    async with anthropic.AsyncAnthropic(
        base_url=emu.base_url, api_key="k", default_headers={"Authorization": anthropic.Omit()}
    ) as client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(**params())


async def test_every_response_carries_request_id_and_rate_limit_headers(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """request-id (also on the Message), organization id and the twelve rate-limit headers are sent."""
    raw = await aclient.messages.with_raw_response.create(**params())
    message = await raw.parse()
    assert raw.headers["request-id"].startswith("req_") and message._request_id == raw.headers["request-id"]
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["anthropic-organization-id"]
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        for field in ("limit", "remaining", "reset"):
            assert raw.headers[f"anthropic-ratelimit-{kind}-{field}"]
    assert raw.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")


def test_sync_client_streams_against_the_threaded_emulator(client: anthropic.Anthropic) -> None:
    """The sync SDK works against EmulatorThread: stream and create agree."""
    with client.messages.stream(**params()) as stream:
        final = stream.get_final_message()
    created = client.messages.create(**params())
    assert blocks(final) == blocks(created) and final.usage == created.usage
