"""Delays between attempts: exponential with full jitter, or the server's ``retry-after``. Pure."""

from __future__ import annotations

import random


def attempt_delay(
    attempt: int, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1``; the server's ``retry-after`` wins when given."""
    if retry_after is not None and retry_after >= 0:
        return retry_after
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
