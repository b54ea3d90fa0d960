"""Merge adjacent deltas of one content block (``DELTA_COALESCE_MS``). Pure; the clock is passed in.

Only ``text_delta``, ``input_json_delta`` and ``thinking_delta`` of the same block index merge, and
only with their immediate neighbours: never across blocks or event types, so the merged stream folds to
exactly the same Message.
"""

from __future__ import annotations

import json
from typing import Any

MERGEABLE = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}


def _merge_key(event: dict[str, Any]) -> tuple[int, str] | None:
    if event.get("type") != "content_block_delta":
        return None
    kind = event["delta"].get("type")
    return (event["index"], kind) if kind in MERGEABLE else None


class Coalescer:
    """Holds at most one pending merged delta; hands back JSON texts in stream order."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._key: tuple[int, str] | None = None
        self._parts: list[str] = []
        self._raw: bytes = b""
        self._event: dict[str, Any] | None = None
        self.deadline: float | None = None  # when the pending delta must go out

    def push(self, event: dict[str, Any], raw: bytes, now: float) -> list[bytes]:
        key = _merge_key(event)
        out: list[bytes] = []
        if self._key is not None and (key != self._key or self.deadline is None or now >= self.deadline):
            out.extend(self.flush())
        if key is None:
            out.append(raw)
            return out
        if self._key is None:
            self._key, self._event, self._raw = key, event, raw
            self._parts = [event["delta"][MERGEABLE[key[1]]]]
            self.deadline = now + self.window
        else:
            self._parts.append(event["delta"][MERGEABLE[key[1]]])
        return out

    def flush(self) -> list[bytes]:
        """The pending delta (if any) as JSON text; afterwards nothing is pending."""
        if self._key is None or self._event is None:
            return []
        if len(self._parts) == 1:
            text = self._raw
        else:
            field = MERGEABLE[self._key[1]]
            merged = {**self._event, "delta": {**self._event["delta"], field: "".join(self._parts)}}
            text = json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode()
        self._key, self._event, self._parts, self.deadline = None, None, [], None
        return [text]
