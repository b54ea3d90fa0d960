"""The Kafka adapters for ``TOPIC_BATCHES``: write hand-off records (acknowledged) and tombstones,
follow the topic as it grows, hold the batch leadership, and read the whole topic once (CLI).

Every record goes to partition ``HANDOFF_PARTITION``: one partition keeps all of a batch's keys, and a
resubmission's record, in one order, and the group member assigned that partition is the one replica
that follows batches (``service.kafka.leadership``).

Reading does not trust ``end_offsets()`` (the embedded broker reports it wrongly): it reads until each
position reaches the high watermark the fetch responses report, or until nothing more arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError

from service.batch.records import HandOffRecord, marker_key
from service.errors import KafkaError
from service.kafka.clients import reader
from service.kafka.outputs import Outputs
from service.kafka.retry import publish_until_acknowledged
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

QUIET_POLLS = 5  # empty polls in a row that end a read when high watermarks stay unknown
POLL_MS = 200
HANDOFF_PARTITION = 0
TAIL_FETCH_WAIT_MS = 500


class HandOffLog:
    """Writes through the process's one producer (``Outputs``), which its owner starts and stops."""

    def __init__(self, outputs: Outputs, topic: str) -> None:
        self.topic = topic
        self._producer = outputs.producer

    async def write(self, records: Sequence[HandOffRecord]) -> None:
        """Send every chunk and return once the broker acknowledged all; retried while Kafka fails."""
        await self._send_all([(r.key.encode(), r.model_dump_json().encode()) for r in records])

    async def mark_publishing(self, batch_id: str) -> None:
        """Say, before the first result event, that this batch's results are being published.

        A follower that takes the batch over later sees the marker and re-records the batch one
        attempt higher, so that what it publishes outranks what was published before.
        """
        await self._send_all([(marker_key(batch_id).encode(), b"{}")])

    async def tombstone(self, keys: Sequence[str]) -> None:
        await self._send_all([(k.encode(), None) for k in keys])

    async def _send_all(self, items: list[tuple[bytes, bytes | None]]) -> None:
        async def send_all() -> None:
            futures = [
                await self._producer.send(self.topic, value, key=key, partition=HANDOFF_PARTITION)
                for key, value in items
            ]
            await asyncio.gather(*futures)

        await publish_until_acknowledged(send_all, "hand-off record", errors=(AIOKafkaError,), logger=log)


class HandOffTail:
    """Reads the hand-off partition from its beginning and then follows it (no group, no commits)."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self._partition = TopicPartition(topic, HANDOFF_PARTITION)
        # Batches run for minutes: half a second to notice a new one is plenty, and an idle tail then
        # costs a fetch every 500 ms instead of every KAFKA_FETCH_MAX_WAIT_MS.
        self._consumer = reader(kafka, fetch_max_wait_ms=TAIL_FETCH_WAIT_MS)
        self.started = False

    async def start(self) -> None:
        try:
            await self._consumer.start()
            self._consumer.assign([self._partition])
            await self._consumer.seek_to_beginning(self._partition)
        except AIOKafkaError as exc:
            await self._consumer.stop()
            raise KafkaError(f"following {self.topic} failed: {exc!r}") from exc
        self.started = True

    async def stop(self) -> None:
        # Always: a client built but never started still holds an open flag (aiokafka warns).
        self.started = False
        await self._consumer.stop()

    async def catch_up(self) -> list[tuple[str, bytes | None]]:
        """Every record from the beginning up to the high watermark seen while reading."""
        out: list[tuple[str, bytes | None]] = []
        quiet = 0
        deadline = time.monotonic() + 300.0
        while quiet < QUIET_POLLS and time.monotonic() < deadline:
            batch = await self.read(POLL_MS)
            out += batch
            quiet = 0 if batch else quiet + 1
            if await caught_up(self._consumer, [self._partition]):
                break
        return out

    async def read(self, timeout_ms: int) -> list[tuple[str, bytes | None]]:
        """The next records (possibly none within ``timeout_ms``)."""
        try:
            batches = await self._consumer.getmany(self._partition, timeout_ms=timeout_ms, max_records=10_000)
        except AIOKafkaError as exc:
            raise KafkaError(f"reading {self.topic} failed: {exc!r}") from exc
        return [
            (r.key.decode(), r.value) for records in batches.values() for r in records if r.key is not None
        ]  # fmt: skip


async def read_topic(kafka: KafkaSettings, topic: str) -> list[tuple[str, bytes | None]]:
    """Every ``(key, value)`` of ``topic`` from the beginning, in offset order per partition."""
    consumer = reader(kafka, auto_offset_reset="earliest")
    out: list[tuple[str, bytes | None]] = []
    try:
        await consumer.start()
        await consumer.topics()  # loads metadata
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return out
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        quiet = 0
        deadline = time.monotonic() + 300.0
        while quiet < QUIET_POLLS and time.monotonic() < deadline:
            batches = await consumer.getmany(*tps, timeout_ms=POLL_MS, max_records=10_000)
            count = 0
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        out.append((record.key.decode(), record.value))
                    count += 1
            quiet = 0 if count else quiet + 1
            if await caught_up(consumer, tps):
                break
    except AIOKafkaError as exc:
        raise KafkaError(f"reading {topic} failed: {exc!r}") from exc
    finally:
        await consumer.stop()
    return out


async def caught_up(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
    """Every partition read up to the high watermark its last fetch response reported."""
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True
