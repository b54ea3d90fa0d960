"""A record of the completion or error topic -> what to deliver, and the ErrorEvent of a failure. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas import Callback, CompletionEvent, ErrorDetail, ErrorEvent, SourceRecord
from service.callbacks.signing import webhook_id

CALLBACK_FAILED = "callback_failed"
CALLBACK_REFUSED = "callback_refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One final event that asks for a callback. ``body`` is the record value, sent verbatim."""

    kind: str  # "completion" or "error"
    event: CompletionEvent | ErrorEvent
    callback: Callback
    body: bytes
    source: SourceRecord

    @property
    def custom_id(self) -> str:
        return self.event.custom_id or ""

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.kind, self.custom_id, self.event.generation, self.event.attempt)


def wanted(kind: str, value: bytes | None, source: SourceRecord) -> Outcome | None:
    """The outcome to deliver, or None: not JSON, no callback, kind not asked for, or our own failure."""
    if value is None:
        return None
    try:
        event: CompletionEvent | ErrorEvent = (
            CompletionEvent.model_validate_json(value)
            if kind == "completion"
            else ErrorEvent.model_validate_json(value)
        )
    except ValidationError:
        return None  # not ours to judge: the pipeline's consumers see it on the topic
    if event.callback is None or kind not in event.callback.events or event.custom_id is None:
        return None
    if isinstance(event, ErrorEvent) and event.origin == "callback":
        return None  # a failed delivery is reported on Kafka only, never called back (no loops)
    return Outcome(kind, event, event.callback, value, source)


def failure(outcome: Outcome, error_type: str, message: str, *, retryable: bool) -> ErrorEvent:
    """The ErrorEvent for an outcome that could not be delivered; ``original`` is the outcome itself.

    It carries no ``callback`` (so nothing would call it back) and ``origin: callback``.
    """
    event = outcome.event
    return ErrorEvent(
        custom_id=event.custom_id,
        generation=event.generation,
        attempt=event.attempt,
        mode=event.mode,
        error=ErrorDetail(type=error_type, message=message),
        retryable=retryable,
        source=outcome.source,
        original=outcome.body.decode("utf-8", errors="replace"),
        attributes=event.attributes,
        occurred_at=datetime.now(UTC),
        origin="callback",
    )


def unreadable(value: bytes | None, source: SourceRecord, detail: ErrorDetail) -> ErrorEvent:
    """The ErrorEvent for a record that crashed ``wanted`` itself (a bug): the record, as it was."""
    return ErrorEvent(
        custom_id=None,
        generation=0,
        attempt=1,
        error=detail,
        retryable=True,
        source=source,
        original=value.decode("utf-8", errors="replace") if value is not None else None,
        attributes={},
        occurred_at=datetime.now(UTC),
        origin="callback",
    )


def describe(url: str) -> str:
    """A URL as shown in error messages and logs: scheme, host and port, never a path or query."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].rpartition('@')[2]}"
