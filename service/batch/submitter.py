"""Submitting: waiting prompts -> one ``batches.create`` at a time -> the batch's hand-off record.

One task assembles and submits, retried with backoff on 429/5xx while the prompts stay in hand. A
prompt's hand-off future resolves once its batch's record is acknowledged; one whose hand-off was
cancelled (rebalance, shutdown) before it was taken into a batch is withdrawn. A request the API
refuses at create time becomes an ErrorEvent and its hand-off ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from schemas import ErrorDetail
from service.backoff import attempt_delay
from service.batch.api import BatchStatus
from service.batch.assembly import Assembler, Waiting, blame
from service.batch.parts import BatchParts
from service.batch.records import Entry, OpenBatch, chunk_records
from service.batch.results import Publish, error_event
from service.breaker import OVERLOAD, organisation_failure
from service.errors import ClaudeError, ClaudeFatal

log = logging.getLogger(__name__)

CREATE_BACKOFF = (1.0, 60.0)  # first and longest wait between failed creates, seconds


class Submitter:
    def __init__(self, parts: BatchParts, recorded: Callable[[OpenBatch], None]) -> None:
        self._settings, self._metrics, self._api = parts.settings, parts.metrics, parts.api
        self._records, self._publisher = parts.records, parts.publisher
        self._recorded = recorded  # the index sees redone prompts at once, before the tail does
        self._instance = parts.settings.pipeline.service_instance
        b = parts.settings.batch
        self._assembler = Assembler(b.max_requests, b.max_bytes, b.max_wait_seconds)
        self._wake = asyncio.Event()
        self._flush = False

    async def submit(self, entry: Entry) -> None:
        """Return once ``entry`` is in a created batch whose record the broker acknowledged."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = self._assembler.add(entry, time.monotonic(), future)
        self._wake.set()
        try:
            await future
        except asyncio.CancelledError:
            self._assembler.discard(item)
            raise

    async def resubmit(self, entries: list[Entry]) -> None:
        """Queue the next attempts and wait until a new batch's record holds them all."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        now = time.monotonic()
        for entry in entries:
            future: asyncio.Future[None] = loop.create_future()
            self._assembler.add(entry, now, future)
            futures.append(future)
        self.flush()  # they have waited a whole batch already
        await asyncio.gather(*futures)

    def flush(self) -> None:
        """Submit everything waiting now instead of at its bound (shutdown, resubmissions)."""
        self._flush = True
        self._wake.set()

    def withdraw_all(self) -> int:
        """Cancel every waiting hand-off (stopping): their offsets stay uncommitted and are redone."""
        waiting = len(self._assembler)
        for item in self._assembler.take(time.monotonic(), force=True):
            _cancel(item.token)
        return waiting

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            if self._flush and not self._assembler:
                self._flush = False
            items = self._assembler.take(now, force=self._flush)
            if items:
                await self._submit(items)
                continue
            deadline = self._assembler.deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _submit(self, items: list[Waiting]) -> None:
        failures = 0
        while True:
            items = [i for i in items if not _withdrawn(i.token)]
            if not items:
                return
            try:
                status = await self._api.create([i.entry for i in items])
                break
            except ClaudeFatal as exc:
                if self._organisation_failure(exc):
                    failures += 1
                    await asyncio.sleep(self._held(exc, failures, len(items)))
                    continue
                index = blame(exc.message)
                if index is not None and index < len(items) and len(items) > 1:
                    await self._refuse(items.pop(index), exc)  # the rest go again without it
                    continue
                for item in items:
                    await self._refuse(item, exc)
                return
            except ClaudeError as exc:
                failures += 1
                if self._organisation_failure(exc):
                    await asyncio.sleep(self._held(exc, failures, len(items)))
                    continue
                delay = attempt_delay(failures, *CREATE_BACKOFF, exc.retry_after)
                self._metrics.retries.labels(f"batch_{exc.type}").inc()
                log.warning(
                    "batch create failed, retrying",
                    extra={"requests": len(items), "reason": exc.type, "delay": round(delay, 3)},
                )
                await asyncio.sleep(delay)
        await self._record(status, items)

    def _organisation_failure(self, exc: ClaudeError) -> bool:
        """A create refused for the whole organisation (revoked key, spend limit, ...; see
        ``service/breaker.py``): the waiting prompts are held and the create retried, never
        dead-lettered. Overload keeps the ordinary retry path (it is retryable already)."""
        reason = organisation_failure(exc)
        return self._settings.pipeline.circuit_breaker and reason is not None and reason != OVERLOAD

    def _held(self, exc: ClaudeError, failures: int, requests: int) -> float:
        pipeline = self._settings.pipeline
        delay = attempt_delay(
            failures, pipeline.circuit_backoff_seconds, pipeline.circuit_backoff_max_seconds
        )
        self._metrics.retries.labels(f"batch_{exc.type}").inc()
        log.warning(
            "batch create refused for the organisation; prompts held, retrying",
            extra={"requests": requests, "reason": organisation_failure(exc), "delay": delay},
        )
        return delay

    async def _record(self, status: BatchStatus, items: list[Waiting]) -> None:
        entries = [i.entry for i in items]
        submitted_at = datetime.now(UTC)
        records = chunk_records(status.id, entries, submitted_at, self._instance)
        await self._records.write(records)
        # The leader picks the batch up from the tail; the index sees redone prompts at once.
        self._recorded(OpenBatch(status.id, submitted_at, self._instance, len(records), tuple(entries)))
        self._metrics.batches_submitted.inc()
        self._metrics.attempts.labels("batch").inc(len(entries))
        log.info(
            "batch submitted",
            extra={"batch_id": status.id, "requests": len(entries), "records": len(records),
                   "bytes": sum(i.size for i in items)},
        )  # fmt: skip
        for item in items:
            _resolve(item.token)

    async def _refuse(self, item: Waiting, exc: ClaudeError) -> None:
        """The API refused the request itself at create time: an ErrorEvent, then the hand-off ends."""
        if not _withdrawn(item.token):
            event = error_event(
                item.entry, ErrorDetail(type=exc.type, message=exc.message, code=exc.code), retryable=False
            )
            await self._publisher.send(Publish(event, "errored"), item.entry.trace)
            await self._publisher.flush()
        _resolve(item.token)


def _withdrawn(token: object) -> bool:
    return isinstance(token, asyncio.Future) and token.cancelled()


def _resolve(token: object) -> None:
    if isinstance(token, asyncio.Future) and not token.done():
        token.set_result(None)


def _cancel(token: object) -> None:
    if isinstance(token, asyncio.Future) and not token.done():
        token.cancel()
