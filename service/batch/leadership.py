"""Which replica follows the open batches: the member of ``<KAFKA_GROUP_ID>.batches`` that Kafka
assigns the hand-off partition. One follower per batch means one poll loop and one set of result
events, however many replicas run and restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.errors import KafkaError as AIOKafkaError

from service.batch.handoff_log import HANDOFF_PARTITION, RETRY_CAP_SECONDS
from service.errors import KafkaError
from service.kafka.config import consumer_kwargs
from service.pipeline.backoff import attempt_delay
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

POLL_MS = 1000  # the member fetches nothing; it polls to stay in its group


class BatchLeadership:
    """Membership of the group ``<KAFKA_GROUP_ID>.batches`` on ``TOPIC_BATCHES``: the member assigned
    ``HANDOFF_PARTITION`` leads, i.e. follows every open batch; the others only submit.

    The partition is never fetched (it is paused on assignment); the tail reads it. The sticky
    assignor keeps it with its owner when members join or leave, and leadership changes hands only
    when an assignment says so: with the eager protocol every rebalance first revokes everything, and
    acting on that would stop and restart every batch on each scale event.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        gained: Callable[[], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.group_id = f"{kafka.group_id}.batches"
        self.topic = topic
        self._gained, self._lost = gained, lost
        self._consumer = AIOKafkaConsumer(
            **{**consumer_kwargs(kafka), "group_id": self.group_id},
            partition_assignment_strategy=(_own_sticky_assignor(),),
        )
        self.leading = False
        self.assignments = 0  # rebalances this member has come out of
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer.subscribe([self.topic], listener=_Listener(self))
        try:
            await self._consumer.start()
        except AIOKafkaError as exc:
            await self._consumer.stop()
            raise KafkaError(f"joining {self.group_id} failed: {exc!r}") from exc
        self._task = asyncio.create_task(self._stay_in_group())

    async def stop(self) -> None:
        """Stop leading (if so), then leave the group so another member takes over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.leading:
            self.leading = False
            await self._lost()
        await self._consumer.stop()

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        self._consumer.pause(*partitions)
        self.assignments += 1
        leads = TopicPartition(self.topic, HANDOFF_PARTITION) in partitions
        if leads and not self.leading:
            self.leading = True
            log.info("batch leadership gained", extra={"group": self.group_id})
            await self._gained()
        elif self.leading and not leads:
            self.leading = False
            log.info("batch leadership lost", extra={"group": self.group_id})
            await self._lost()

    async def _stay_in_group(self) -> None:
        failures = 0
        while True:
            try:
                await self._consumer.getmany(timeout_ms=POLL_MS)
                failures = 0
            except AIOKafkaError as exc:
                failures += 1
                log.warning("batch leadership poll failed, retrying: %r", exc)
                await asyncio.sleep(attempt_delay(failures, 0.5, RETRY_CAP_SECONDS))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, leadership: BatchLeadership) -> None:
        self._leadership = leadership

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # decided on the next assignment (see BatchLeadership)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._leadership.assigned(assigned)


def _own_sticky_assignor() -> type[StickyPartitionAssignor]:
    """A subclass per member: aiokafka's sticky assignor keeps the member's last assignment in class
    attributes, so two members in one process (tests, an embedding application) would each claim the
    other's partitions."""
    return type(
        "BatchLeadershipAssignor",
        (StickyPartitionAssignor,),
        {"member_assignment": None, "generation": StickyPartitionAssignor.DEFAULT_GENERATION_ID},
    )
