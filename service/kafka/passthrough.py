"""``KAFKA_CONSUMER_CONFIG`` / ``KAFKA_PRODUCER_CONFIG``: any other aiokafka client property, checked.

The value is a JSON object. Keys are aiokafka's keyword arguments (``client_rack``) or the Kafka
property names users know (``client.rack``, ``request.timeout.ms``: dots become underscores). What is
valid is read from the installed ``AIOKafkaConsumer`` / ``AIOKafkaProducer`` signatures, so an aiokafka
upgrade brings its new arguments along. Keys the service owns (the group, commits, security, ...) are
refused with the reason, so a passthrough can never weaken at-least-once delivery.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

Kind = Literal["consumer", "producer"]

_SETTING = "has its own setting, {}"
_OWNED: dict[str, str] = {
    "bootstrap_servers": _SETTING.format("KAFKA_BOOTSTRAP_SERVERS"),
    "client_id": _SETTING.format("KAFKA_CLIENT_ID"),
    "group_id": _SETTING.format("KAFKA_GROUP_ID"),
    "group_instance_id": _SETTING.format("KAFKA_GROUP_INSTANCE_ID"),
    "security_protocol": _SETTING.format("KAFKA_SECURITY_PROTOCOL"),
    "ssl_context": "is built from KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE",
    "sasl_mechanism": _SETTING.format("KAFKA_SASL_MECHANISM"),
    "sasl_plain_username": _SETTING.format("KAFKA_SASL_USERNAME"),
    "sasl_plain_password": _SETTING.format("KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)"),
    "sasl_kerberos_service_name": _SETTING.format("KAFKA_SASL_KERBEROS_SERVICE_NAME"),
    "sasl_kerberos_domain_name": _SETTING.format("KAFKA_SASL_KERBEROS_DOMAIN_NAME"),
    "sasl_oauth_token_provider": "is built from the KAFKA_SASL_OAUTH_* settings",
    "enable_idempotence": _SETTING.format("KAFKA_ENABLE_IDEMPOTENCE"),
    "linger_ms": _SETTING.format("KAFKA_LINGER_MS"),
    "compression_type": _SETTING.format("KAFKA_COMPRESSION_TYPE"),
    "session_timeout_ms": _SETTING.format("KAFKA_SESSION_TIMEOUT_MS"),
    "heartbeat_interval_ms": _SETTING.format("KAFKA_HEARTBEAT_INTERVAL_MS"),
    "max_poll_interval_ms": _SETTING.format("KAFKA_MAX_POLL_INTERVAL_MS"),
    "fetch_max_wait_ms": _SETTING.format("KAFKA_FETCH_MAX_WAIT_MS"),
    "enable_auto_commit": "is owned by the service: it commits only past prompts whose outputs are acked",
    "auto_commit_interval_ms": "is owned by the service: auto-commit is off (at-least-once)",
    "auto_offset_reset": "is owned by the service: a new group starts at the earliest prompt, none skipped",
    "acks": "is owned by the service: outputs need acks=all before their prompt is committed",
    "transactional_id": "is not supported: the service does not use transactions",
    "transaction_timeout_ms": "is not supported: the service does not use transactions",
    "api_version": "is not supported: aiokafka negotiates protocol versions with the broker",
    "key_serializer": "takes a Python object; the service serialises its own records",
    "value_serializer": "takes a Python object; the service serialises its own records",
    "key_deserializer": "takes a Python object; the service decodes its own records",
    "value_deserializer": "takes a Python object; the service decodes its own records",
    "partitioner": "takes a Python object; outputs are keyed by custom_id",
    "partition_assignment_strategy": "takes Python objects; not settable from the environment",
}
_NOT_PROPERTIES = frozenset({"self", "loop", "topics"})


@cache
def _parameters(kind: Kind) -> dict[str, inspect.Parameter]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    cls = AIOKafkaConsumer if kind == "consumer" else AIOKafkaProducer
    params = inspect.signature(cls.__init__).parameters
    return {name: p for name, p in params.items() if name not in _NOT_PROPERTIES}


def accepted(kind: Kind) -> frozenset[str]:
    """The keyword arguments a passthrough may set for this client (aiokafka's, minus the owned ones)."""
    return frozenset(_parameters(kind)) - _OWNED.keys()


def supports(kind: Kind, argument: str) -> bool:
    """Whether the installed aiokafka's client takes this keyword argument at all."""
    return argument in _parameters(kind)


def _type_problem(default: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for a parameter whose default is ``default`` (None = fine)."""
    if not isinstance(value, str | int | float | bool):
        return "wants a string, number or boolean"
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "wants true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "wants an integer"
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "wants a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "wants a string"
    return None


def parse(text: str) -> dict[str, Any]:
    """The JSON object in ``text`` (empty text = no properties); ``ValueError`` with one line if not."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno}); write a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object, e.g. {"client.rack": "use1-az1"}')
    return value


def client_properties(kind: Kind, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` as aiokafka keyword arguments; ``ValueError`` naming the first bad key (and the nearest)."""
    params = _parameters(kind)
    valid = accepted(kind)
    other: Kind = "producer" if kind == "consumer" else "consumer"
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.strip().replace(".", "_").replace("-", "_")
        if name in _OWNED and name in params:
            raise ValueError(f"{key!r} {_OWNED[name]}")
        if name not in valid:
            hint = ""
            if supports(other, name):
                hint = f"; it is a {other} property"
            else:
                near = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
                if near:
                    shown = near[0].replace("_", ".") if "." in key else near[0]
                    hint = f"; did you mean {shown!r}?"
            raise ValueError(f"{key!r} is not an aiokafka {kind} setting{hint}")
        problem = _type_problem(params[name].default, value)
        if problem:
            raise ValueError(f"{key!r} {problem} (got {json.dumps(value)})")
        out[name] = value
    return out
