"""Retry until Kafka acknowledges: one backoff and one loop for every publisher of the service.

A broker that is down or slow is waited out, however long that takes: the records are outputs whose
offsets (or hand-off) wait on them, so giving up would lose them. Each failure doubles the wait (full
jitter) from ``RETRY_BASE_SECONDS`` up to ``RETRY_CAP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from service.backoff import attempt_delay
from service.errors import KafkaError

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0

T = TypeVar("T")


def retry_delay(failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th consecutive Kafka failure."""
    return attempt_delay(failures, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, None, rng)


async def publish_until_acknowledged(
    publish: Callable[[], Awaitable[T]],
    what: str,
    *,
    errors: tuple[type[BaseException], ...] = (KafkaError,),
    logger: logging.Logger = log,
) -> T:
    """Await ``publish()`` until it returns (the broker acknowledged), backing off after each of
    ``errors``; ``what`` names the records in the warning logged per failure."""
    failures = 0
    while True:
        try:
            return await publish()
        except errors as exc:
            failures += 1
            logger.warning("%s not acknowledged, retrying: %r", what, exc)
            await asyncio.sleep(retry_delay(failures))
