"""One line of a batch's results file -> the event to publish, or the request to submit again. Pure.

- ``succeeded``: a CompletionEvent (``mode: batch``, the Message as the API returned it, cost at the
  batch price, ``ttft_ms`` null);
- ``errored``: an ErrorEvent with the API's error type and message;
- ``expired`` / ``canceled`` (or no line at all): submitted again as the next attempt, until
  ``MAX_ATTEMPTS``; then an ErrorEvent ``attempts_exhausted`` with ``retryable: true``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import CompletionEvent, ErrorDetail, ErrorEvent, Mode, Timings
from service.batch.records import Entry
from service.errors import is_transient
from service.pricing import PriceTable

RESUBMITTED = ("expired", "canceled", "missing")


@dataclass(frozen=True, slots=True)
class Publish:
    event: CompletionEvent | ErrorEvent
    outcome: str  # "completed" or "errored", the prompts_finished_total label
    usage: Mapping[str, Any] | None = None
    batch_saving_usd: float | None = None  # standard minus batch price, for the savings metric


@dataclass(frozen=True, slots=True)
class Resubmit:
    entry: Entry  # already at the next attempt
    reason: str


Decision = Publish | Resubmit
"""What one result line becomes (``Outcome`` is the callbacks' word for a final event)."""


def outcome(
    result: Mapping[str, Any] | None,
    entry: Entry,
    *,
    prices: PriceTable,
    max_attempts: int,
    submitted_at: datetime,
    now: datetime,
) -> Decision:
    """Map one ``result`` object (the line's ``result``; None when the file had no line for it)."""
    kind = str(result.get("type")) if result is not None else "missing"
    if result is not None and kind == "succeeded":
        message = dict(result.get("message") or {})
        usage = message.get("usage") or {}
        model = str(message.get("model") or json.loads(entry.params).get("model", ""))
        event = CompletionEvent(
            custom_id=entry.custom_id,
            generation=entry.generation,
            attempt=entry.attempt,
            mode=Mode.BATCH,
            message=message,
            timings=timings(entry, submitted_at, now),
            cost_usd=prices.cost_usd(model, usage, batch=True),
            attributes=entry.attributes,
            callback=entry.callback,
        )
        return Publish(event, "completed", usage, prices.batch_saving_usd(model, usage))
    if result is not None and kind == "errored":
        error_type, text, code = api_error(result.get("error"))
        detail = ErrorDetail(type=error_type, message=text, code=code)
        retryable = is_transient(None, error_type, code)
        return Publish(error_event(entry, detail, retryable=retryable), "errored")
    if kind in RESUBMITTED and entry.attempt < max_attempts:
        return Resubmit(entry.next_attempt(), kind)
    detail = ErrorDetail(
        type="attempts_exhausted",
        message=f"{entry.attempt} batch attempts did not finish; last: {kind}",
    )
    return Publish(error_event(entry, detail, retryable=True), "errored")


def api_error(envelope: object) -> tuple[str, str, str | None]:
    """``(type, message, error_code)`` from an ``errored`` result's ErrorResponse envelope (or a bare
    error); ``error_code`` is ``error.details.error_code`` when the API gave one."""
    if isinstance(envelope, Mapping):
        inner = envelope.get("error", envelope)
        if isinstance(inner, Mapping) and inner.get("type") not in (None, "error"):
            details = inner.get("details")
            code = details.get("error_code") if isinstance(details, Mapping) else None
            return (
                str(inner["type"]),
                str(inner.get("message", "")),
                code if isinstance(code, str) else None,
            )
    return "api_error", f"batch request errored: {envelope!r}", None


def timings(entry: Entry, submitted_at: datetime, now: datetime) -> Timings:
    submitted_ms = submitted_at.timestamp() * 1000.0
    return Timings(
        queued_ms=round(max(0.0, submitted_ms - entry.timestamp_ms), 3),
        ttft_ms=None,
        duration_ms=round(max(0.0, (now - submitted_at).total_seconds() * 1000.0), 3),
    )


def error_event(entry: Entry, detail: ErrorDetail, *, retryable: bool) -> ErrorEvent:
    """The ErrorEvent for a batch request; ``original`` is the prompt rebuilt from the entry."""
    original: dict[str, Any] = {
        "custom_id": entry.custom_id,
        "params": json.loads(entry.params),
        "mode": Mode.BATCH.value,
        "attributes": entry.attributes,
    }
    if entry.callback is not None:
        original["callback"] = entry.callback.model_dump(mode="json")
    return ErrorEvent(
        custom_id=entry.custom_id,
        generation=entry.generation,
        attempt=entry.attempt,
        mode=Mode.BATCH,
        error=detail,
        retryable=retryable,
        source=entry.source,
        original=json.dumps(original, separators=(",", ":"), ensure_ascii=False),
        attributes=entry.attributes,
        occurred_at=datetime.now(UTC),
        callback=entry.callback,
    )
