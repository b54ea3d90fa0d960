"""Client-side rate limits: token buckets (RPM, TPM, the static caps), the organisation's headroom the
API reports (``headroom.py``) and one shared pause after a 429. Pure.

Each method takes ``now`` and returns how long the caller must wait; the async adapter sleeps.
"""

from __future__ import annotations

from service.pipeline.headroom import ServerLimits


class TokenBucket:
    """``per_minute`` tokens refill continuously; a burst of up to one minute's worth is allowed."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.updated = now

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount`` (possibly into debt) and return the seconds until that debt is repaid."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        self.level -= min(amount, self.capacity)
        return 0.0 if self.level >= 0 else -self.level / self.rate


class RateGate:
    """What every new API request checks first: the buckets, and a pause the API asked for."""

    def __init__(self, rpm: int, tpm: int, now: float) -> None:
        self.requests = TokenBucket(rpm, now) if rpm > 0 else None
        self.tokens = TokenBucket(tpm, now) if tpm > 0 else None
        self.paused_until = 0.0
        self.server = ServerLimits()  # the organisation's headroom, from the API's headers

    def pause(self, seconds: float, now: float) -> None:
        """The API said ``retry-after``: hold every new request of this process until then."""
        self.paused_until = max(self.paused_until, now + seconds)

    def reserve(self, estimated_tokens: int, now: float) -> float:
        wait = max(0.0, self.paused_until - now)
        if self.requests is not None:
            wait = max(wait, self.requests.reserve(1, now))
        if self.tokens is not None:
            wait = max(wait, self.tokens.reserve(estimated_tokens, now))
        return wait
