"""Today's API features on the emulator, read back through the official SDK's types and accumulator."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anthropic
import jsonschema
import pytest
from anthropic.types import (
    CodeExecutionToolResultBlock,
    Message,
    RefusalStopDetails,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    WebFetchToolResultBlock,
    WebSearchToolResultBlock,
)

MODEL = "claude-sonnet-5-5"  # the current default; its rules (no prefill, no forced tools) apply

pytestmark = pytest.mark.asyncio(loop_scope="session")

FAULT = "x-emulator-fault"
SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
CODE = {"type": "code_execution_20250825", "name": "code_execution"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 1},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "tags", "address"],
    "additionalProperties": False,
}


async def both(
    client: anthropic.AsyncAnthropic, headers: dict[str, str] | None = None, **params: Any
) -> Message:
    """Stream ``params`` through the SDK's accumulator and check the non-streaming answer equals it."""
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 2048, **params}
    async with client.messages.stream(**body, extra_headers=headers or {}) as stream:
        streamed = await stream.get_final_message()
    raw = await client.messages.with_raw_response.create(**body, extra_headers=headers or {})
    # Strict validation: every block and field the emulator sends must fit the SDK's own types.
    created = Message.model_validate_json(await raw.read())
    # Each answer has its own id and container expiry (counted from its own request).
    exclude: Any = {"id": True, "container": {"expires_at"}}
    assert created.model_dump(exclude=exclude) == streamed.model_dump(exclude=exclude)
    return streamed


ALL_BLOCKS = (
    ServerToolUseBlock,
    WebSearchToolResultBlock,
    WebFetchToolResultBlock,
    CodeExecutionToolResultBlock,
    TextBlock,
)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_structured_output_parses_against_the_schema(aclient: anthropic.AsyncAnthropic) -> None:
    """output_config.format json_schema yields one text block whose JSON validates against the schema."""
    for i in range(5):
        message = await both(
            aclient,
            messages=user(f"describe person {i}"),
            output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
        )
        assert message.stop_reason == "end_turn"
        [block] = message.content
        assert isinstance(block, TextBlock)
        jsonschema.validate(json.loads(block.text), SCHEMA)


