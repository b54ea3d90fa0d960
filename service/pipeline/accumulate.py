"""Build the final Message from stream events, as the API would return it non-streaming. Pure.

The SDK's own accumulator (``anthropic.lib.streaming._messages.accumulate_event``) works on typed
event models; the pipeline reads raw events (see ``claude.py`` for why), so this is the same fold
over plain dicts, rule for rule: ``tests/unit/test_fold_differential.py`` feeds both the same
streams and requires equal messages. Delegating to the SDK's fold instead would build a pydantic
model per SSE event on the hot path (``bench/fold.py`` measures the difference).
"""

from __future__ import annotations

import json
import sys
from typing import Any

#: Delta type -> (field it appends to, block types it applies to), as in the SDK's fold.
_APPEND = {"text_delta": ("text", "text"), "thinking_delta": ("thinking", "thinking")}
#: Blocks whose ``input`` is streamed as ``input_json_delta`` (the SDK's ``TRACKS_TOOL_INPUT``).
_TRACKS_TOOL_INPUT = frozenset({"tool_use", "server_tool_use"})
#: ``message_delta.usage`` counts that overwrite the start's when present (cumulative totals).
_DELTA_USAGE = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "server_tool_use",
    "output_tokens_details",
)


#: Keys whose string values repeat across streams: held once for all of them (``_shared``).
_VOCABULARY = frozenset({"type", "role", "model", "service_tier"})


def _shared(part: dict[str, Any]) -> dict[str, Any]:
    """``part`` with its keys, and the values of ``_VOCABULARY`` keys, interned: ``json.loads`` makes
    new strings for every document, and a Message held for a whole stream is ~20 keys (~1.4 KB a
    stream in flight; issue 19). Nested objects (``usage.cache_creation``) too."""
    out: dict[str, Any] = {}
    for key, value in part.items():
        if isinstance(value, dict):
            out[sys.intern(key)] = _shared(value)
        elif isinstance(value, str) and key in _VOCABULARY:
            out[sys.intern(key)] = sys.intern(value)
        else:
            out[sys.intern(key)] = value
    return out


class StreamIncomplete(Exception):
    """The stream ended without ``message_stop``: the body was cut short."""


class MessageAccumulator:
    __slots__ = ("_json_parts", "first_delta_seen", "message", "stopped")

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self._json_parts: dict[int, list[str]] = {}
        self.stopped = False
        self.first_delta_seen = False

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_delta":
            self.first_delta_seen = True
            self._delta(event["index"], event["delta"])
        elif kind == "message_start":
            self.message = _shared(event["message"])
            self.message["content"] = list(self.message.get("content") or [])
            self.message["usage"] = self.message.get("usage") or {}
        elif kind == "content_block_start":
            self._require()["content"].append(_shared(event["content_block"]))
        elif kind == "content_block_stop":
            index = event["index"]
            parts = self._json_parts.pop(index, None)
            if parts:
                text = "".join(parts)
                if text:
                    self._require()["content"][index]["input"] = json.loads(text)
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self.stopped = True
        # Unknown event types are tolerated, as the API asks of clients (they are still forwarded).

    def _message_delta(self, event: dict[str, Any]) -> None:
        message = self._require()
        delta = event.get("delta") or {}
        message["stop_reason"] = delta.get("stop_reason")
        message["stop_sequence"] = delta.get("stop_sequence")
        message["stop_details"] = delta.get("stop_details")
        if delta.get("container") is not None:
            message["container"] = delta["container"]
        usage = message["usage"]
        counts = event.get("usage") or {}
        usage["output_tokens"] = counts.get("output_tokens")
        for name in _DELTA_USAGE:
            value = counts.get(name)
            if value is not None:
                usage[name] = value

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self._require()["content"][index]
        kind = delta.get("type")
        block_type = block.get("type")
        append = _APPEND.get(kind)  # type: ignore[arg-type]
        if append is not None:
            field, applies_to = append
            if block_type == applies_to:
                block[field] = block.get(field, "") + delta[field]
        elif kind == "input_json_delta":
            if block_type in _TRACKS_TOOL_INPUT:
                self._json_parts.setdefault(index, []).append(delta.get("partial_json", ""))
        elif kind == "signature_delta":
            if block_type == "thinking":
                block["signature"] = delta["signature"]
        elif kind == "citations_delta" and block_type == "text":
            # A start may carry ``"citations": null`` (or omit the key): the first citation makes the list.
            if block.get("citations"):
                block["citations"].append(delta["citation"])
            else:
                block["citations"] = [delta["citation"]]
        # Unknown delta types change nothing here (the SDK's fold ignores them too).

    def _require(self) -> dict[str, Any]:
        if self.message is None:
            raise StreamIncomplete("stream event before message_start")
        return self.message

    def result(self) -> dict[str, Any]:
        """The final Message; raises ``StreamIncomplete`` unless ``message_stop`` arrived."""
        if not self.stopped or self.message is None:
            raise StreamIncomplete("stream ended before message_stop")
        return self.message
