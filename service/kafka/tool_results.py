"""The Kafka adapter for ``TOPIC_TOOL_RESULTS``: each result to the run here that waits for it.

Routing choice: a result is keyed by custom_id like the call it answers, but a tool worker's
producer partitions by its own hash and the prompt topic may have a different partition count, so
the result's partition says nothing reliable about which replica owns the prompt. Every replica
therefore reads *every* partition of the results topic (manual assignment, no consumer group, no
commits), from the end at start-up, and keeps only the results of calls it has in flight; the others
are dropped. That costs each replica the whole results stream (small records), and needs no
coordination on rebalances: a run that moves resumes on its new owner, which publishes the calls
still unanswered again (same ``tool_use_id``) and waits for their results there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError
from pydantic import ValidationError

from schemas import ToolResultEvent
from service.kafka.clients import reader
from service.metrics import Metrics
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

POLL_MS = 200
RETRY_SECONDS = 2.0

Slot = tuple[str, str]  # (custom_id, tool_use_id)


class Waiters:
    """The calls in flight here and the futures their results resolve. No Kafka."""

    def __init__(self) -> None:
        self._waiting: dict[Slot, asyncio.Future[ToolResultEvent]] = {}

    def expect(
        self, custom_id: str, tool_use_ids: Iterable[str]
    ) -> dict[str, asyncio.Future[ToolResultEvent]]:
        """Futures for the results of these calls; register them *before* publishing the calls."""
        loop = asyncio.get_running_loop()
        out = {}
        for tool_use_id in tool_use_ids:
            future = self._waiting.get((custom_id, tool_use_id))
            if future is None or future.done():
                future = self._waiting[(custom_id, tool_use_id)] = loop.create_future()
            out[tool_use_id] = future
        return out

    def forget(self, custom_id: str, tool_use_ids: Iterable[str]) -> None:
        for tool_use_id in tool_use_ids:
            future = self._waiting.pop((custom_id, tool_use_id), None)
            if future is not None and not future.done():
                future.cancel()

    def deliver(self, value: bytes | None) -> str:
        """Route one record's value; returns what became of it (``matched``, ``unexpected``, ``invalid``)."""
        try:
            result = ToolResultEvent.model_validate_json(value or b"")
        except ValidationError:
            return "invalid"
        future = self._waiting.get((result.custom_id, result.tool_use_id))
        if future is None or future.done():
            return "unexpected"  # another replica's call, a duplicate, or a result after its timeout
        future.set_result(result)
        return "matched"

    def cancel_all(self) -> None:
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()


class ToolResults:
    def __init__(self, kafka: KafkaSettings, topic: str, metrics: Metrics) -> None:
        self.topic = topic
        self._consumer = reader(kafka, auto_offset_reset="latest", fetch_max_wait_ms=kafka.fetch_max_wait_ms)
        self._metrics = metrics
        self.waiters = Waiters()
        self._assigned = False
        self.started = False

    async def start(self) -> None:
        await self._consumer.start()
        self.started = True
        await self._assign()

    async def stop(self) -> None:
        # Always: a client built but never started still holds an open flag (aiokafka warns).
        self.started = False
        await self._consumer.stop()
        self.waiters.cancel_all()

    async def _assign(self) -> None:
        """Take every partition of the topic, positioned at its end now (so no later result is missed)."""
        try:
            await self._consumer.topics()  # fetches metadata for every topic (naming one may create it)
        except AIOKafkaError as exc:
            log.warning("tool results: metadata failed, retrying: %r", exc)
            return
        found = self._consumer.partitions_for_topic(self.topic)
        if not found:
            log.warning("tool results: topic %s not found; tool loops wait until it exists", self.topic)
            return
        partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)  # resolved now, not at the first fetch
        self._assigned = True

    def expect(
        self, custom_id: str, tool_use_ids: Iterable[str]
    ) -> dict[str, asyncio.Future[ToolResultEvent]]:
        """Futures for the results of these calls; register them *before* publishing the calls."""
        return self.waiters.expect(custom_id, tool_use_ids)

    def forget(self, custom_id: str, tool_use_ids: Iterable[str]) -> None:
        self.waiters.forget(custom_id, tool_use_ids)

    async def run(self) -> None:
        """Read results until cancelled; never dies on a record or a Kafka error."""
        while True:
            if not self._assigned:
                await self._assign()
                if not self._assigned:
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
            try:
                batches = await self._consumer.getmany(timeout_ms=POLL_MS)
            except AIOKafkaError as exc:
                self._metrics.kafka_errors.labels("consume").inc()
                log.warning("tool results: fetch failed, retrying: %r", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for records in batches.values():
                for record in records:
                    outcome = self.waiters.deliver(record.value)
                    self._metrics.tool_results.labels(outcome).inc()
                    if outcome == "invalid":
                        log.warning(
                            "tool results: not a ToolResultEvent, dropped",
                            extra={"partition": record.partition, "offset": record.offset},
                        )
