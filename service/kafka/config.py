"""Translate ``KafkaSettings`` into aiokafka keyword arguments (the one place that knows both)."""

from __future__ import annotations

import ssl
from typing import Any

from service.kafka.auth import sasl_kwargs
from service.settings import KafkaSettings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.ssl_certfile:
        context.load_cert_chain(
            str(kafka.ssl_certfile),
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
            password=kafka.ssl_password.get_secret_value() if kafka.ssl_password else None,
        )
    return context


def common_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection settings shared by the consumer, the producer and the admin client."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    context = ssl_context(kafka)
    if context is not None:
        kwargs["ssl_context"] = context
    kwargs.update(sasl_kwargs(kafka))
    return kwargs


def producer_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    return {
        **common_kwargs(kafka),
        "acks": "all",
        "enable_idempotence": kafka.enable_idempotence,
        "linger_ms": kafka.linger_ms,
        "compression_type": kafka.compression_type,
        # Deltas are small; a larger request lets one send carry many prompts' events.
        "max_batch_size": 256 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        # KAFKA_PRODUCER_CONFIG, checked against aiokafka's producer at load; it may retune the two above.
        **kafka.producer_config,
    }


def consumer_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    return {
        **common_kwargs(kafka),
        "group_id": kafka.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": kafka.session_timeout_ms,
        "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
        "max_poll_interval_ms": kafka.max_poll_interval_ms,
        # aiokafka's default (500 ms) is how long a prompt can sit unseen on a broker that answers a
        # fetch only at its deadline instead of when data arrives (the embedded broker does).
        "fetch_max_wait_ms": kafka.fetch_max_wait_ms,
        "max_poll_records": 500,
        **({"group_instance_id": kafka.group_instance_id} if kafka.group_instance_id else {}),
        # KAFKA_CONSUMER_CONFIG, checked against aiokafka's consumer at load (client_rack, ...).
        **kafka.consumer_config,
    }
