"""The shared context handed to every route module (messages, models, batches).

This is the seam between the server and route modules such as ``batches.py``::

    def add_batch_routes(app: web.Application, ctx: EmulatorContext) -> None: ...

Stable attributes (route modules may rely on them):

- ``ctx.config``: the frozen :class:`EmulatorConfig`.
- ``ctx.stats``: :class:`EmulatorStats`; the server middleware records every request, so route
  modules only call ``ctx.stats.count_fault(kind)`` when they inject something themselves.
- ``ctx.clock``: :class:`Clock` (``time()`` epoch seconds, ``monotonic()``, ``await sleep(s)``).
- ``ctx.rng``: ``random.Random`` seeded from ``config.seed``, for rate-based decisions.
- ``ctx.public_base_url(request)``: absolute base URL (no trailing slash) clients reach us at.
- ``ctx.new_id(prefix)``: a fresh random id such as ``msgbatch_01AbC...`` (not seeded).
- ``ctx.spawn(coro)``: run a background task owned by the server; cancelled when the server stops.

Route modules raise :class:`service.emulator.errors.ApiError` to answer with an error envelope;
the server middleware adds ``request-id`` and the other common headers to every response.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from service.emulator.config import EmulatorConfig
from service.emulator.features import PromptCache
from service.emulator.orglimit import OrgLimits
from service.emulator.outage import Outage
from service.emulator.stats import EmulatorStats

_ID_ALPHABET = string.ascii_letters + string.digits


class Clock:
    """Time source. Replace in tests that must not wait (e.g. batch processing)."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


class EmulatorContext:
    """Per-server state shared by all routes. Created by the server; one per running emulator."""

    def __init__(self, config: EmulatorConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.stats = EmulatorStats(config.request_log_size)
        self.cache = PromptCache()  # prompt caching: prefixes written by earlier requests
        self.clock = clock or Clock()
        self.rng = random.Random(config.seed)
        self.org_limits = OrgLimits(
            config.org_requests_limit, config.org_input_tokens_limit, config.org_limit_window_s
        )
        self.outage = Outage()  # an organisation-wide failure switched on at run time (outage.py)
        # Ids are not seeded: a seeded id stream would shift with every request and help nobody.
        self._id_rng = random.SystemRandom()
        self._tasks: set[asyncio.Task[Any]] = set()

    def public_base_url(self, request: web.Request) -> str:
        """Base URL clients use to reach this emulator: config override, else scheme + Host header."""
        if self.config.public_base_url:
            return self.config.public_base_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    def new_id(self, prefix: str) -> str:
        """``prefix`` + ``_01`` + 22 random alphanumerics, the shape of the real API's ids."""
        tail = "".join(self._id_rng.choice(_ID_ALPHABET) for _ in range(22))
        return f"{prefix}_01{tail}"

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a background task that the server cancels and awaits on stop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_tasks(self) -> None:
        """Cancel every spawned task and wait for them (called by the server on stop)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
