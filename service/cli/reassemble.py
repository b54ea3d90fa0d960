"""Fold delta, completion and error events back into one readable request per custom_id. Pure.

``Board.apply`` takes one decoded output event and returns what changed, as small ``Update`` records
the renderers print (plain lines, ``send --wait``) or redraw from (the live view). Rules:

- A higher ``(generation, attempt)`` for a custom_id replaces the earlier partial output (``Restarted``).
- Events of a lower pair than the one shown are stale and ignored.
- The completion is authoritative: text the deltas did not deliver (the completions topic can be read
  ahead of the deltas topic) is emitted from the completion's message, and later deltas of that
  attempt are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from schemas import CompletionEvent, DeltaEvent, ErrorEvent


class Status(StrEnum):
    WAITING = "waiting"
    STREAMING = "streaming"
    COMPLETED = "completed"
    ERRORED = "errored"


@dataclass
class Block:
    kind: str  # text | thinking | tool_use | redacted_thinking | ...
    text: str = ""  # text or thinking so far; partial JSON for tool_use
    name: str | None = None
    input: Any = None
    done: bool = False


@dataclass
class Request:
    custom_id: str
    generation: int = -1
    attempt: int = 0
    status: Status = Status.WAITING
    mode: str = "stream"
    blocks: dict[int, Block] = field(default_factory=dict)
    model: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    turns: int | None = None  # a tool loop's requests
    error_type: str | None = None
    error_message: str | None = None
    retryable: bool = False
    partial: bool = False  # joined mid-stream: the first event seen was not the attempt's first

    @property
    def pair(self) -> tuple[int, int]:
        return (self.generation, self.attempt)

    @property
    def text(self) -> str:
        return "".join(b.text for _, b in sorted(self.blocks.items()) if b.kind == "text")

    @property
    def thinking(self) -> str:
        return "".join(b.text for _, b in sorted(self.blocks.items()) if b.kind == "thinking")

    def tool_calls(self) -> list[Block]:
        return [b for _, b in sorted(self.blocks.items()) if b.kind == "tool_use"]

    @property
    def final(self) -> bool:
        return self.status in (Status.COMPLETED, Status.ERRORED)


@dataclass(frozen=True, slots=True)
class TextAppended:
    custom_id: str
    kind: str  # text | thinking
    text: str


@dataclass(frozen=True, slots=True)
class ToolCalled:
    custom_id: str
    name: str
    input: Any


@dataclass(frozen=True, slots=True)
class Restarted:
    custom_id: str
    generation: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Finished:
    request: Request


Update = TextAppended | ToolCalled | Restarted | Finished


class Board:
    """Every request seen, in first-seen order."""

    def __init__(self) -> None:
        self.requests: dict[str, Request] = {}

    def get(self, custom_id: str) -> Request:
        if custom_id not in self.requests:
            self.requests[custom_id] = Request(custom_id)
        return self.requests[custom_id]

    def apply(self, event: DeltaEvent | CompletionEvent | ErrorEvent) -> list[Update]:
        if isinstance(event, DeltaEvent):
            return self._delta(event)
        if isinstance(event, CompletionEvent):
            return self._completion(event)
        return self._error(event)

    def _enter(self, custom_id: str, generation: int, attempt: int) -> tuple[Request | None, list[Update]]:
        """The request if this pair is current (starting it if newer), None if the event is stale."""
        request = self.get(custom_id)
        pair = (generation, attempt)
        if pair < request.pair:
            return None, []
        if pair == request.pair:
            return request, []
        restarted = request.generation >= 0
        request.generation, request.attempt = pair
        request.blocks.clear()
        request.status = Status.STREAMING
        request.partial = False
        return request, [Restarted(custom_id, generation, attempt)] if restarted else []

    def _delta(self, delta: DeltaEvent) -> list[Update]:
        request, updates = self._enter(delta.custom_id, delta.generation, delta.attempt)
        if request is None or request.final:
            return updates
        if not request.blocks and delta.seq > 0 and delta.event.get("type") != "message_start":
            request.partial = True
        event = delta.event
        kind = event.get("type")
        index = event.get("index")
        if kind == "message_start":
            message = event.get("message") or {}
            request.model = message.get("model")
            request.usage = dict(message.get("usage") or {})
        elif kind == "content_block_start" and isinstance(index, int):
            start = event.get("content_block") or {}
            block = Block(str(start.get("type")), name=start.get("name"))
            request.blocks[index] = block
            initial = start.get("text") or start.get("thinking") or ""
            if initial and block.kind in ("text", "thinking"):
                block.text = initial
                updates.append(TextAppended(request.custom_id, block.kind, initial))
        elif kind == "content_block_delta" and isinstance(index, int):
            updates.extend(self._block_delta(request, index, event.get("delta") or {}))
        elif kind == "content_block_stop" and isinstance(index, int):
            stopped = request.blocks.get(index)
            if stopped is not None and not stopped.done:
                stopped.done = True
                if stopped.kind == "tool_use":
                    stopped.input = _parse_json(stopped.text)
                    updates.append(ToolCalled(request.custom_id, stopped.name or "?", stopped.input))
        elif kind == "message_delta":
            request.stop_reason = (event.get("delta") or {}).get("stop_reason")
            request.usage.update(event.get("usage") or {})
        return updates

    def _block_delta(self, request: Request, index: int, delta: dict[str, Any]) -> list[Update]:
        block = request.blocks.setdefault(index, Block(_kind_of_delta(delta)))
        piece = delta.get("text") or delta.get("thinking") or delta.get("partial_json") or ""
        if not piece:
            return []
        block.text += piece
        if block.kind in ("text", "thinking"):
            return [TextAppended(request.custom_id, block.kind, piece)]
        return []

    def _completion(self, event: CompletionEvent) -> list[Update]:
        request, updates = self._enter(event.custom_id, event.generation, event.attempt)
        if request is None or request.final:
            return updates
        message = event.message
        request.mode = event.mode.value
        request.model = message.get("model") or request.model
        request.stop_reason = message.get("stop_reason")
        request.usage = dict(message.get("usage") or {})
        request.cost_usd = event.cost_usd
        request.ttft_ms = event.timings.ttft_ms
        request.duration_ms = event.timings.duration_ms
        request.turns = event.turns
        for index, content in enumerate(message.get("content") or []):
            updates.extend(self._settle_block(request, index, content))
        request.status = Status.COMPLETED
        updates.append(Finished(request))
        return updates

    def _settle_block(self, request: Request, index: int, content: dict[str, Any]) -> list[Update]:
        """Make block ``index`` match the completion's content, emitting only what was not shown yet."""
        kind = str(content.get("type"))
        found = request.blocks.get(index)
        block = found if found is not None and found.kind == kind else Block(kind, name=content.get("name"))
        request.blocks[index] = block
        if kind in ("text", "thinking"):
            full = str(content.get(kind) or "")
            missing = full[len(block.text) :] if full.startswith(block.text) else full
            block.text, block.done = full, True
            return [TextAppended(request.custom_id, kind, missing)] if missing else []
        if kind == "tool_use" and not block.done:
            block.input, block.done = content.get("input"), True
            block.text = json.dumps(block.input)
            return [ToolCalled(request.custom_id, block.name or "?", block.input)]
        block.done = True
        return []

    def _error(self, event: ErrorEvent) -> list[Update]:
        custom_id = event.custom_id or f"{event.source.topic}/{event.source.partition}@{event.source.offset}"
        request, updates = self._enter(custom_id, event.generation, event.attempt)
        if request is None or request.final:
            return updates
        request.mode = event.mode.value if event.mode else request.mode
        request.error_type = event.error.type
        request.error_message = event.error.message
        request.retryable = event.retryable
        request.status = Status.ERRORED
        updates.append(Finished(request))
        return updates


