"""The group-less clients of the one-off readers and writers (CLI commands, the hand-off tail).

The service's own consumer-group member and producer are ``inputs`` and ``outputs``; these are the
clients that read a topic by offsets without joining a group, and the producer of the CLI commands
that publish prompts. The aiokafka names they hand out (``TopicPartition``, records, the error base)
are given here so that no module outside ``service/kafka/`` imports aiokafka.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError as ClientError

from service.kafka.config import common_kwargs, producer_kwargs
from service.settings import KafkaSettings

AIOKafkaClient = AIOKafkaConsumer | AIOKafkaProducer

__all__ = [
    "AIOKafkaClient",
    "ClientError",
    "ConsumerRecord",
    "TopicPartition",
    "cli_producer",
    "group_member",
    "producer",
    "quiet_client_logs",
    "reader",
]


def reader(kafka: KafkaSettings, **options: Any) -> AIOKafkaConsumer:
    """A consumer outside any group that commits nothing: it is assigned partitions and seeks."""
    return AIOKafkaConsumer(**common_kwargs(kafka), group_id=None, enable_auto_commit=False, **options)


def group_member(kafka: KafkaSettings, topic: str, group: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer-group member of ``group`` on ``topic`` that commits by hand (the tool worker's)."""
    return AIOKafkaConsumer(
        topic,
        **common_kwargs(kafka),
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        **options,
    )


def producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    """A producer configured as the service's own (idempotence as KAFKA_ENABLE_IDEMPOTENCE says)."""
    return AIOKafkaProducer(**producer_kwargs(kafka))


def cli_producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    """The producer of every CLI command that publishes prompts (``send``, ``batch submit``, ``replay``).

    One-off CLI sends gain nothing from idempotence, and the embedded broker refuses InitProducerId
    (aiokafka then fails with ``UnknownError``), so it is off whatever KAFKA_ENABLE_IDEMPOTENCE says.
    """
    quiet_client_logs()
    return AIOKafkaProducer(**{**producer_kwargs(kafka), "enable_idempotence": False})


def quiet_client_logs() -> None:
    """The CLI reports Kafka failures itself, as one line with a hint; aiokafka's own lines are noise."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
