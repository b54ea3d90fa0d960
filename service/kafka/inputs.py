"""The Kafka input adapter: the consumer-group member that feeds prompt records to the pipeline.

Auto-commit is off; offsets are committed by the pipeline only past records whose outputs the broker
acknowledged. Partition keys handed out are plain ``(topic, partition)`` tuples so that nothing past
this module sees aiokafka types.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError

from service.errors import KafkaError
from service.kafka.config import consumer_kwargs
from service.kafka.probe import metadata_answer, topic_names
from service.metrics import Metrics
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

Partition = tuple[str, int]
PartitionsCallback = Callable[[list[Partition]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def where(self) -> Partition:
        return (self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, inputs: Inputs) -> None:
        self._inputs = inputs

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._inputs.revoked([(tp.topic, tp.partition) for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._inputs.assigned([(tp.topic, tp.partition) for tp in assigned])


class Inputs:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str | Sequence[str],
        metrics: Metrics,
        on_revoked: PartitionsCallback,
        on_assigned: PartitionsCallback,
    ) -> None:
        self._consumer = AIOKafkaConsumer(**consumer_kwargs(kafka))
        self._topics = [topic] if isinstance(topic, str) else list(topic)
        self._metrics = metrics
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned
        self.generation = 0
        self.joined = False
        self.committed: dict[Partition, int] = {}  # group offsets as last read or written
        self.started = False

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_Listener(self))
        self.started = True

    async def stop(self) -> None:
        # Always: a client built but never started still holds an open flag (aiokafka warns).
        self.started = False
        await self._consumer.stop()  # leaves the group so partitions move at once

    async def revoked(self, partitions: list[Partition]) -> None:
        self.joined = False
        await self._on_revoked(partitions)

    async def assigned(self, partitions: list[Partition]) -> None:
        # The generation the group coordinator just handed out; it grows on every rebalance, which is
        # what makes work redone after a move or crash carry a higher (generation, attempt).
        self.generation = int(self._consumer._coordinator.generation)
        self.joined = True
        self._metrics.assigned_partitions.set(len(partitions))
        self.committed = {}
        for topic, partition in partitions:
            position = await self._consumer.committed(TopicPartition(topic, partition))
            if position is not None:
                self.committed[(topic, partition)] = position
        log.info("partitions assigned", extra={"generation": self.generation, "partitions": len(partitions)})
        await self._on_assigned(partitions)

    async def fetch(self, max_records: int, timeout_ms: int) -> list[InputRecord]:
        try:
            batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except AIOKafkaError as exc:
            self._metrics.kafka_errors.labels("fetch").inc()
            raise KafkaError(f"fetch failed: {exc!r}") from exc
        records = [
            InputRecord(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value, tuple(m.headers or ()))
            for messages in batches.values()
            for m in messages
        ]
        for topic in self._topics:
            count = sum(1 for r in records if r.topic == topic)
            if count:
                self._metrics.consumed.labels(topic).inc(count)
        return records

    def pause(self) -> None:
        partitions = self._consumer.assignment()
        self._consumer.pause(*partitions)
        self._metrics.paused_partitions.set(len(partitions))

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())
        self._metrics.paused_partitions.set(0)

    async def commit(self, positions: dict[Partition, int]) -> None:
        started = time.monotonic()
        try:
            await self._consumer.commit({TopicPartition(t, p): o for (t, p), o in positions.items()})
        except AIOKafkaError as exc:
            self._metrics.kafka_errors.labels("commit").inc()
            raise KafkaError(f"commit failed: {exc!r}") from exc
        self._metrics.commit_latency.observe(time.monotonic() - started)
        self.committed.update(positions)

    @property
    def in_group(self) -> bool:
        """A member of the group (with partitions, or idle with none) whose coordinator is known."""
        return self.joined and self._consumer._coordinator.coordinator_id is not None

    async def reachable(self, within: float) -> str | None:
        """``None`` while the consumer's connections get answers from the cluster, else why not."""
        if not self.started:
            return "consumer not started"
        return await metadata_answer(self._consumer._client, within)

    async def topic_names(self, within: float) -> frozenset[str] | None:
        """Every topic in the cluster, through the consumer's connections; ``None`` if no answer."""
        if not self.started:
            return None
        return await topic_names(self._consumer._client, within)

    def lag(self) -> dict[Partition, int]:
        """High watermark (as reported by fetches) minus the committed offset, per assigned partition.

        The fetch-reported high watermark is used, not ``end_offsets()``, which some brokers (Tansu)
        answer with the last batch's base offset.
        """
        out: dict[Partition, int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is not None:
                out[(tp.topic, tp.partition)] = max(0, high - self.committed.get((tp.topic, tp.partition), 0))
        return out
