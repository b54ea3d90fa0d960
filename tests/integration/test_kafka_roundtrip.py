"""The embedded broker (or KAFKA_BOOTSTRAP_SERVERS) carries keys, headers and group offsets."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from service.kafka.config import consumer_kwargs
from service.kafka.topics import create_topics
from tests.kafkautil import produce
from tests.waiting import until

pytestmark = pytest.mark.integration


async def test_topics_create_is_idempotent(make_settings: Any) -> None:
    """Creating the topics twice reports them as created, then as existing."""
    settings = make_settings()
    first = await create_topics(settings)
    second = await create_topics(settings)
    topics = settings.topics
    every = {topics.prompts, *topics.outputs(), topics.batches, *topics.loops(), topics.sessions}
    assert first == dict.fromkeys(every, "created")
    assert second == dict.fromkeys(every, "exists")


async def test_topics_create_reports_existing_topics_that_differ(make_settings: Any) -> None:
    """Asking for more partitions than existing topics have names each topic and both counts."""
    settings = make_settings()
    await create_topics(settings)
    again = await create_topics(settings, partitions=12)
    topics = settings.topics
    for name in (topics.prompts, *topics.outputs()):
        assert again[name] == "exists with 3 partitions (asked 12)"
    assert again[topics.batches] == "exists"  # one partition, compacted, as asked


async def test_consumer_group_receives_keys_headers_and_commits(make_settings: Any) -> None:
    """Records produced with keys and headers arrive through a consumer group; commits are readable."""
    settings = make_settings()
    await create_topics(settings)
    topic = settings.topics.prompts
    await produce(
        settings,
        topic,
        [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(30)],
        headers=[("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
    )
    consumer = AIOKafkaConsumer(topic, **consumer_kwargs(settings.kafka))
    await consumer.start()
    try:
        seen: dict[bytes, tuple[bytes, dict[str, bytes]]] = {}
        last: dict[TopicPartition, int] = {}

        async def all_seen() -> bool:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for m in messages:
                    seen[m.key] = (m.value, dict(m.headers))
                    last[tp] = m.offset
            return len(seen) >= 30

        await until(all_seen, 30, lambda: f"30 records consumed ({len(seen)} seen)", every=0)
        assert len(seen) == 30
        assert seen[b"key-7"][0] == b"value-7"
        assert seen[b"key-7"][1]["traceparent"].startswith(b"00-0af76519")
        # A key always lands in one partition, so per-key order is kept.
        await consumer.commit({tp: offset + 1 for tp, offset in last.items()})
        for tp, offset in last.items():
            assert await consumer.committed(tp) == offset + 1
    finally:
        await consumer.stop()


async def test_pinned_partition_is_the_one_the_key_gets(make_settings: Any) -> None:
    """``Outputs.partition`` (an attempt's deltas are sent to it) is where the producer's partitioner
    puts a record keyed by the same custom_id, which Java clients and every Kafka tool agree on."""
    from service.kafka.outputs import Outputs
    from service.metrics import Metrics

    settings = make_settings()
    await create_topics(settings)
    topic = settings.topics.deltas
    keys = [f"prompt-{i}".encode() for i in range(40)]
    landed = await produce(settings, topic, [(key, b"{}") for key in keys])
    outputs = Outputs(settings.kafka, Metrics())
    await outputs.start()
    try:
        pinned = [await outputs.partition(topic, key) for key in keys]
        sent = await outputs.send(topic, keys[0], b"{}", [], pinned[0])
        metadata: Any = await sent
    finally:
        await outputs.stop()
    assert pinned == [partition for partition, _ in landed]
    assert len(set(pinned)) == 3  # the keys spread over every partition: not one constant answer
    assert metadata.partition == pinned[0]
