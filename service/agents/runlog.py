"""``TOPIC_RUNS``: the durable record of tool-loop runs (the Kafka ``RunStore``).

A run is recorded as one record per turn, keyed ``<custom_id>/<turn index>`` (``record_key`` of the
batch hand-off records): a turn, with the results its calls got, is the unit that changes, so a save
writes only the turns that changed since the last acknowledged write, and a long conversation is
chunked by turn instead of being one ever-growing record. The end of a run is a tombstone per key;
the topic is compacted, so only open runs stay.

Every replica follows every partition of the topic from the beginning (no group, like
``ToolResults``) and keeps the open runs in memory. ``load`` first waits until the follower has read
up to the high watermark (``caught_up``, shared with the hand-off log), so a replica that takes a
prompt over sees every turn the previous owner had acknowledged before acting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.errors import MessageSizeTooLargeError
from pydantic import ValidationError

from service.agents.run import Run, Turn
from service.batch.handoff_log import caught_up
from service.batch.records import batch_of, record_key
from service.errors import ClaudeKafkaError
from service.kafka.config import common_kwargs, producer_kwargs
from service.pipeline.backoff import attempt_delay
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

POLL_MS = 200
CATCH_UP_SECONDS = 30.0
RETRY_CAP_SECONDS = 30.0


class LoopFailed(ClaudeKafkaError):
    """The run cannot go on (its record cannot be written): the prompt gets a ``loop_failed`` error."""

    type = "loop_failed"


class RunLog:
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self._consumer = AIOKafkaConsumer(
            **common_kwargs(kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        )
        self._producer = AIOKafkaProducer(**producer_kwargs(kafka))
        self._view: dict[str, dict[int, bytes]] = {}  # custom_id -> turn index -> Turn JSON, as read
        self._written: dict[str, dict[int, bytes]] = {}  # what this process had acknowledged
        self._partitions: list[TopicPartition] = []
        self._polls = 0
        self._polled = asyncio.Event()
        self.enabled = False
        self.started = False

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        self.started = True
        await self._consumer.topics()
        found = self._consumer.partitions_for_topic(self.topic)
        if not found:
            log.warning("topic %s not found: tool loops resume only within this process", self.topic)
            return
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self.enabled = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self._consumer.stop()
            await self._producer.stop()

    async def follow(self) -> None:
        """Read the topic into the view until cancelled; never dies on a record or a Kafka error."""
        while self.enabled:
            try:
                batches = await self._consumer.getmany(*self._partitions, timeout_ms=POLL_MS)
            except AIOKafkaError as exc:
                log.warning("runs: fetch failed, retrying: %r", exc)
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
        custom_id, index = batch_of(key), key.rpartition("/")[2]
        if not custom_id or not index.isdigit() or custom_id == key:
            return
        turns = self._view.setdefault(custom_id, {})
        if value is None:
            turns.pop(int(index), None)
            if not turns:
                del self._view[custom_id]
        else:
            turns[int(index)] = value

    async def _caught_up(self) -> None:
        """Return once a fetch issued after the call found every partition read to its end."""
        start = self._polls
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while time.monotonic() < deadline:
            if self._polls >= start + 2 and await caught_up(self._consumer, self._partitions):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._polled.wait(), deadline - time.monotonic())
        log.warning("runs: not caught up within %.0f s; resuming from what was read", CATCH_UP_SECONDS)

    # -- RunStore ---------------------------------------------------------------------------------
    # Without the topic (``enabled`` false) the view is this process's own: a retried attempt still
    # resumes, a restart does not.
    async def load(self, custom_id: str) -> Run | None:
        if self.enabled:
            await self._caught_up()
        stored = self._view.get(custom_id) or {}
        turns: list[Turn] = []
        for index in range(len(stored)):  # the contiguous prefix: a turn is written only after the one before
            if index not in stored:
                break
            try:
                turns.append(Turn.model_validate_json(stored[index]))
            except ValidationError:
                log.warning(
                    "runs: unreadable turn record, resuming before it", extra={"custom_id": custom_id}
                )
                break
        return Run(custom_id=custom_id, turns=tuple(turns)) if turns else None

    async def save(self, run: Run) -> None:
        written = self._written.setdefault(run.custom_id, {})
        changed = {
            i: value
            for i, turn in enumerate(run.turns)
            if written.get(i) != (value := turn.model_dump_json().encode())
        }
        if self.enabled:
            await self._send({record_key(run.custom_id, i).encode(): v for i, v in changed.items()})
        written.update(changed)
        self._view.setdefault(run.custom_id, {}).update(changed)

    async def end(self, custom_id: str) -> None:
        indices = set(self._view.pop(custom_id, {})) | set(self._written.pop(custom_id, {}))
        if self.enabled and indices:
            await self._send({record_key(custom_id, i).encode(): None for i in sorted(indices)})

    def release(self, custom_id: str) -> None:
        """This process no longer runs ``custom_id`` (its partition moved): forget what it wrote."""
        self._written.pop(custom_id, None)

    async def _send(self, items: dict[bytes, bytes | None]) -> None:
        """Send and wait for every acknowledgement; retried while Kafka fails, not when too large."""
        failures = 0
        while True:
            try:
                futures = [
                    await self._producer.send(self.topic, value, key=key) for key, value in items.items()
                ]
                await asyncio.gather(*futures)
                return
            except MessageSizeTooLargeError as exc:
                raise LoopFailed(
                    f"a turn of this run is too large to record in {self.topic}: {exc!r}"
                ) from None
            except AIOKafkaError as exc:
                failures += 1
                log.warning("run record not acknowledged, retrying: %r", exc)
                await asyncio.sleep(attempt_delay(failures, 0.5, RETRY_CAP_SECONDS))
