"""When to try a callback again, and how long to wait. Pure: time is passed in.

2xx ends a delivery. 410 Gone ends it and disables the URL for ``CALLBACK_GONE_TTL_SECONDS``. 408, 425,
429, 5xx, timeouts and connection errors are retried; any other response (3xx not followed, 4xx) is the
receiver's final answer, and retrying would send the same request to the same refusal.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from service.backoff import attempt_delay

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    FAILED = "failed"


def verdict(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    if status in RETRYABLE_STATUSES or status >= 500:
        return Verdict.RETRY
    return Verdict.FAILED


def status_class(status: int | None) -> str:
    """``2xx`` ... ``5xx``, or ``none`` when no response arrived (a bounded metric label)."""
    return "none" if status is None else f"{status // 100}xx"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date; None if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempts: int,
    elapsed: float,
    *,
    max_attempts: int,
    max_age: float,
    base: float,
    cap: float,
    retry_after: float | None,
    rng: random.Random,
) -> float | None:
    """Seconds before attempt ``attempts + 1``, or None when the delivery must give up.

    Exponential backoff with jitter, or the receiver's ``Retry-After``; give up when the attempts are
    used or the next attempt would start more than ``max_age`` after the first.
    """
    if attempts >= max_attempts:
        return None
    delay = attempt_delay(attempts, base, cap, retry_after, rng)
    if elapsed + delay > max_age:
        return None
    return delay
