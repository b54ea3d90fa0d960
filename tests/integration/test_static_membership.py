"""KAFKA_GROUP_INSTANCE_ID on a real broker: a static member joins, consumes and commits, and rejoins.

That a restart within the session timeout causes no rebalance is the broker's side of KIP-345 (Apache
Kafka 2.3+); the embedded Tansu accepts the instance id but rebalances anyway, so this test asserts what
holds on both: the id reaches the group protocol and the member works across a restart.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from service.kafka.config import consumer_kwargs
from service.kafka.topics import create_topics
from tests.kafkautil import produce
from tests.waiting import until

pytestmark = pytest.mark.integration


async def _consume(settings: Any, want: int) -> dict[bytes, bytes]:
    consumer = AIOKafkaConsumer(settings.topics.prompts, **consumer_kwargs(settings.kafka))
    await consumer.start()
    seen: dict[bytes, bytes] = {}
    try:
        assert consumer._coordinator._group_instance_id == "replica-0"  # what aiokafka puts in JoinGroup

        async def more() -> bool:
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                seen.update((m.key, m.value) for m in messages)
            return len(seen) >= want

        await until(more, within=30, what=f"{want} records")
        await consumer.commit()
    finally:
        await consumer.stop()
    return seen


async def test_a_static_member_consumes_commits_and_resumes_after_a_restart(make_settings: Any) -> None:
    """With KAFKA_GROUP_INSTANCE_ID the prompt consumer reads and commits; restarted, it resumes after them."""
    settings = make_settings(kafka={"group_instance_id": "replica-0"})
    assert settings.kafka.group_instance_id == "replica-0"
    await create_topics(settings)
    await produce(settings, settings.topics.prompts, [(f"k{i}".encode(), b"first") for i in range(6)])
    assert len(await _consume(settings, 6)) == 6
    await produce(settings, settings.topics.prompts, [(f"n{i}".encode(), b"second") for i in range(3)])
    assert set((await _consume(settings, 3)).values()) == {b"second"}  # committed records are not read again
