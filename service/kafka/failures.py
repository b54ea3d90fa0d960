"""What an aiokafka error means to the person who ran a command: the CLI's boundary words it. Pure."""

from __future__ import annotations

from typing import Literal

from aiokafka import errors as ak

Failure = Literal["missing_topic", "unreachable", "refused", "rejected"]

_UNREACHABLE = (
    ak.KafkaConnectionError,
    ak.NodeNotReadyError,
    ak.NoBrokersAvailable,
    ak.KafkaTimeoutError,
    ak.RequestTimedOutError,
)
_REFUSED = (
    ak.AuthenticationFailedError,
    ak.UnsupportedSaslMechanismError,
    ak.TopicAuthorizationFailedError,
    ak.GroupAuthorizationFailedError,
)


def classify(exc: BaseException) -> Failure | None:
    """``None`` for anything that is not an aiokafka error."""
    if isinstance(exc, ak.UnknownTopicOrPartitionError):
        return "missing_topic"
    if isinstance(exc, _UNREACHABLE):
        return "unreachable"
    if isinstance(exc, _REFUSED):
        return "refused"
    if isinstance(exc, ak.KafkaError):
        return "rejected"
    return None
