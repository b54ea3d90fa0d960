"""The streaming pipeline's lifecycle: start -> run (fetch, dispatch, commit) -> drain -> stop.

Data flows one way: ``Inputs`` hands records to ``PromptRunner`` tasks (at most ``MAX_IN_FLIGHT``;
the partitions are paused when full), each task publishes through ``Outputs``, and the ``OffsetBook``
moves a partition's committed offset only past records whose outputs the broker acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from schemas import Mode, SourceRecord
from service import logs
from service.errors import KafkaError
from service.metrics import Metrics
from service.pipeline import events
from service.pipeline.claude import Claude
from service.pipeline.inputs import InputRecord, Inputs, Partition
from service.pipeline.intake import Rejection, decode_prompt
from service.pipeline.offsets import OffsetBook
from service.pipeline.outputs import Outputs
from service.pipeline.pricing import PriceTable
from service.pipeline.prompts import PromptRunner, publish_error_event
from service.pipeline.ratelimit import RateGate
from service.pipeline.readiness import (
    PROBE_INTERVAL_SECONDS,
    PROBE_TIMEOUT_SECONDS,
    Probe,
    Readiness,
)
from service.settings import Settings

BatchHandOff = Callable[[events.Job], Awaitable[None]]
"""Takes a batch-mode prompt; returns once it is durably recorded for the batch path."""

log = logging.getLogger(__name__)

FETCH_TIMEOUT_MS = 100
COMMIT_INTERVAL_SECONDS = 0.1
LAG_INTERVAL_SECONDS = 5.0
FETCH_ERROR_BACKOFF_SECONDS = 1.0


class StreamingPipeline:
    def __init__(
        self, settings: Settings, metrics: Metrics, batch_hand_off: BatchHandOff | None = None
    ) -> None:
        self._settings = settings
        self._batch_hand_off = batch_hand_off
        # Batch-mode prompts wait in their own pool (up to one API batch), not in MAX_IN_FLIGHT.
        self._batch_limit = settings.batch.max_requests
        self._batch_tasks: set[asyncio.Task[None]] = set()
        self._metrics = metrics
        self._limit = settings.pipeline.max_in_flight
        self._book = OffsetBook()
        self._tasks: dict[asyncio.Task[None], tuple[Partition, int]] = {}
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._paused = False
        self._last_commit = 0.0
        self._source = f"/claude-kafka/{settings.pipeline.service_instance}".encode()
        self.gate = RateGate(
            settings.pipeline.rate_limit_rpm, settings.pipeline.rate_limit_tpm, time.monotonic()
        )
        self.outputs = Outputs(settings.kafka, metrics)
        self.claude = Claude(settings.anthropic, observe=self._on_api_response)
        self.runner = PromptRunner(settings, self.claude, self.outputs, metrics, PriceTable(), self.gate)
        self.inputs = Inputs(settings.kafka, settings.topics.prompts, metrics, self._revoked, self._assigned)
        metrics.max_in_flight.set(self._limit)
        self.readiness = Readiness()
        self._was_ready = False

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.outputs.start()
        await self.inputs.start()
        self.readiness.record(Probe(time.monotonic(), None, None))  # both clients just bootstrapped

    def request_stop(self) -> None:
        self.readiness.draining = True
        self._metrics.ready.set(0)
        self._stopping.set()

    async def run(self) -> None:
        """Fetch and dispatch until ``request_stop``; never dies on one record or one Kafka error."""
        lag_task = asyncio.create_task(self._report_lag())
        probe_task = asyncio.create_task(self._probe_brokers())
        try:
            while not self._stopping.is_set():
                try:
                    await self._fetch_once()
                    await self._commit_due()
                except KafkaError as exc:
                    log.warning("kafka error in the consume loop, retrying: %s", exc)
                    await self._sleep_unless_stopping(FETCH_ERROR_BACKOFF_SECONDS)
        finally:
            lag_task.cancel()
            probe_task.cancel()

    async def drain(self, grace: float) -> None:
        """Let in-flight prompts finish within ``grace``, cancel the rest, flush, commit."""
        in_flight = list(self._tasks)
        log.info("draining", extra={"in_flight": len(in_flight), "grace_seconds": grace})
        finished, cancelled = await self._settle(in_flight, grace)
        await self.outputs.flush()
        await self._commit(force=True)
        log.info("drained", extra={"finished": finished, "cancelled": cancelled})

    async def stop(self) -> None:
        await self.inputs.stop()
        await self.outputs.stop()
        await self.claude.close()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def ready(self) -> tuple[bool, str]:
        """What ``/readyz`` answers: see ``readiness.Readiness.verdict``."""
        return self.readiness.verdict(joined=self.inputs.in_group, now=time.monotonic())

    # -- fetch and dispatch ------------------------------------------------------------------------
    async def _fetch_once(self) -> None:
        streams = len(self._tasks) - len(self._batch_tasks)
        free = min(self._limit - streams, self._batch_limit - len(self._batch_tasks))
        if free <= 0:
            if not self._paused:
                self.inputs.pause()
                self._paused = True
            # Keep polling while paused: group membership and the poll interval stay alive.
            self._slot_freed.clear()
            await self._wait_event(self._slot_freed, FETCH_TIMEOUT_MS / 1000.0)
            records = await self.inputs.fetch(1, 0)
        else:
            if self._paused:
                self.inputs.resume()
                self._paused = False
            records = await self.inputs.fetch(free, FETCH_TIMEOUT_MS)
        for record in records:
            self._dispatch(record)

    def _dispatch(self, record: InputRecord) -> None:
        self._book.start(record.where, record.offset)
        source = SourceRecord(topic=record.topic, partition=record.partition, offset=record.offset)
        decoded = decode_prompt(record.value, self._settings.pipeline, datetime.now(UTC))
        generation = self.inputs.generation
        batch = False
        coro: Awaitable[None]
        if isinstance(decoded, Rejection):
            self._metrics.prompts_received.labels(
                decoded.prompt.mode.value if decoded.prompt else "unknown"
            ).inc()
            coro = self._reject(record, source, generation, decoded)
        else:
            self._metrics.prompts_received.labels(decoded.mode.value).inc()
            job = events.Job(
                decoded,
                source,
                generation,
                record.timestamp_ms,
                record.header("traceparent"),
                record.value or b"",
            )
            if decoded.mode is Mode.BATCH and self._batch_hand_off is not None:
                batch = True
                coro = self._batch_hand_off(job)
            else:
                coro = self.runner.run(job)
        # The task runs in its own context, so the fields bound here reach every log line it writes.
        context = contextvars.copy_context()
        context.run(
            logs.bind,
            custom_id=decoded.custom_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        task: asyncio.Task[None] = context.run(asyncio.ensure_future, coro)
        self._tasks[task] = (record.where, record.offset)
        if batch:
            self._batch_tasks.add(task)
        self._metrics.in_flight.set(len(self._tasks))
        task.add_done_callback(self._task_done)

    async def _reject(
        self, record: InputRecord, source: SourceRecord, generation: int, rejection: Rejection
    ) -> None:
        event = events.error(
            error=rejection.error,
            source=source,
            generation=generation,
            attempt=1,
            retryable=False,
            prompt=rejection.prompt,
            raw=record.value,
        )
        await publish_error_event(
            self.outputs, self._settings.topics.errors, self._source, event, record.header("traceparent")
        )
        attributes = rejection.prompt.attributes if rejection.prompt else None
        self._metrics.finished(events.mode_of(rejection.prompt), "errored", rejection.error.type, attributes)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        where = self._tasks.pop(task, None)
        if where is None:
            return
        self._batch_tasks.discard(task)
        self._metrics.in_flight.set(len(self._tasks))
        self._slot_freed.set()
        if task.cancelled():
            return  # not finished: the offset stays uncommitted and the record is redone
        exc = task.exception()
        if exc is not None:
            # A bug, not a prompt outcome. Leaving the offset open would stall the partition, so the
            # record is redone after a restart; say so loudly.
            log.error("prompt task crashed; its offset stays uncommitted", exc_info=exc)
            return
        self._book.finish(*where)

    # -- commits and rebalances ----------------------------------------------------------------------
    async def _commit_due(self) -> None:
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL_SECONDS:
            await self._commit()

    async def _commit(self, force: bool = False, only: set[Partition] | None = None) -> None:
        positions = self._book.committable()
        if only is not None:
            positions = {p: o for p, o in positions.items() if p in only}
        if not positions:
            return
        try:
            await self.inputs.commit(positions)  # type: ignore[arg-type]
        except KafkaError as exc:
            log.warning("commit failed (will retry): %s", exc)
            if force:
                raise
            return
        self._book.mark_committed(positions)
        self._last_commit = time.monotonic()

    async def _revoked(self, partitions: list[Partition]) -> None:
        revoked = set(partitions)
        tasks = [t for t, (where, _) in self._tasks.items() if where in revoked]
        finished, cancelled = await self._settle(tasks, self._settings.pipeline.rebalance_grace_seconds)
        with contextlib.suppress(KafkaError):  # logged in _commit; the new owner redoes the rest
            await self._commit(only=revoked)
        self._book.forget(revoked)
        for topic, partition in revoked:  # the new owner reports these; a stale value would mislead
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(topic, str(partition))
        log.info(
            "partitions revoked",
            extra={"partitions": len(revoked), "finished": finished, "cancelled": cancelled},
        )

    async def _assigned(self, partitions: list[Partition]) -> None:
        self._paused = False  # a fresh assignment starts unpaused

    async def _settle(self, tasks: list[asyncio.Task[None]], grace: float) -> tuple[int, int]:
        if not tasks:
            return 0, 0
        done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in (*done, *pending):
            self._task_done(task)  # idempotent: bookkeeping is settled before the commit that follows
        return len(done), len(pending)

    # -- observability hooks -------------------------------------------------------------------------
    def _on_api_response(self, status: int, retry_after: float | None) -> None:
        self._metrics.http_responses.labels(str(status)).inc()
        if status == 429 and retry_after:
            self.gate.pause(retry_after, time.monotonic())
            self._metrics.rate_limit_waits.labels("server").inc()

    async def _report_lag(self) -> None:
        while True:
            for (topic, partition), lag in self.inputs.lag().items():
                self._metrics.lag.labels(topic, str(partition)).set(lag)
            await asyncio.sleep(LAG_INTERVAL_SECONDS)

    async def _probe_brokers(self) -> None:
        """Ask the cluster through both clients every second; ``ready()`` reads the latest answers."""
        while True:
            producer, consumer = await asyncio.gather(
                self.outputs.reachable(PROBE_TIMEOUT_SECONDS), self.inputs.reachable(PROBE_TIMEOUT_SECONDS)
            )
            self.readiness.record(Probe(time.monotonic(), producer, consumer))
            ready, reason = self.ready()
            self._metrics.ready.set(1 if ready else 0)
            if ready != self._was_ready:
                log.log(logging.INFO if ready else logging.WARNING, "readiness: %s", reason)
                self._was_ready = ready
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)

    async def _wait_event(self, event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        await self._wait_event(self._stopping, seconds)
