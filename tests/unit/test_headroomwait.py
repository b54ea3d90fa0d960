"""HeadroomQueue: one waiter sleeps at a time, and a response's headroom wakes it early."""

from __future__ import annotations

import asyncio
import time

from service.pipeline.headroom import Headroom, ServerLimits
from service.pipeline.headroomwait import HeadroomQueue


def _exhausted_for(seconds: float) -> ServerLimits:
    server = ServerLimits()
    server.observe({"requests": Headroom("requests", 20, 0, time.time() + seconds)})
    return server


async def test_a_response_with_headroom_wakes_the_waiting_head_before_its_slot() -> None:
    """A waiter due in 30 s goes as soon as a response says requests are left again."""
    server = _exhausted_for(30.0)
    queue = HeadroomQueue(server)
    waits: list[float] = []
    waiter = asyncio.create_task(queue.take(10, waits.append))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    server.observe({"requests": Headroom("requests", 20, 20, time.time() + 30.0)})
    queue.observed()
    await asyncio.wait_for(waiter, timeout=5.0)
    assert len(waits) == 1 and waits[0] < 5.0


async def test_waiters_behind_the_head_do_not_wake_at_its_slot() -> None:
    """Three prompts wait; only the head sleeps, and they go in arrival order once headroom is back."""
    server = _exhausted_for(30.0)
    queue = HeadroomQueue(server)
    order: list[int] = []

    async def prompt(n: int) -> None:
        await queue.take(10, lambda _s: None)
        order.append(n)

    tasks = []
    for n in range(3):
        tasks.append(asyncio.create_task(prompt(n)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert queue._lock.locked() and len(queue._lock._waiters or ()) == 2  # two queued, one asleep
    server.observe({"requests": Headroom("requests", 20, 20, time.time() + 2.0)})
    queue.observed()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5.0)
    assert order == [0, 1, 2]
