"""Build final output events (completion, error) and their Kafka headers. Pure."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import CompletionEvent, ErrorDetail, ErrorEvent, Mode, PromptEvent, SourceRecord, Timings
from service.cloudevents import Headers, TraceHeaders, event_type, headers

COMPLETION_TYPE = event_type("completion")
ERROR_TYPE = event_type("error")


@dataclass(frozen=True, slots=True)
class Job:
    """A consumed prompt record and the group generation it was taken under."""

    prompt: PromptEvent
    source: SourceRecord
    generation: int
    timestamp_ms: int
    trace: TraceHeaders  # the record's traceparent, tracestate and baggage headers, as they came
    raw: bytes  # kept so an ErrorEvent can carry the original for replay


def completion(
    job: Job, attempt: int, message: dict[str, Any], timings: Timings, cost: float | None,
    turns: int | None = None,
) -> CompletionEvent:  # fmt: skip
    return CompletionEvent(
        custom_id=job.prompt.custom_id,
        generation=job.generation,
        attempt=attempt,
        mode=job.prompt.mode,
        message=message,
        timings=timings,
        cost_usd=cost,
        attributes=job.prompt.attributes,
        callback=job.prompt.callback,
        turns=turns,
    )


def error(
    *,
    error: ErrorDetail,
    source: SourceRecord,
    generation: int,
    attempt: int,
    retryable: bool,
    prompt: PromptEvent | None,
    raw: bytes | None,
    custom_id: str | None = None,
) -> ErrorEvent:
    """An ErrorEvent; ``raw`` is the record value, carried so the prompt can be replayed.

    ``custom_id`` is the one read from a record that is not a valid prompt (``prompt`` wins if given).
    """
    original, encoding = original_text(raw)
    return ErrorEvent(
        custom_id=prompt.custom_id if prompt else custom_id,
        generation=generation,
        attempt=attempt,
        mode=prompt.mode if prompt else None,
        error=error,
        retryable=retryable,
        source=source,
        original=original,
        original_encoding=encoding,
        attributes=prompt.attributes if prompt else {},
        occurred_at=datetime.now(UTC),
        callback=prompt.callback if prompt else None,
    )


def final_headers(
    kind: bytes, source: bytes, custom_id: str | None, generation: int, attempt: int, where: SourceRecord,
    trace: TraceHeaders,
) -> Headers:  # fmt: skip
    subject = custom_id or f"{where.topic}/{where.partition}/{where.offset}"
    return headers(kind, source, f"{subject}:{generation}:{attempt}:final", custom_id, trace)


def original_text(value: bytes | None) -> tuple[str | None, str]:
    """The raw record value for replay: (text, "utf-8") or (base64, "base64")."""
    if value is None:
        return None, "utf-8"
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def mode_of(prompt: PromptEvent | None) -> str:
    return prompt.mode.value if prompt else Mode.STREAM.value
