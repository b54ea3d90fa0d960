"""Build the final Message from stream events, as the API would return it non-streaming. Pure.

The SDK's own accumulator (``MessageStream``) works on typed event models; the pipeline reads raw
events (see ``claude.py`` for why), so this is the same fold over plain dicts.
"""

from __future__ import annotations

import json
from typing import Any

_APPEND = {"text_delta": "text", "thinking_delta": "thinking"}


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
            self.message = dict(event["message"])
            self.message["content"] = []
        elif kind == "content_block_start":
            self._require().get("content", []).append(dict(event["content_block"]))
        elif kind == "content_block_stop":
            index = event["index"]
            parts = self._json_parts.pop(index, None)
            if parts is not None:
                text = "".join(parts)
                self._require()["content"][index]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            message = self._require()
            for name, value in event.get("delta", {}).items():
                message[name] = value
            usage = dict(message.get("usage") or {})
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            message["usage"] = usage
        elif kind == "message_stop":
            self.stopped = True
        # Unknown event types are tolerated, as the API asks of clients.

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self._require()["content"][index]
        kind = delta.get("type")
        field = _APPEND.get(kind)  # type: ignore[arg-type]
        if field is not None:
            block[field] = block.get(field, "") + delta[field]
        elif kind == "input_json_delta":
            self._json_parts.setdefault(index, []).append(delta.get("partial_json", ""))
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta["citation"])

    def _require(self) -> dict[str, Any]:
        if self.message is None:
            raise StreamIncomplete("stream event before message_start")
        return self.message

    def result(self) -> dict[str, Any]:
        """The final Message; raises ``StreamIncomplete`` unless ``message_stop`` arrived."""
        if not self.stopped or self.message is None:
            raise StreamIncomplete("stream ended before message_stop")
        return self.message
