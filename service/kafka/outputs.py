"""The Kafka output adapter: one aiokafka producer for deltas, completions and errors."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.partitioner import DefaultPartitioner

from service import events, tracing
from service.cloudevents import Headers, TraceHeaders
from service.errors import KafkaError
from service.kafka.config import producer_kwargs
from service.kafka.probe import metadata_answer
from service.kafka.retry import publish_until_acknowledged
from service.metrics import Metrics
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

# Each acknowledged future kept costs ~250 bytes (with its RecordMetadata): at 64 an answer's stream held
# up to 16 KB of them, more than the bare SDK's whole stream. Scanned every 8 sends, each future is still
# looked at about once (issue 19).
PRUNE_AT = 8
_PARTITIONER = DefaultPartitioner()  # the producer's own: outputs refuse a custom one (passthrough.py)


class Acks:
    """The acknowledgements one attempt still waits for, in send order.

    Holding every delta's future until the stream ends costs about 300 bytes a delta (the future and
    its RecordMetadata), which grows with the answer. A send replaces the previous future when the
    broker has acknowledged it already (the usual case at an answer's pace, so a stream holds about
    one), and the rest are dropped every ``PRUNE_AT`` sends once acknowledged (amortised O(1), no
    callback per delta). Failed or cancelled ones are kept, so ``Outputs.acknowledged`` sees exactly
    what it would have seen in the full list.
    """

    __slots__ = ("_limit", "pending")

    def __init__(self) -> None:
        self.pending: list[asyncio.Future[object]] = []
        self._limit = PRUNE_AT

    def add(self, future: asyncio.Future[object]) -> None:
        pending = self.pending
        if pending and _acknowledged(pending[-1]):
            pending[-1] = future
            return
        pending.append(future)
        if len(pending) >= self._limit:
            pending[:] = [f for f in pending if not _acknowledged(f)]
            self._limit = max(PRUNE_AT, 2 * len(pending))


def _acknowledged(future: asyncio.Future[object]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


class Outputs:
    """``send`` enqueues and returns the broker-acknowledgement future; ``stop`` flushes first."""

    def __init__(self, kafka: KafkaSettings, metrics: Metrics) -> None:
        self._producer = AIOKafkaProducer(**producer_kwargs(kafka))
        self._metrics = metrics
        self.started = False

    @property
    def producer(self) -> AIOKafkaProducer:
        """The aiokafka producer itself, for the hand-off log's partition-pinned sends."""
        return self._producer

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def stop(self) -> None:
        # Always: a client built but never started still holds an open flag (aiokafka warns).
        self.started = False
        await self._producer.stop()  # flushes pending batches first

    async def flush(self) -> None:
        await self._producer.flush()

    async def partition(self, topic: str, key: bytes) -> int:
        """The partition the producer's partitioner gives ``key`` (murmur2, as Java clients), so that an
        attempt pins its deltas: the hash once per attempt instead of once per delta (~6% of the hot
        path's CPU), and one partition for the whole attempt, even if the topic grows mid-stream
        (a keyed record would then move to another partition, and out of order with the first ones)."""
        try:
            partitions = sorted(await self._producer.partitions_for(topic))
        except AIOKafkaError as exc:
            self._metrics.kafka_errors.labels("produce").inc()
            raise KafkaError(f"no partitions known for {topic}: {exc!r}") from exc
        return int(_PARTITIONER(key, partitions, partitions))

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers, partition: int | None = None
    ) -> asyncio.Future[object]:
        try:
            future: asyncio.Future[object] = await self._producer.send(
                topic, value, key=key, partition=partition, headers=headers
            )
        except AIOKafkaError as exc:
            self._metrics.kafka_errors.labels("produce").inc()
            raise KafkaError(f"produce to {topic} failed: {exc!r}") from exc
        self._metrics.produced_to(topic)
        return future

    async def acknowledged(
        self, futures: list[asyncio.Future[object]], final: asyncio.Future[object]
    ) -> None:
        """Wait until the broker acknowledged every delta and the final event; time the final one."""
        started = time.monotonic()
        try:
            # Not ``gather(*futures)``: a done-callback per delta costs a loop callback per event.
            # A partition's batches are acknowledged in order, so once the last delta and the final
            # event are done the others almost always are too; any that is not is awaited.
            await asyncio.gather(*futures[-1:], final)
            for future in futures:
                if not future.done():
                    await future
                elif future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
        except AIOKafkaError as exc:
            self._metrics.kafka_errors.labels("produce").inc()
            raise KafkaError(f"broker did not acknowledge outputs: {exc!r}") from exc
        self._metrics.produce_latency.observe(time.monotonic() - started)

    async def reachable(self, within: float) -> str | None:
        """``None`` while the producer's connections get answers from the cluster, else why not."""
        if not self.started:
            return "producer not started"
        return await metadata_answer(self._producer.client, within)


def encode_key(custom_id: str | None) -> bytes | None:
    return custom_id.encode() if custom_id else None


async def publish_error_event(
    outputs: Outputs, topic: str, source: bytes, event: Any, trace: TraceHeaders
) -> None:
    """Send an ErrorEvent and wait for the broker's acknowledgement, retrying while Kafka is down."""
    value = event.model_dump_json().encode()
    key = encode_key(event.custom_id)

    async def publish() -> None:
        with tracing.send(topic, key, trace) as carried:
            headers = events.final_headers(
                events.ERROR_TYPE, source, event.custom_id, event.generation, event.attempt, event.source,
                carried,
            )  # fmt: skip
            future = await outputs.send(topic, key, value, headers)
        await outputs.acknowledged([], future)

    await publish_until_acknowledged(publish, "error event", logger=log)
