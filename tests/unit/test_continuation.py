"""pause_turn continuation: the next request and the merged answer, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from service.continuation import add_usage, continuation_params, merge_messages

USE = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}}
RESULT = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
TEXT = {"type": "text", "text": "Answer."}
BASE: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 100,
    "tools": [{"type": "web_search_20250305", "name": "web_search"}],
}


@pytest.mark.parametrize(
    ("messages", "content", "expected"),
    [
        # The paused content goes back unchanged as the final assistant turn.
        (
            [{"role": "user", "content": "q"}],
            [USE, RESULT],
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": [USE, RESULT]}],
        ),
        # A prefill (string) was continued by the answer: both make one assistant turn.
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Sure:"}],
            [USE],
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "text", "text": "Sure:"}, USE]},
            ],
        ),
        # A prefill given as blocks keeps its blocks; an empty trailing text block is dropped.
        (
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [TEXT, {"type": "text", "text": ""}]},
            ],
            [USE],
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": [TEXT, USE]}],
        ),
    ],
)
def test_continuation_request(messages: list[Any], content: list[Any], expected: list[Any]) -> None:
    """The continuation is the same request with the answer so far as the final assistant turn."""
    params = {**BASE, "messages": messages}
    out = continuation_params(params, content)
    assert out["messages"] == expected
    assert {k: v for k, v in out.items() if k != "messages"} == BASE
    assert params["messages"] == messages  # the prompt's params are not changed


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (
            {"input_tokens": 10, "output_tokens": 5},
            {"input_tokens": 30, "output_tokens": 7},
            {"input_tokens": 40, "output_tokens": 12},
        ),
        (
            {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 0, "service_tier": "standard"},
            {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 9, "service_tier": "priority"},
            {"input_tokens": 2, "output_tokens": 2, "cache_read_input_tokens": 9, "service_tier": "priority"},
        ),
        (
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 0},
            },
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 4},
            },
            {
                "input_tokens": 2,
                "output_tokens": 2,
                "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 4},
            },
        ),
        (
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
            },
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
            },
            {
                "input_tokens": 2,
                "output_tokens": 2,
                "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 1},
            },
        ),
        # A count only one side reports is kept; a null on the later side does not erase it.
        (
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
            },
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "server_tool_use": None,
                "cache_creation_input_tokens": 5,
            },
            {
                "input_tokens": 2,
                "output_tokens": 2,
                "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
                "cache_creation_input_tokens": 5,
            },
        ),
    ],
)
def test_usage_is_summed(a: dict[str, Any], b: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every token and request count is summed over the requests; labels come from the last."""
    assert add_usage(a, b) == expected


def test_merged_message_concatenates_content_and_takes_the_last_stop() -> None:
    """One Message: the first id, content concatenated, the last stop fields and container, usage summed."""
    first = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [USE, RESULT],
        "stop_reason": "pause_turn", "stop_sequence": None, "stop_details": None,
        "container": {"id": "c1", "expires_at": "2026-12-01T01:00:00Z"}, "usage": {"input_tokens": 5, "output_tokens": 2},
    }  # fmt: skip
    later = {
        "id": "msg_2", "type": "message", "role": "assistant", "model": "m", "content": [TEXT],
        "stop_reason": "end_turn", "stop_sequence": None, "stop_details": None, "container": None,
        "usage": {"input_tokens": 9, "output_tokens": 3},
    }  # fmt: skip
    merged = merge_messages(first, later)
    assert merged["id"] == "msg_1"
    assert merged["content"] == [USE, RESULT, TEXT]
    assert merged["stop_reason"] == "end_turn"
    assert merged["container"] == first["container"]
    assert merged["usage"] == {"input_tokens": 14, "output_tokens": 5}
    assert first["content"] == [USE, RESULT]  # inputs are not changed
