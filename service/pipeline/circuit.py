"""The breaker's async adapter: attempts wait here while it is open; gauge and log line on each change.

Shared by every prompt task of a process (and consulted by ``RecordWorkers`` before it fetches, so no
new record is taken while the organisation cannot be served; the consumer keeps polling meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from enum import Enum

from prometheus_client import Gauge

from service.breaker import OVERLOAD, REASONS, Breaker, Change, Policy, organisation_failure
from service.errors import ClaudeError

log = logging.getLogger(__name__)


class Verdict(Enum):
    NONE = "none"
    REPORT = "report"
    HOLD = "hold"


class Circuit:
    """``enabled=False`` keeps the bookkeeping out of the way: every attempt starts, nothing is held."""

    def __init__(
        self,
        policy: Policy,
        gauge: Gauge,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.breaker = Breaker(policy)
        self.enabled = enabled
        self._gauge = gauge
        self._clock = clock
        self._changed = asyncio.Event()
        self.waiting = 0
        for reason in REASONS:
            gauge.labels(reason).set(0)

    @property
    def open_reason(self) -> str | None:
        return self.breaker.reason if self.enabled and self.breaker.is_open else None

    def accepting(self) -> bool:
        """May new records be fetched? Closed, or a probe is due and no waiting attempt can be it."""
        if self.open_reason is None:
            return True
        return self.waiting == 0 and self.breaker.wait(self._clock()) == 0

    async def permit(self) -> bool:
        """Return when an attempt may start: at once when closed; when open, as the probe or after it
        closed. True when this attempt is the open circuit's probe."""
        if not self.enabled:
            return False
        self.waiting += 1
        try:
            while True:
                probe = self.breaker.is_open
                if self.breaker.allow(self._clock()):
                    return probe
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.breaker.wait(self._clock()) or None)
        finally:
            self.waiting -= 1

    def succeeded(self) -> None:
        self._apply(self.breaker.record(None, self._clock()))

    def failed(self, exc: ClaudeError, *, probe: bool = False) -> Verdict:
        """Record a failed attempt and say what its prompt does: ``REPORT`` for the organisation failure
        that opened the circuit (its prompt gets the ErrorEvent that tells an operator why), ``HOLD``
        for any other organisation-wide failure while it is open (an overload that opened it included:
        it is retryable anyway), ``NONE`` otherwise (the prompt's own retry rules apply).

        A failed ``probe`` of an overload is ``NONE``: a 529 may be about this request (one model, one
        shape), and a prompt the API keeps refusing must end as ``attempts_exhausted`` rather than be
        held for ever. The other reasons (a revoked key, a spend limit) hold until an operator acts."""
        if not self.enabled:
            return Verdict.NONE
        reason = organisation_failure(exc)
        change = self.breaker.record(reason, self._clock())
        self._apply(change)
        if reason is None or not self.breaker.is_open:
            return Verdict.NONE
        if change is not None and change.tripped and reason != OVERLOAD:
            return Verdict.REPORT
        if probe and reason == OVERLOAD:
            return Verdict.NONE
        return Verdict.HOLD

    def _apply(self, change: Change | None) -> None:
        if change is None or not self.enabled:
            return
        for reason in REASONS:
            self._gauge.labels(reason).set(1 if reason == change.reason else 0)
        if change.reason is None:
            log.warning("circuit closed: the API serves the organisation again")
        else:
            log.warning(
                "circuit open: %s; no new attempt starts until a probe succeeds",
                change.reason,
                extra={"reason": change.reason, "probe_in_seconds": self.breaker.backoff},
            )
        self._changed.set()