async def test_cache_control_writes_then_reads_the_prefix(aclient: anthropic.AsyncAnthropic) -> None:
    """A 1h breakpoint writes the prefix (ephemeral_1h) on first use and reads it on a repeat."""
    long_text = f"{uuid.uuid4()} " + "You are a careful assistant who reads long manuals. " * 120
    system = [{"type": "text", "text": long_text, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    first = await aclient.messages.create(model=MODEL, max_tokens=64, system=system, messages=user("hi"))  # type: ignore[arg-type]
    usage = first.usage
    assert usage.cache_creation_input_tokens and usage.cache_creation_input_tokens >= 1024
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == usage.cache_creation_input_tokens
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert usage.cache_read_input_tokens == 0
    async with aclient.messages.stream(
        model=MODEL, max_tokens=64, system=system, messages=user("again")
    ) as s:  # type: ignore[arg-type]
        second = (await s.get_final_message()).usage
    assert second.cache_read_input_tokens == usage.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens < first.usage.input_tokens + usage.cache_creation_input_tokens


async def test_short_prefix_and_5m_ttl_by_default(aclient: anthropic.AsyncAnthropic) -> None:
    """A prefix under the minimum caches nothing; a breakpoint without ttl writes 5-minute cache."""
    short = [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}]
    message = await aclient.messages.create(model=MODEL, max_tokens=16, system=short, messages=user("hi"))  # type: ignore[arg-type]
    assert message.usage.cache_creation_input_tokens == 0
    long_text = f"{uuid.uuid4()} " + "Manual text. " * 500
    body = [{"type": "text", "text": long_text, "cache_control": {"type": "ephemeral"}}]
    message = await aclient.messages.create(model=MODEL, max_tokens=16, system=body, messages=user("hi"))  # type: ignore[arg-type]
    assert message.usage.cache_creation is not None
    assert (
        message.usage.cache_creation.ephemeral_5m_input_tokens
        == message.usage.cache_creation_input_tokens
        > 0
    )


async def test_adaptive_thinking_gives_a_signed_thinking_block(aclient: anthropic.AsyncAnthropic) -> None:
    """thinking type adaptive answers with a thinking block carrying a signature, then text."""
    message = await both(aclient, messages=user("think"), thinking={"type": "adaptive"})
    assert isinstance(message.content[0], ThinkingBlock)
    assert message.content[0].signature and message.content[0].thinking
    assert isinstance(message.content[-1], TextBlock)


async def test_server_tools_come_back_as_server_tool_use_and_results(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """Named server tools are run by the server: blocks, usage.server_tool_use and a container."""
    message = await both(
        aclient,
        messages=user("Use web search, web fetch and code execution on the capital of France."),
        tools=[SEARCH, FETCH, CODE],
    )
    kinds = [next(t for t in ALL_BLOCKS if isinstance(b, t)) for b in message.content]
    assert kinds == [
        ServerToolUseBlock,
        WebSearchToolResultBlock,
        ServerToolUseBlock,
        WebFetchToolResultBlock,
        ServerToolUseBlock,
        CodeExecutionToolResultBlock,
        TextBlock,
    ]
    uses = [b for b in message.content if isinstance(b, ServerToolUseBlock)]
    assert [u.name for u in uses] == ["web_search", "web_fetch", "code_execution"]
    assert all(u.input for u in uses)
    results = [b for b in message.content if hasattr(b, "tool_use_id")]
    assert [r.tool_use_id for r in results] == [u.id for u in uses]  # type: ignore[attr-defined]
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.usage.server_tool_use.web_fetch_requests == 1
    assert message.container is not None and message.container.id.startswith("container_")
    assert message.stop_reason == "end_turn"


async def test_server_tool_errors_are_result_error_objects(aclient: anthropic.AsyncAnthropic) -> None:
    """tool_error=CODE makes each result an error object; a code a tool lacks becomes unavailable."""
    message = await both(
        aclient,
        {FAULT: "tool_error=max_uses_exceeded"},
        messages=user("web_search and code_execution please"),
        tools=[SEARCH, CODE],
    )
    search, code = (b for b in message.content if hasattr(b, "tool_use_id"))
    assert isinstance(search, WebSearchToolResultBlock) and not isinstance(search.content, list)
    assert search.content.error_code == "max_uses_exceeded"
    assert isinstance(code, CodeExecutionToolResultBlock)
    assert code.content.type == "code_execution_tool_result_error"
    assert code.content.error_code == "unavailable"


async def test_pause_turn_continues_when_the_paused_turn_is_sent_back(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """pause_turns=2 pauses twice; sending the paused content back as-is continues to end_turn."""
    headers = {FAULT: "pause_turns=2"}
    messages: list[Any] = user("research the web_search topic")
    content: list[Any] = []
    reasons = []
    for _ in range(4):
        body = messages + ([{"role": "assistant", "content": content}] if content else [])
        message = await both(aclient, headers, messages=body, tools=[SEARCH])
        reasons.append(message.stop_reason)
        content = content + [b.model_dump(exclude_none=True) for b in message.content]
        if message.stop_reason != "pause_turn":
            break
    assert reasons == ["pause_turn", "pause_turn", "end_turn"]
    assert [b["type"] for b in content] == [
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]


async def test_refusal_carries_stop_details(aclient: anthropic.AsyncAnthropic) -> None:
    """refusal=cyber stops with stop_reason refusal and RefusalStopDetails; none gives a null category."""
    message = await both(aclient, {FAULT: "refusal=cyber"}, messages=user("hi"))
    assert message.stop_reason == "refusal"
    assert isinstance(message.stop_details, RefusalStopDetails)
    assert message.stop_details.category == "cyber" and message.stop_details.explanation
    message = await both(aclient, {FAULT: "refusal=none"}, messages=user("hi"))
    assert message.stop_details is not None and message.stop_details.category is None


async def test_output_past_the_context_window_stops_there(aclient: anthropic.AsyncAnthropic) -> None:
    """Output that would pass the context window stops with model_context_window_exceeded."""
    count = await aclient.messages.count_tokens(model=MODEL, messages=user("a long answer please"))
    window = count.input_tokens + 5
    message = await both(aclient, {FAULT: f"context_window={window}"}, messages=user("a long answer please"))
    assert message.stop_reason == "model_context_window_exceeded"
    assert message.usage.output_tokens == 5


@pytest.mark.parametrize("max_tokens", [12, 18, 24])
async def test_server_tools_spending_max_tokens_stop_with_max_tokens(
    aclient: anthropic.AsyncAnthropic, max_tokens: int
) -> None:
    """A web search that spends part of max_tokens, far from the window, ends with max_tokens."""
    message = await both(
        aclient, max_tokens=max_tokens, tools=[SEARCH], messages=user("web_search a long answer please")
    )
    assert message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests
    assert message.stop_reason == "max_tokens"


async def test_top_level_cache_control_caches_up_to_the_last_block(aclient: anthropic.AsyncAnthropic) -> None:
    """Automatic caching (top-level cache_control) writes the whole prompt; a changed prefix misses."""
    text = f"{uuid.uuid4()} " + "A long document paragraph. " * 300
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 16,
        "cache_control": {"type": "ephemeral"},
        "messages": user(text),
    }
    first = (await aclient.messages.create(**body)).usage
    assert first.cache_creation_input_tokens and first.cache_read_input_tokens == 0
    again = (await aclient.messages.create(**body)).usage
    assert again.cache_read_input_tokens == first.cache_creation_input_tokens
    changed = (await aclient.messages.create(**{**body, "messages": user("x" + text)})).usage
    assert changed.cache_read_input_tokens == 0 and changed.cache_creation_input_tokens
