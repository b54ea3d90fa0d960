"""Deliver one outcome to its URL: signed attempts until 2xx, a final answer, or the limits run out.

Every attempt carries the same ``webhook-id`` and a fresh ``webhook-timestamp`` (and so a fresh
signature). A 410 remembers the URL as gone for ``CALLBACK_GONE_TTL_SECONDS``: later outcomes for it
fail at once, without a request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from service.callbacks.http import CallbackClient
from service.callbacks.outcomes import Outcome, describe
from service.callbacks.retry import Verdict, next_delay, parse_retry_after, status_class, verdict
from service.callbacks.signing import signed_headers
from service.errors import CallbackRefused
from service.metrics import Metrics
from service.settings import CallbackSettings

log = logging.getLogger(__name__)

REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Result:
    verdict: str  # a Verdict value other than "retry", or "refused"
    attempts: int
    status: int | None
    message: str

    @property
    def delivered(self) -> bool:
        return self.verdict == Verdict.DELIVERED


class Deliverer:
    def __init__(
        self,
        client: CallbackClient,
        settings: CallbackSettings,
        metrics: Metrics,
        key: bytes,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._settings = settings
        self._metrics = metrics
        self._key = key
        self._sleep = sleep
        self._rng = random.Random()
        self._gone: dict[str, float] = {}  # URL -> monotonic time until which it is not called

    async def deliver(self, outcome: Outcome) -> Result:
        url = outcome.callback.url
        shown = describe(url)
        until = self._gone.get(url)
        if until is not None:
            if time.monotonic() < until:
                self._metrics.callback_delivered(Verdict.GONE, "none", 0.0)
                return Result(
                    Verdict.GONE, 0, None, f"{shown} answered 410 Gone earlier; not called again yet"
                )
            del self._gone[url]
        s = self._settings
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            headers = signed_headers(self._key, outcome.webhook_id, int(time.time()), outcome.body)
            headers["Content-Type"] = "application/json"
            status: int | None = None
            retry_after: float | None = None
            try:
                response = await self._client.post(url, outcome.body, headers)
            except CallbackRefused as exc:
                self._metrics.callback_refused.labels(exc.reason).inc()
                return Result(REFUSED, attempts - 1, None, exc.message)
            except (aiohttp.ClientError, TimeoutError) as exc:
                result, reason = Verdict.RETRY, "timeout" if isinstance(exc, TimeoutError) else "connection"
                last = f"{reason}: {type(exc).__name__}"
            else:
                status = response.status
                result, reason = verdict(status), status_class(status)
                retry_after = parse_retry_after(response.retry_after, datetime.now(UTC))
                last = f"HTTP {status}"
            elapsed = time.monotonic() - started
            if result is not Verdict.RETRY:
                if result is Verdict.GONE and s.gone_ttl_seconds > 0:
                    self._gone[url] = time.monotonic() + s.gone_ttl_seconds
                self._metrics.callback_delivered(result, status_class(status), elapsed)
                return Result(result, attempts, status, f"{shown} answered {last}")
            delay = next_delay(
                attempts,
                elapsed,
                max_attempts=s.max_attempts,
                max_age=s.max_age_seconds,
                base=s.backoff_seconds,
                cap=s.backoff_max_seconds,
                retry_after=retry_after,
                rng=self._rng,
            )
            if delay is None:
                self._metrics.callback_delivered(Verdict.FAILED, status_class(status), elapsed)
                message = f"{shown}: {attempts} attempts in {elapsed:.1f}s failed; last: {last}"
                return Result(Verdict.FAILED, attempts, status, message)
            self._metrics.callback_retries.labels(reason).inc()
            log.info(
                "callback attempt failed, retrying",
                extra={"custom_id": outcome.custom_id, "url": shown, "attempt": attempts, "last": last,
                       "delay": round(delay, 3)},
            )  # fmt: skip
            await self._sleep(delay)
