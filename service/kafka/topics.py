"""Create the configured topics (idempotent): ``claude-kafka topics create``."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from service.kafka.config import common_kwargs
from service.settings import Settings

TOPIC_ALREADY_EXISTS = 36


def topic_specs(settings: Settings, partitions: int | None = None) -> list[NewTopic]:
    topics = settings.topics
    count = partitions or topics.partitions
    replication = topics.replication_factor
    specs = [NewTopic(name, count, replication) for name in (topics.prompts, *topics.outputs())]
    # The batch hand-off keeps only the latest record per key; tombstones remove finished batches. All
    # records go to one partition, whose owner in the leadership group follows the batches.
    specs.append(NewTopic(topics.batches, 1, replication, topic_configs={"cleanup.policy": "compact"}))
    return specs


async def create_topics(settings: Settings, partitions: int | None = None) -> dict[str, str]:
    """Create every configured topic; return ``{topic: "created" | "exists"}``. Other errors raise."""
    admin = AIOKafkaAdminClient(**common_kwargs(settings.kafka))
    await admin.start()
    try:
        response = await admin.create_topics(topic_specs(settings, partitions))
    finally:
        await admin.close()
    outcome: dict[str, str] = {}
    for topic, code, message in response.topic_errors:
        if code == 0:
            outcome[topic] = "created"
        elif code == TOPIC_ALREADY_EXISTS:
            outcome[topic] = "exists"
        else:
            raise RuntimeError(f"could not create topic {topic}: error {code} {message}")
    return outcome
