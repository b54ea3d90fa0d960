"""``pause_turn`` continuation: the next request of a paused turn and the merged answer. Pure.

A server-tool turn that runs long stops with ``stop_reason: pause_turn``; the client continues it by
sending the paused assistant content back as the final assistant turn, unchanged, and the response
continues from there (https://platform.claude.com/docs/en/agents-and-tools/tool-use/server-tools,
"pause_turn"; the SDK's ``StopReason`` docs: "You may provide the response back as-is in a
subsequent request to let the model continue"). The consumer sees one answer: the contents
concatenated, the last response's stop fields, and usage summed over every request.
"""

from __future__ import annotations

from typing import Any

PAUSE_TURN = "pause_turn"
#: The final response decides these; earlier (paused) ones are superseded.
_LAST_WINS = ("stop_reason", "stop_sequence", "stop_details")
_COUNTS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def continuation_params(params: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
    """The request that continues ``params`` after the answer so far, ``content``.

    The paused content goes back as the final assistant turn; when the prompt itself ended with an
    assistant turn (a prefill), the answer continued that turn, so it is appended to it.
    """
    messages = list(params.get("messages") or [])
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        prefill = messages.pop()["content"]
        prior = [{"type": "text", "text": prefill}] if isinstance(prefill, str) else list(prefill)
        if prior and prior[-1].get("type") == "text" and not prior[-1].get("text"):
            prior.pop()  # an empty prefill text block is not content to send back
        content = prior + content
    return {**params, "messages": [*messages, {"role": "assistant", "content": content}]}


def merge_messages(first: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One Message from a paused answer and its continuation (both final Message dicts)."""
    merged = dict(first)
    merged["content"] = [*first.get("content", []), *later.get("content", [])]
    for name in _LAST_WINS:
        merged[name] = later.get(name)
    if later.get("container") is not None:
        merged["container"] = later["container"]
    merged["usage"] = add_usage(first.get("usage") or {}, later.get("usage") or {})
    return merged


def add_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Usage of two requests together: every count summed (nested ones too), other fields from ``b``."""
    total = {**a, **{k: v for k, v in b.items() if v is not None}}
    for name in _COUNTS:
        if a.get(name) is not None or b.get(name) is not None:
            total[name] = (a.get(name) or 0) + (b.get(name) or 0)
    for name in ("cache_creation", "server_tool_use"):
        x, y = a.get(name), b.get(name)
        if isinstance(x, dict) and isinstance(y, dict):
            total[name] = {k: (x.get(k) or 0) + (y.get(k) or 0) for k in {**x, **y}}
    return total
