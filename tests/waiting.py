"""Wait on a condition with a deadline, never a fixed sleep: the one polling helper the tests share."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    within: float = 30.0,
    what: str = "condition",
    every: float = 0.01,
) -> None:
    """Return once ``condition()`` (plain or awaitable) holds; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within}s")
        await asyncio.sleep(every)
