"""KAFKA_CONSUMER_CONFIG / KAFKA_PRODUCER_CONFIG: aiokafka properties, checked against the installed clients."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.errors import ConfigError
from service.kafka import passthrough
from service.kafka.config import consumer_kwargs, producer_kwargs
from service.settings import load_settings


@pytest.mark.parametrize(
    ("kind", "raw", "built"),
    [
        ("consumer", {"client.rack": "use1-az1"}, {"client_rack": "use1-az1"}),
        (
            "consumer",
            {"request.timeout.ms": 60000, "isolation_level": "read_committed"},
            {"request_timeout_ms": 60000, "isolation_level": "read_committed"},
        ),
        (
            "consumer",
            {"max.partition.fetch.bytes": 2097152, "check.crcs": False},
            {"max_partition_fetch_bytes": 2097152, "check_crcs": False},
        ),
        (
            "producer",
            {"request.timeout.ms": 60000, "max.request.size": 1048576},
            {"request_timeout_ms": 60000, "max_request_size": 1048576},
        ),
        (
            "producer",
            {"metadata_max_age_ms": 60000, "retry.backoff.ms": 250},
            {"metadata_max_age_ms": 60000, "retry_backoff_ms": 250},
        ),
        ("consumer", {}, {}),
    ],
)
def test_kafka_and_aiokafka_names_become_client_arguments(
    kind: passthrough.Kind, raw: dict[str, Any], built: dict[str, Any]
) -> None:
    """Dotted Kafka names and aiokafka's own names both map to aiokafka keyword arguments."""
    assert passthrough.client_properties(kind, raw) == built


@pytest.mark.parametrize(
    ("kind", "raw", "line"),
    [
        (
            "consumer",
            {"client.rak": "a"},
            "'client.rak' is not an aiokafka consumer setting; did you mean 'client.rack'?",
        ),
        (
            "consumer",
            {"request_timeout": 1},
            "'request_timeout' is not an aiokafka consumer setting; did you mean 'request_timeout_ms'?",
        ),
        (
            "producer",
            {"client.rack": "a"},
            "'client.rack' is not an aiokafka producer setting; it is a consumer property",
        ),
        (
            "consumer",
            {"fetch.min.bytes.x": 1},
            "'fetch.min.bytes.x' is not an aiokafka consumer setting; did you mean 'fetch.min.bytes'?",
        ),
        ("consumer", {"sasl.jaas.config": "x"}, "'sasl.jaas.config' is not an aiokafka consumer setting"),
        (
            "consumer",
            {"enable.auto.commit": True},
            "'enable.auto.commit' is owned by the service: it commits only past prompts whose outputs are acked",
        ),
        ("consumer", {"group.id": "x"}, "'group.id' has its own setting, KAFKA_GROUP_ID"),
        (
            "consumer",
            {"group.instance.id": "x"},
            "'group.instance.id' has its own setting, KAFKA_GROUP_INSTANCE_ID",
        ),
        (
            "consumer",
            {"auto.offset.reset": "latest"},
            "'auto.offset.reset' is owned by the service: a new group starts at the earliest prompt, none skipped",
        ),
        (
            "producer",
            {"acks": 1},
            "'acks' is owned by the service: outputs need acks=all before their prompt is committed",
        ),
        (
            "producer",
            {"bootstrap.servers": "x:9092"},
            "'bootstrap.servers' has its own setting, KAFKA_BOOTSTRAP_SERVERS",
        ),
        (
            "producer",
            {"sasl_plain_password": "x"},
            "'sasl_plain_password' has its own setting, KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)",
        ),
        (
            "producer",
            {"transactional.id": "t"},
            "'transactional.id' is not supported: the service does not use transactions",
        ),
        ("producer", {"linger.ms": 5}, "'linger.ms' has its own setting, KAFKA_LINGER_MS"),
        (
            "producer",
            {"request.timeout.ms": "60000"},
            "'request.timeout.ms' wants an integer (got \"60000\")",
        ),
        ("consumer", {"check.crcs": "no"}, "'check.crcs' wants true or false (got \"no\")"),
        ("consumer", {"client.rack": ["a"]}, "'client.rack' wants a string, number or boolean (got [\"a\"])"),
        ("consumer", {"loop": 1}, "'loop' is not an aiokafka consumer setting"),
    ],
)
def test_a_bad_key_is_one_line_naming_it_and_the_nearest_valid_one(
    kind: passthrough.Kind, raw: dict[str, Any], line: str
) -> None:
    """Unknown, owned or mistyped keys are refused with the reason, and a close valid name when one exists."""
    with pytest.raises(ValueError) as info:
        passthrough.client_properties(kind, raw)
    assert str(info.value) == line


def test_the_accepted_keys_are_read_from_the_installed_aiokafka() -> None:
    """Accepted = the clients' __init__ parameters minus the owned ones; nothing the clients lack."""
    for kind, cls in (("consumer", AIOKafkaConsumer), ("producer", AIOKafkaProducer)):
        params = set(inspect.signature(cls.__init__).parameters)
        accepted = passthrough.accepted(kind)  # type: ignore[arg-type]
        assert accepted < params
        assert {"request_timeout_ms", "metadata_max_age_ms", "connections_max_idle_ms"} <= accepted
        assert not accepted & {"group_id", "bootstrap_servers", "enable_auto_commit", "acks", "loop", "self"}
    assert "client_rack" in passthrough.accepted("consumer")


def test_settings_reach_the_clients_and_a_bad_key_stops_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON settings end up in the built kwargs; a bad one is one line naming the variable."""
    monkeypatch.setenv("KAFKA_CONSUMER_CONFIG", '{"client.rack": "use1-az1", "request.timeout.ms": 60000}')
    monkeypatch.setenv("KAFKA_PRODUCER_CONFIG", '{"max.batch.size": 65536}')
    kafka = load_settings(env_file=None).kafka
    consumer, producer = consumer_kwargs(kafka), producer_kwargs(kafka)
    assert consumer["client_rack"] == "use1-az1" and consumer["request_timeout_ms"] == 60000
    assert consumer["enable_auto_commit"] is False  # the owned keys keep the service's values
    assert producer["max_batch_size"] == 65536 and producer["acks"] == "all"
    assert "client_rack" not in producer
    for text, line in [
        (
            '{"client.rak": "a"}',
            "KAFKA_CONSUMER_CONFIG: 'client.rak' is not an aiokafka consumer setting; did you mean 'client.rack'?",
        ),
        (
            "client.rack=a",
            "KAFKA_CONSUMER_CONFIG: not valid JSON (Expecting value at column 1); write a JSON object",
        ),
        ('["client.rack"]', 'KAFKA_CONSUMER_CONFIG: must be a JSON object, e.g. {"client.rack": "use1-az1"}'),
    ]:
        monkeypatch.setenv("KAFKA_CONSUMER_CONFIG", text)
        with pytest.raises(ConfigError) as info:
            load_settings(env_file=None)
        assert info.value.problems == [line]


def test_an_empty_variable_means_no_extra_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    """`KAFKA_CONSUMER_CONFIG=` (compose's `${X:-}`) is the same as unset."""
    monkeypatch.setenv("KAFKA_CONSUMER_CONFIG", "")
    assert load_settings(env_file=None).kafka.consumer_config == {}
