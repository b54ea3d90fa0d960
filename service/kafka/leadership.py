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

from service.kafka.config import consumer_kwargs
from service.kafka.handoff_log import HANDOFF_PARTITION
from service.kafka.retry import retry_delay
from service.settings import KafkaSettings
from service.supervisor import Supervisor

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
        supervisor: Supervisor,
    ) -> None:
        self.group_id = f"{kafka.group_id}.batches"
        self.topic = topic
        self._kafka = kafka
        self._gained, self._lost = gained, lost
        self._consumer: AIOKafkaConsumer | None = None
        self.leading = False
        self.assignments = 0  # rebalances this member has come out of
        self._task: asyncio.Task[None] | None = None
        self._supervisor = supervisor

    def start(self) -> None:
        """Join in the background: a group's first join is held for seconds (the broker waits for
        more members), and neither start-up nor submitting batches needs to wait for it."""
        self._task = self._supervisor.spawn(self._membership(), "batch-leadership")

    async def stop(self) -> None:
        """Stop leading (if so), then leave the group so another member takes over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.leading:
            self.leading = False
            await self._lost()
        if self._consumer is not None:
            await self._consumer.stop()

    async def _membership(self) -> None:
        """Join, then poll (nothing: the partition is paused) so the membership stays alive."""
        failures = 0
        while True:
            try:
                if self._consumer is None:
                    self._consumer = await self._join()
                await self._consumer.getmany(timeout_ms=POLL_MS)
                failures = 0
            except AIOKafkaError as exc:
                failures += 1
                log.warning("batch leadership group %s: %r, retrying", self.group_id, exc)
                await asyncio.sleep(retry_delay(failures))

    async def _join(self) -> AIOKafkaConsumer:
        """A started member (its first assignment done), or the error; a failed member is closed."""
        consumer = AIOKafkaConsumer(
            # Dynamic membership: a leader that stops hands over at once (a static member would hold
            # the leadership until its session times out).
            **{**consumer_kwargs(self._kafka), "group_id": self.group_id, "group_instance_id": None},
            partition_assignment_strategy=(_own_sticky_assignor(),),
        )
        consumer.subscribe([self.topic], listener=_Listener(self, consumer))
        try:
            await consumer.start()
        except BaseException:  # a Kafka error, or stop() while joining
            await consumer.stop()
            raise
        return consumer

    async def assigned(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        consumer.pause(*partitions)
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


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, leadership: BatchLeadership, consumer: AIOKafkaConsumer) -> None:
        self._leadership, self._consumer = leadership, consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # decided on the next assignment (see BatchLeadership)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._leadership.assigned(self._consumer, assigned)


def _own_sticky_assignor() -> type[StickyPartitionAssignor]:
    """A subclass per member: aiokafka's sticky assignor keeps the member's last assignment in class
    attributes, so two members in one process (tests, an embedding application) would each claim the
    other's partitions."""
    return type(
        "BatchLeadershipAssignor",
        (StickyPartitionAssignor,),
        {"member_assignment": None, "generation": StickyPartitionAssignor.DEFAULT_GENERATION_ID},
    )
