"""A compacted topic as a table every replica holds: follow it from the beginning, write through it.

Used for ``TOPIC_RUNS`` and ``TOPIC_SESSIONS``. Every replica reads every partition (manual
assignment, no group, no commits) into ``view`` (latest value per key; a tombstone deletes), so the
owner of a prompt can be any replica. ``caught_up_now`` returns once a fetch issued after the call
found every partition read to its high watermark (``caught_up``, shared with the batch hand-off log):
then every write another replica had acknowledged before is in the view. Writes wait for the
broker's acknowledgement and are retried while Kafka fails; a record too large raises ``LoopFailed``.
Without the topic (``enabled`` false) the view is this process's own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.errors import MessageSizeTooLargeError

from service.errors import LoopFailed
from service.kafka.clients import reader
from service.kafka.handoff_log import caught_up
from service.kafka.outputs import Outputs
from service.kafka.retry import publish_until_acknowledged
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

POLL_MS = 200
CATCH_UP_SECONDS = 30.0


class CompactedTable:
    """Writes go through the process's one producer (``outputs``, started and stopped by its owner)."""

    def __init__(self, kafka: KafkaSettings, topic: str, outputs: Outputs) -> None:
        self.topic = topic
        self._consumer = reader(
            kafka, auto_offset_reset="earliest", fetch_max_wait_ms=kafka.fetch_max_wait_ms
        )
        self._outputs = outputs
        self.view: dict[str, bytes] = {}
        self._partitions: list[TopicPartition] = []
        self._polls = 0
        self._polled = asyncio.Event()
        self.enabled = False
        self.started = False

    async def start(self) -> None:
        await self._consumer.start()
        self.started = True
        await self._consumer.topics()
        found = self._consumer.partitions_for_topic(self.topic)
        if not found:
            log.warning("topic %s not found: its records are kept in this process only", self.topic)
            return
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self.enabled = True

    async def stop(self) -> None:
        # Always: a client built but never started still holds an open flag (aiokafka warns).
        self.started = False
        await self._consumer.stop()

    async def follow(self) -> None:
        """Read the topic into ``view`` until cancelled; never dies on a record or a Kafka error."""
        while self.enabled:
            try:
                batches = await self._consumer.getmany(*self._partitions, timeout_ms=POLL_MS)
            except AIOKafkaError as exc:
                log.warning("%s: fetch failed, retrying: %r", self.topic, exc)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        self._apply(record.key.decode(errors="replace"), record.value)
            self._polls += 1
            self._polled.set()
            self._polled.clear()

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.view.pop(key, None)
        else:
            self.view[key] = value

    async def caught_up_now(self) -> None:
        if not self.enabled:
            return
        start = self._polls
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while time.monotonic() < deadline:
            if self._polls >= start + 2 and await caught_up(self._consumer, self._partitions):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._polled.wait(), deadline - time.monotonic())
        log.warning(
            "%s: not caught up within %.0f s; going on with what was read", self.topic, CATCH_UP_SECONDS
        )

    async def write(self, items: Mapping[str, bytes | None]) -> None:
        """Write (``None``: delete) every key; returns once the broker acknowledged all."""
        if self.enabled and items:
            await self._send(items)
        for key, value in items.items():
            self._apply(key, value)

    async def _send(self, items: Mapping[str, bytes | None]) -> None:
        producer = self._outputs.producer

        async def publish() -> None:
            try:
                futures = [
                    await producer.send(self.topic, value, key=key.encode()) for key, value in items.items()
                ]
                await asyncio.gather(*futures)
            except MessageSizeTooLargeError as exc:  # retrying cannot help: the run ends instead
                raise LoopFailed(f"a record is too large for {self.topic}: {exc!r}") from None

        await publish_until_acknowledged(publish, f"{self.topic} record", errors=(AIOKafkaError,), logger=log)
