"""Wait on a condition with a deadline, never a fixed sleep: the one polling helper the tests share.

``until`` is for coroutines (the condition may be awaitable), ``until_sync`` for plain test code and
threads. Both return the condition's first truthy value, so a wait can hand back what it waited for,
and ``what`` may be a callable so the failure message shows the state at the deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
What = str | Callable[[], str]


def _timed_out(what: What, within: float) -> AssertionError:
    return AssertionError(f"{what() if callable(what) else what} not met within {within}s")


async def until(
    condition: Callable[[], T | Awaitable[T]],
    within: float = 30.0,
    what: What = "condition",
    every: float = 0.01,
) -> T:
    """Return ``condition()``'s value (plain or awaited) once truthy; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return held  # type: ignore[return-value]  # awaited above, so no longer an Awaitable
        if time.monotonic() > deadline:
            raise _timed_out(what, within)
        await asyncio.sleep(every)


def until_sync(
    condition: Callable[[], T], within: float = 30.0, what: What = "condition", every: float = 0.01
) -> T:
    """``until`` for synchronous code: blocks the calling thread between checks."""
    deadline = time.monotonic() + within
    while True:
        if held := condition():
            return held
        if time.monotonic() > deadline:
            raise _timed_out(what, within)
        time.sleep(every)
