"""The pure core of a tool loop: which calls a turn asks for, the next request, the totals.

The conversation of a run is the prompt's messages followed by one (assistant, user) pair per
finished tool turn: the assistant's content verbatim, then a user turn of ``tool_result`` blocks in
the order of the ``tool_use`` blocks (the Messages API wants every call answered, and nothing else
first, in the turn that follows it: https://platform.claude.com/docs/en/agents-and-tools/tool-use).
"""

from __future__ import annotations

import json
from typing import Any

from service.continuation import add_usage, continuation_params

TOOL_USE = "tool_use"


def tool_uses(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The client ``tool_use`` blocks of an answer, in order (server tools are the API's own)."""
    return [b for b in message.get("content") or [] if isinstance(b, dict) and b.get("type") == TOOL_USE]


def wants_tools(message: dict[str, Any]) -> bool:
    """The answer stopped to have client tools run."""
    return message.get("stop_reason") == TOOL_USE and bool(tool_uses(message))


def result_block(tool_use_id: str, content: str | list[dict[str, Any]], is_error: bool) -> dict[str, Any]:
    """A ``tool_result`` block (the SDK's ``ToolResultBlockParam``); ``is_error`` only when true."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}
    if is_error:
        block["is_error"] = True
    return block


def timed_out_block(tool_use_id: str, name: str, seconds: float) -> dict[str, Any]:
    """What Claude is told about a call whose result did not come in time."""
    message = f"The tool {name!r} did not answer within {seconds:g} seconds; no result is available."
    return result_block(tool_use_id, message, True)


def next_request(
    params: dict[str, Any], turns: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]
) -> dict[str, Any]:
    """The request after ``turns`` finished tool turns: (assistant content, tool_result blocks) each.

    The first answer goes back like a paused one (``continuation_params``), so a prompt that ended
    with an assistant prefill gets that turn completed rather than a second assistant turn.
    """
    if not turns:
        return params
    first_content, first_results = turns[0]
    request = continuation_params(params, first_content)
    messages = [*request["messages"], {"role": "user", "content": first_results}]
    for content, results in turns[1:]:
        messages += [{"role": "assistant", "content": content}, {"role": "user", "content": results}]
    return {**request, "messages": messages}


def total_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """Every turn's usage summed (the last turn's other fields, like ``service_tier``, win)."""
    total: dict[str, Any] = {}
    for usage in usages:
        total = add_usage(total, usage)
    return total


def final_message(last: dict[str, Any], usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's CompletionEvent message: the last answer, with usage summed over every turn."""
    return {**last, "usage": total_usage(usages)}


def replay_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A recorded answer as the SSE events that stream it (the SDK's accumulator rebuilds it).

    A resumed run streams its finished turns again from the record, without a request, so the deltas
    of the new attempt are a complete stream of every turn like those of an uninterrupted run.
    """
    usage = dict(message.get("usage") or {})
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 0}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        opened = {**block, "text": ""}
        deltas = [{"type": "text_delta", "text": block.get("text", "")}]
    elif kind == "thinking":
        opened = {**block, "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": block.get("thinking", "")},
            {"type": "signature_delta", "signature": block.get("signature", "")},
        ]
    elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        opened = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}]
    else:  # results and redacted thinking come whole at the start, as the API sends them
        opened = dict(block)
    return [
        {"type": "content_block_start", "index": index, "content_block": opened},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]
