"""The Kafka adapter for ``TOPIC_BATCHES``: write hand-off records (acknowledged), tombstones, and read
the whole topic back.

Reading does not trust ``end_offsets()`` (the embedded broker reports it wrongly): it assigns every
partition, seeks to the beginning and reads until each position reaches the high watermark the fetch
responses report, or until nothing more arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError

from service.batch.records import HandOffRecord
from service.errors import KafkaError
from service.kafka.config import common_kwargs, producer_kwargs
from service.pipeline.backoff import attempt_delay
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

RETRY_CAP_SECONDS = 30.0
QUIET_POLLS = 5  # empty polls in a row that end a read when high watermarks stay unknown
POLL_MS = 200


class HandOffLog:
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self.topic = topic
        self._producer = AIOKafkaProducer(**producer_kwargs(kafka))
        self.started = False

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self._producer.stop()

    async def write(self, records: Sequence[HandOffRecord]) -> None:
        """Send every chunk and return once the broker acknowledged all; retried while Kafka fails."""
        await self._send_all([(r.key.encode(), r.model_dump_json().encode()) for r in records])

    async def tombstone(self, keys: Sequence[str]) -> None:
        await self._send_all([(k.encode(), None) for k in keys])

    async def _send_all(self, items: list[tuple[bytes, bytes | None]]) -> None:
        failures = 0
        while True:
            try:
                futures = [await self._producer.send(self.topic, value, key=key) for key, value in items]
                await asyncio.gather(*futures)
                return
            except AIOKafkaError as exc:
                failures += 1
                log.warning("hand-off record not acknowledged, retrying: %r", exc)
                await asyncio.sleep(attempt_delay(failures, 0.5, RETRY_CAP_SECONDS))


async def read_topic(kafka: KafkaSettings, topic: str) -> list[tuple[str, bytes | None]]:
    """Every ``(key, value)`` of ``topic`` from the beginning, in offset order per partition."""
    consumer = AIOKafkaConsumer(
        **common_kwargs(kafka), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
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
            if await _caught_up(consumer, tps):
                break
    except AIOKafkaError as exc:
        raise KafkaError(f"reading {topic} failed: {exc!r}") from exc
    finally:
        await consumer.stop()
    return out


async def _caught_up(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True