def _kind_of_delta(delta: dict[str, Any]) -> str:
    return {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "tool_use"}.get(
        str(delta.get("type")), "other"
    )


def _parse_json(text: str) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def summary(request: Request) -> str:
    """One line: outcome, tokens, cost and timings (``completed end_turn · 21 in / 87 out ...``)."""
    if request.status is Status.ERRORED:
        retry = " (retryable: send it again)" if request.retryable else ""
        return f"error {request.error_type}: {request.error_message}{retry}"
    parts = [f"{request.status.value}" + (f" {request.stop_reason}" if request.stop_reason else "")]
    if request.usage:
        parts.append(
            f"{request.usage.get('input_tokens', 0)} in / {request.usage.get('output_tokens', 0)} out tokens"
        )
    if request.cost_usd is not None:
        parts.append(f"${request.cost_usd:.6f}")
    if request.ttft_ms is not None:
        parts.append(f"ttft {request.ttft_ms:.0f} ms")
    if request.duration_ms is not None:
        parts.append(f"{request.duration_ms / 1000:.1f} s")
    if request.turns is not None:
        parts.append(f"{request.turns} turns (usage summed)")
    if request.mode == "batch":
        parts.append("batch")
    if request.attempt > 1:
        parts.append(f"attempt {request.attempt}")
    return " · ".join(parts)
