"""Input-token estimate shared by ``/v1/messages`` usage and ``/v1/messages/count_tokens``. Pure.

Roughly four characters a token, plus fixed per-message, per-tool and per-image overheads, so that
longer prompts cost more and the two endpoints always agree exactly.
"""

from __future__ import annotations

import json
from typing import Any

_BASE = 8
_PER_MESSAGE = 4
_PER_TOOL = 12
_TOOLS_PREAMBLE = 300  # the real API adds a tool-use system prompt when tools are present
_PER_MEDIA = 1000  # images and documents


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def count_input_tokens(params: dict[str, Any]) -> int:
    """Estimated input tokens of a (validated) messages or count_tokens body."""
    total = _BASE + content_tokens(params.get("system"))
    messages = params.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += _PER_MESSAGE + content_tokens(message.get("content"))
    tools = params.get("tools")
    if isinstance(tools, list) and tools:
        total += _TOOLS_PREAMBLE
        for tool in tools:
            total += _PER_TOOL + text_tokens(json.dumps(tool, sort_keys=True, separators=(",", ":")))
    return total


def content_tokens(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(_block_tokens(block) for block in content)
    return text_tokens(json.dumps(content, sort_keys=True, default=str))


def _block_tokens(block: Any) -> int:
    if not isinstance(block, dict):
        return content_tokens(block)
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind in ("image", "document"):
        return _PER_MEDIA
    if kind == "tool_use":
        return text_tokens(str(block.get("name", ""))) + text_tokens(
            json.dumps(block.get("input", {}), sort_keys=True, separators=(",", ":"))
        )
    if kind == "tool_result":
        return 4 + content_tokens(block.get("content"))
    if kind == "thinking":
        return text_tokens(str(block.get("thinking", "")))
    return text_tokens(json.dumps(block, sort_keys=True, default=str))
