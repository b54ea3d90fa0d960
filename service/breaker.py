"""The organisation circuit breaker: closed -> open -> half-open -> closed. Pure: callers pass ``now``.

Some failures say nothing about the prompt and everything about the organisation: a revoked key
(401), a missing permission (403), billing (402), a spend limit (429 ``enforced_spend_limit_reached``),
``organization_on_hold``, or an API so overloaded that most requests get 529. Retrying each prompt
through its attempts would turn a whole backlog into ErrorEvents; instead the breaker opens, no new
attempt starts, and after a backoff (doubling up to a cap) one probe attempt is let through. Any
outcome of the probe that is not such a failure closes it again.

The codes come from the SDK's own table (``anthropic/_error_classes.py``, ``ERROR_CLASSES``): the
``(status, error.details.error_code)`` pairs whose class names an organisation-level cause.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from service.errors import ClaudeError

# error.details.error_code values meaning "this organisation cannot be served now" (SDK 2.15).
ORGANISATION_CODES: dict[str, str] = {
    "enforced_spend_limit_reached": "spend_limit",  # 429
    "contract_spend_limit_reached": "spend_limit",  # 429
    "linked_organization_spend_limit_reached": "spend_limit",  # 402
    "linked_organization_billing_unavailable": "billing",  # 402
    "user_profile_billing_not_authorized": "billing",  # 403
    "organization_on_hold": "organization_on_hold",  # 400
}
ORGANISATION_STATUSES: dict[int, str] = {401: "authentication", 402: "billing", 403: "permission"}
ORGANISATION_TYPES: dict[str, str] = {
    "authentication_error": "authentication",
    "permission_error": "permission",
    "billing_error": "billing",
}
OVERLOAD = "overloaded"
REASONS = ("authentication", "permission", "billing", "spend_limit", "organization_on_hold", OVERLOAD)


def organisation_failure(exc: ClaudeError) -> str | None:
    """The breaker reason ``exc`` stands for, or ``None`` when it is about this request only.

    ``overloaded`` is returned for a 529 / ``overloaded_error``: one is not enough to open the breaker,
    a sustained share is (see ``Breaker.record``)."""
    if exc.code in ORGANISATION_CODES:
        return ORGANISATION_CODES[exc.code]
    if exc.status in ORGANISATION_STATUSES:
        return ORGANISATION_STATUSES[exc.status]
    if exc.type in ORGANISATION_TYPES:
        return ORGANISATION_TYPES[exc.type]
    if exc.status == 529 or exc.type == "overloaded_error":
        return OVERLOAD
    return None


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Policy:
    backoff: float = 1.0  # first wait before the probe
    backoff_max: float = 60.0
    overload_share: float = 0.5  # open when at least this share of the recent attempts got 529 ...
    overload_window: float = 30.0  # ... recent = the last ``overload_attempts`` within this many seconds
    overload_attempts: int = 20  # (a count too, so a busy minute of successes cannot dilute a storm)
    overload_min_attempts: int = 10  # ... and only once at least this many are known


@dataclass(frozen=True, slots=True)
class Change:
    """A transition, for the adapter's log line and gauge: ``reason`` is ``None`` when it closed."""

    reason: str | None
    tripped: bool  # True only for the closed -> open transition (that failure's prompt is reported)


class Breaker:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.state = State.CLOSED
        self.reason: str | None = None
        self.backoff = policy.backoff
        self.probe_at = 0.0  # open: the next probe may start at this time
        self._recent: deque[tuple[float, bool]] = deque(
            maxlen=policy.overload_attempts
        )  # (when, overloaded) per attempt outcome
        self._probing = False  # a probe was let through and has not failed yet

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    def wait(self, now: float) -> float:
        """Seconds until an attempt may start (0 when closed or a probe is due)."""
        return 0.0 if self.state is State.CLOSED else max(0.0, self.probe_at - now)

    def allow(self, now: float) -> bool:
        """May an attempt start now? When open, the first caller after the backoff is the probe; the
        next probe is due one backoff later, so a probe that never reports back cannot wedge it."""
        if self.state is State.CLOSED:
            return True
        if now < self.probe_at:
            return False
        self.probe_at = now + self.backoff
        self._probing = True
        return True

    def record(self, reason: str | None, now: float) -> Change | None:
        """One attempt's outcome: ``organisation_failure`` of its error, ``None`` for anything else."""
        if reason is None:
            self._remember(now, False)
            # Only after a probe: an attempt that started before it opened proves nothing.
            if self.state is State.OPEN and self._probing:
                return self._close()
            return None
        if reason == OVERLOAD:
            self._remember(now, True)
            if self.state is State.CLOSED and not self._overloaded():
                return None
        if self.state is State.OPEN:
            if self._probing:  # the probe failed: wait longer before the next one
                self._probing = False
                self.backoff = min(self.policy.backoff_max, self.backoff * 2)
                self.probe_at = now + self.backoff
            # else: an attempt that was in flight when it opened; it says nothing new
            return None
        self.state, self.reason, self._probing = State.OPEN, reason, False
        self.backoff = self.policy.backoff
        self.probe_at = now + self.backoff
        return Change(reason, tripped=True)

    def _close(self) -> Change:
        self.state, self.reason, self.backoff = State.CLOSED, None, self.policy.backoff
        self._probing = False
        self._recent.clear()
        return Change(None, tripped=False)

    def _remember(self, now: float, overloaded: bool) -> None:
        self._recent.append((now, overloaded))
        while self._recent and now - self._recent[0][0] > self.policy.overload_window:
            self._recent.popleft()

    def _overloaded(self) -> bool:
        total = len(self._recent)
        if total < self.policy.overload_min_attempts:
            return False
        return sum(1 for _, over in self._recent if over) >= self.policy.overload_share * total
