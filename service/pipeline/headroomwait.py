"""Prompts waiting for the organisation's paced headroom (``headroom.ServerLimits``): the async adapter.

Waiters queue on one lock in arrival order and only the head sleeps, so a paced slot wakes one prompt
instead of every waiting one (at 250 streams, all waking at every slot was 9% of the CPU; issue 19).
The head's sleep also ends when an API response re-paces the headroom (``observed``): a wait computed
from stale headroom (after a window's reset only one request goes until an answer says what is left)
would otherwise hold the whole queue behind it, which is what made a plain lock slow for two replicas
sharing one limit (tests/reliability/test_rate_limit_headroom.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from service.pipeline.headroom import ServerLimits


class HeadroomQueue:
    def __init__(self, server: ServerLimits) -> None:
        self._server = server
        self._lock = asyncio.Lock()
        self._wake: asyncio.Future[None] | None = None  # the head's sleep, while it sleeps

    def observed(self) -> None:
        """A response updated the headroom: the sleeping head computes its wait again now."""
        if self._wake is not None:
            _set(self._wake)

    async def take(self, input_tokens: int, waited: Callable[[float], None]) -> None:
        """Return once a request needing ``input_tokens`` may start (it is then counted as started);
        ``waited(seconds)`` is called after each sleep with the seconds actually slept."""
        if not self._lock.locked() and self._server.reserve(input_tokens, time.time()) == 0:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            while (wait := self._server.reserve(input_tokens, time.time())) > 0:
                wake = self._wake = loop.create_future()
                timer = loop.call_later(wait, _set, wake)
                started = loop.time()
                try:
                    await wake
                finally:
                    timer.cancel()
                    self._wake = None
                    waited(loop.time() - started)


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
