"""Build a ToolCallEvent and its CloudEvents headers. Pure."""

from __future__ import annotations

from typing import Any

from schemas import ToolCallEvent
from service.cloudevents import Headers, TraceHeaders, event_type, headers
from service.events import Job

TOOL_CALL_TYPE = event_type("tool_call")


def tool_call(job: Job, attempt: int, turn: int, block: dict[str, Any], timeout: float) -> ToolCallEvent:
    return ToolCallEvent(
        custom_id=job.prompt.custom_id,
        generation=job.generation,
        attempt=attempt,
        turn=turn,
        tool_use_id=block["id"],
        name=block["name"],
        input=block.get("input") or {},
        timeout_seconds=timeout,
        attributes=job.prompt.attributes,
    )


def call_headers(source: bytes, event: ToolCallEvent, trace: TraceHeaders) -> Headers:
    """``ce_id`` is ``<custom_id>:<tool_use_id>``: the same when a call is published again after a
    crash, so a worker can deduplicate on it as on the tool_use_id."""
    event_id = f"{event.custom_id}:{event.tool_use_id}"
    return headers(TOOL_CALL_TYPE, source, event_id, event.custom_id, trace)
