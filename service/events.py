"""Build final output events (completion, error) and their Kafka headers. Pure."""

from __future__ import annotations

import base64
import zlib
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
    record_at: tuple[str, int, int]  # the record's topic, partition and offset: ``source``
    generation: int
    timestamp_ms: int
    trace: TraceHeaders  # the record's traceparent, tracestate and baggage headers, as they came
    packed: bytes  # the record value, ``pack``ed: kept so an ErrorEvent can carry the original for replay

    @property
    def source(self) -> SourceRecord:
        """Where the prompt came from. Built when an event needs it: a model held for every prompt in
        flight is ~400 bytes against the tuple's 64 (issue 19)."""
        topic, partition, offset = self.record_at
        return SourceRecord(topic=topic, partition=partition, offset=offset)

    @property
    def raw(self) -> bytes:
        """The record value, byte for byte."""
        return unpack(self.packed)


# The prompt's text is held anyway by the request the SDK is streaming (its params and its JSON body);
# the record itself is read again only if the prompt ends in an ErrorEvent. So a large record waits
# compressed (an 8 KB prompt: ~7 KB less per stream in flight, for ~20 us once per prompt; issue 19).
PACK_FROM = 1024
_PLAIN, _ZLIB = b"\x00", b"\x01"


def pack(value: bytes) -> bytes:
    """``value`` as held by a Job: zlib level 1 past ``PACK_FROM`` bytes, when that is smaller."""
    if len(value) >= PACK_FROM:
        packed = zlib.compress(value, 1)
        if len(packed) < len(value):
            return _ZLIB + packed
    return _PLAIN + value


def unpack(packed: bytes) -> bytes:
    return zlib.decompress(packed[1:]) if packed[:1] == _ZLIB else packed[1:]


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
