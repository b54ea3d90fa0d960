"""The crash barrier: an unexpected exception in one unit of work becomes an ``internal_error`` outcome.

A unit of work (a prompt task, a batch result's mapping, a callback delivery) ends in an outcome the
broker acknowledged, and only then does its offset move. An exception nobody expected (a bug, or a
stream shape the code does not handle) would leave the offset open and stall the partition for good;
a restart would hit the same record again. The barrier turns it into an ErrorEvent
``internal_error`` (``retryable: true``: the record was fine as far as anyone knows, replay it once the
bug is fixed) carrying the original record, logs it once with its traceback, and counts it in
``claude_kafka_internal_errors_total{unit}``.

If publishing that ErrorEvent fails unexpectedly as well (Kafka errors are retried inside
``publish_error_event`` and never get here), the unit tries ``fallback`` (a bare ErrorEvent built from
the source coordinates and raw bytes only); if that fails too, the exception propagates and the offset
stays uncommitted: the record is never skipped without a trace in the errors topic. That partition
stalls, loudly: ``internal_errors_total{unit="error_event"}`` counts it and each failure is logged with
its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from schemas import ErrorDetail
from service.logs import maskable, redact
from service.metrics import Metrics

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"
ERROR_EVENT_UNIT = "error_event"  # the unit counted when not even the error event could be published
MAX_MESSAGE_CHARS = 1000  # an exception's text can be long (a repr of the data it choked on)

Publish = Callable[[ErrorDetail], Awaitable[None]]
"""Publishes the unit's ErrorEvent with this detail and returns once the broker acknowledged it."""


def describe(exc: BaseException, secrets: tuple[str, ...]) -> ErrorDetail:
    """The ErrorEvent detail of an unexpected exception: its class and message, secrets masked."""
    text = redact(str(exc), secrets)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    name = type(exc).__qualname__
    return ErrorDetail(type=INTERNAL_ERROR, message=f"{name}: {text}" if text else name)


class CrashBarrier:
    """Shared by every unit of work of a process; ``guard`` wraps one unit."""

    def __init__(self, metrics: Metrics, secrets: Iterable[str] = ()) -> None:
        self._metrics = metrics
        self._secrets = maskable(secrets)

    def caught(self, unit: str, exc: BaseException) -> ErrorDetail:
        """Log ``exc`` once with its traceback, count it under ``unit``, and describe it."""
        detail = describe(exc, self._secrets)
        self._metrics.internal_errors.labels(unit).inc()
        # The traceback goes through the logging set-up, which masks secrets in every line.
        log.error("unexpected error in a %s; publishing internal_error", unit, exc_info=exc)
        return detail

    async def guard(
        self, unit: str, work: Awaitable[None], publish: Publish, fallback: Publish | None = None
    ) -> None:
        """Await ``work``; on an unexpected exception publish its ``internal_error`` instead.

        Cancellation is not a crash and passes through (the record is redone by whoever owns it next).
        """
        try:
            await work
        except Exception as exc:
            await self.crashed(unit, exc, publish, fallback)

    async def crashed(
        self, unit: str, exc: Exception, publish: Publish, fallback: Publish | None = None
    ) -> None:
        """What ``guard`` does with an exception ``work`` raised, for a unit that catches it itself."""
        await self._publish(self.caught(unit, exc), publish, fallback)

    async def _publish(self, detail: ErrorDetail, publish: Publish, fallback: Publish | None) -> None:
        try:
            await publish(detail)
            return
        except Exception as exc:
            if fallback is None:
                self._unpublishable(exc)
                raise
            self.caught(ERROR_EVENT_UNIT, exc)
        try:
            await fallback(detail)
        except Exception as exc:
            self._unpublishable(exc)
            raise

    def _unpublishable(self, exc: BaseException) -> None:
        self._metrics.internal_errors.labels(ERROR_EVENT_UNIT).inc()
        log.critical(
            "the internal_error event could not be published; the offset stays uncommitted", exc_info=exc
        )
