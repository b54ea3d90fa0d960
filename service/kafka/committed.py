"""Read a consumer group's committed positions without joining the group."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError

from service.errors import KafkaError
from service.kafka.config import common_kwargs
from service.settings import KafkaSettings

Partition = tuple[str, int]


async def committed_positions(kafka: KafkaSettings, partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The next offset ``KAFKA_GROUP_ID`` will read in each of ``partitions`` (absent: nothing committed).

    A consumer that never subscribes only sends OffsetFetch requests: it does not join the group, so
    it cannot trigger a rebalance of the members that are consuming.
    """
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(**common_kwargs(kafka), group_id=kafka.group_id, enable_auto_commit=False)
    out: dict[Partition, int] = {}
    try:
        await consumer.start()
        for topic, partition in wanted:
            position = await consumer.committed(TopicPartition(topic, partition))
            if position is not None:
                out[(topic, partition)] = position
    except AIOKafkaError as exc:
        raise KafkaError(f"reading committed offsets of {kafka.group_id} failed: {exc!r}") from exc
    finally:
        await consumer.stop()
    return out
