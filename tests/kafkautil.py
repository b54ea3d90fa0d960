"""Test-side Kafka helpers: real aiokafka clients against the test broker, waits on conditions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.kafka.committed import committed_positions
from service.kafka.config import common_kwargs, producer_kwargs
from service.settings import Settings
from tests.waiting import until


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    def json(self) -> Any:
        assert self.value is not None
        return json.loads(self.value)


async def produce(
    settings: Settings, topic: str, items: Iterable[tuple[bytes | None, bytes]], **kw: Any
) -> list[tuple[int, int]]:
    """Send (key, value) pairs; wait for the broker's acks; return each record's (partition, offset)."""
    producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, **kw) for key, value in items]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metadata]


async def committed_offsets(settings: Settings, topic: str, partitions: int) -> dict[int, int | None]:
    """The consumer group's committed offsets, read without joining the group."""
    committed = await committed_positions(settings.kafka, [(topic, p) for p in range(partitions)])
    return {p: committed.get((topic, p)) for p in range(partitions)}


class Collector:
    """Reads topics from the beginning without a group and keeps every record, for assertions."""

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics, **common_kwargs(settings.kafka), group_id=None, auto_offset_reset="earliest"
        )
        self.records: list[Record] = []

    async def __aenter__(self) -> Collector:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
        for messages in batches.values():
            for m in messages:
                self.records.append(
                    Record(m.topic, m.partition, m.offset, m.key, m.value, dict(m.headers or ()))
                )

    async def until(self, condition: Callable[[list[Record]], bool], within: float = 30.0) -> list[Record]:
        """Poll until ``condition(records)`` holds; fail with a count if it does not within ``within``."""

        async def polled() -> bool:
            if condition(self.records):
                return True
            await self.poll()  # waits up to 200 ms for records: the pace of this wait
            return condition(self.records)

        await until(polled, within, lambda: f"records condition ({len(self.records)} records seen)", every=0)
        return self.records

    async def drain(self, within: float = 30.0) -> list[Record]:
        """Poll until every partition of the topics has been read up to its current high watermark."""
        behind: list[TopicPartition] = []

        async def read_to_end() -> bool:
            await self.poll()
            behind.clear()
            for tp in self._consumer.assignment():
                high = self._consumer.highwater(tp)
                if high is None or await self._consumer.position(tp) < high:
                    behind.append(tp)
            return not behind

        await until(read_to_end, within, lambda: f"partitions read to the end (behind: {behind})", every=0)
        return self.records

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]
