"""The callback dispatcher: a consumer group of its own on the completion and error topics.

Each record asking for a callback becomes a delivery task (at most ``CALLBACK_MAX_IN_FLIGHT``; the
partitions are paused when full). A partition's offset moves only past records whose delivery ended:
delivered, or its ``callback_failed`` / ``callback_refused`` ErrorEvent acknowledged by the broker. The
pipeline (``claude-kafka run``) never waits for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp.abc import AbstractResolver

from schemas import SourceRecord
from service.callbacks.delivery import REFUSED, Deliverer
from service.callbacks.http import CallbackClient
from service.callbacks.outcomes import CALLBACK_FAILED, CALLBACK_REFUSED, failure, wanted
from service.callbacks.retry import Verdict
from service.callbacks.signing import secret_key
from service.errors import ConfigError, KafkaError
from service.metrics import Metrics
from service.pipeline.inputs import InputRecord, Inputs, Partition
from service.pipeline.offsets import OffsetBook
from service.pipeline.outputs import Outputs
from service.pipeline.prompts import publish_error_event
from service.settings import Settings

log = logging.getLogger(__name__)

FETCH_TIMEOUT_MS = 100
COMMIT_INTERVAL_SECONDS = 0.2
FETCH_ERROR_BACKOFF_SECONDS = 1.0


def signing_key(settings: Settings) -> bytes:
    """The HMAC key, or ``ConfigError`` when callbacks cannot run (no hosts allowed, no secret)."""
    callbacks = settings.callbacks
    problems = []
    if not callbacks.allowed_hosts:
        problems.append("CALLBACK_ALLOWED_HOSTS: empty, so callbacks are off; list the receiver hosts")
    if callbacks.signing_secret is None:
        problems.append("CALLBACK_SIGNING_SECRET: required to sign callbacks")
    else:
        try:
            return secret_key(callbacks.signing_secret.get_secret_value()) if not problems else b""
        except ValueError as exc:
            problems.append(str(exc))
    raise ConfigError("callbacks cannot run", problems=problems)


class CallbackDispatcher:
    def __init__(
        self, settings: Settings, metrics: Metrics, resolver: AbstractResolver | None = None
    ) -> None:
        callbacks = settings.callbacks
        key = signing_key(settings)
        self._settings = settings
        self._metrics = metrics
        self._limit = callbacks.max_in_flight
        self._kinds = {settings.topics.completions: "completion", settings.topics.errors: "error"}
        self._source = f"/claude-kafka/{settings.pipeline.service_instance}/callbacks".encode()
        self._book = OffsetBook()
        self._tasks: dict[asyncio.Task[None], tuple[Partition, int]] = {}
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._paused = False
        self._last_commit = 0.0
        kafka = settings.kafka.model_copy(update={"group_id": callbacks.group_id})
        self.inputs = Inputs(kafka, list(self._kinds), metrics, self._revoked, self._assigned)
        self.outputs = Outputs(settings.kafka, metrics)
        self.client = CallbackClient(callbacks, resolver)
        self.deliverer = Deliverer(self.client, callbacks, metrics, key)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.outputs.start()
        await self.client.start()
        await self.inputs.start()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Fetch and dispatch until ``request_stop``; never dies on one record or one Kafka error."""
        while not self._stopping.is_set():
            try:
                await self._fetch_once()
                if time.monotonic() - self._last_commit >= COMMIT_INTERVAL_SECONDS:
                    await self._commit()
            except KafkaError as exc:
                log.warning("kafka error in the callback loop, retrying: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), FETCH_ERROR_BACKOFF_SECONDS)

    async def drain(self, grace: float) -> None:
        """Let deliveries finish within ``grace``, cancel the rest (redelivered later), commit."""
        in_flight = list(self._tasks)
        log.info("draining callbacks", extra={"in_flight": len(in_flight), "grace_seconds": grace})
        finished, cancelled = await self._settle(in_flight, grace)
        await self.outputs.flush()
        await self._commit(force=True)
        log.info("callbacks drained", extra={"finished": finished, "cancelled": cancelled})

    async def stop(self) -> None:
        await self.inputs.stop()
        await self.client.close()
        await self.outputs.stop()

    def ready(self) -> tuple[bool, str]:
        if not self.outputs.started:
            return False, "producer not connected"
        if not self.inputs.joined:
            return False, "consumer has not joined its group"
        return True, "ok"

    # -- fetch and dispatch ------------------------------------------------------------------------
    async def _fetch_once(self) -> None:
        free = self._limit - len(self._tasks)
        if free <= 0:
            if not self._paused:
                self.inputs.pause()
                self._paused = True
            self._slot_freed.clear()  # keep polling while paused: the group membership stays alive
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), FETCH_TIMEOUT_MS / 1000.0)
            records = await self.inputs.fetch(1, 0)
        else:
            if self._paused:
                self.inputs.resume()
                self._paused = False
            records = await self.inputs.fetch(free, FETCH_TIMEOUT_MS)
        for record in records:
            self._book.start(record.where, record.offset)
            task = asyncio.ensure_future(self._handle(record))
            self._tasks[task] = (record.where, record.offset)
            task.add_done_callback(self._task_done)
        self._metrics.callbacks_in_flight.set(len(self._tasks))

    async def _handle(self, record: InputRecord) -> None:
        source = SourceRecord(topic=record.topic, partition=record.partition, offset=record.offset)
        outcome = wanted(self._kinds[record.topic], record.value, source)
        if outcome is None:
            return
        result = await self.deliverer.deliver(outcome)
        if result.delivered:
            return
        refused = result.outcome == REFUSED
        error_type = CALLBACK_REFUSED if refused else CALLBACK_FAILED
        # Only a receiver that kept failing might take the same outcome later; a refusal or a final
        # answer (4xx, 410) will not change by sending it again.
        retryable = result.outcome == Verdict.FAILED and (result.status is None or result.status >= 500)
        event = failure(outcome, error_type, result.message, retryable=retryable)
        log.warning(
            "callback not delivered",
            extra={"custom_id": outcome.custom_id, "error_type": error_type, "reason": result.message},
        )
        await publish_error_event(
            self.outputs, self._settings.topics.errors, self._source, event, record.header("traceparent")
        )
        self._metrics.error_events.labels(error_type).inc()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        where = self._tasks.pop(task, None)
        if where is None:
            return
        self._metrics.callbacks_in_flight.set(len(self._tasks))
        self._slot_freed.set()
        if task.cancelled():
            return  # the offset stays open: the outcome is delivered again, with the same webhook-id
        exc = task.exception()
        if exc is not None:
            log.error("callback task crashed; its offset stays uncommitted", exc_info=exc)
            return
        self._book.finish(*where)

    # -- commits and rebalances ----------------------------------------------------------------------
    async def _commit(self, force: bool = False, only: set[Partition] | None = None) -> None:
        positions = self._book.committable()
        if only is not None:
            positions = {p: o for p, o in positions.items() if p in only}
        if not positions:
            return
        try:
            await self.inputs.commit(positions)  # type: ignore[arg-type]
        except KafkaError as exc:
            log.warning("callback commit failed (will retry): %s", exc)
            if force:
                raise
            return
        self._book.mark_committed(positions)
        self._last_commit = time.monotonic()

    async def _revoked(self, partitions: list[Partition]) -> None:
        revoked = set(partitions)
        tasks = [t for t, (where, _) in self._tasks.items() if where in revoked]
        await self._settle(tasks, self._settings.pipeline.rebalance_grace_seconds)
        with contextlib.suppress(KafkaError):
            await self._commit(only=revoked)
        self._book.forget(revoked)

    async def _assigned(self, partitions: list[Partition]) -> None:
        self._paused = False

    async def _settle(self, tasks: list[asyncio.Task[None]], grace: float) -> tuple[int, int]:
        if not tasks:
            return 0, 0
        done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in (*done, *pending):
            self._task_done(task)
        return len(done), len(pending)
