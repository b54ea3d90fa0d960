"""``Acks`` keeps exactly the futures ``Outputs.acknowledged`` must still look at, in send order."""

from __future__ import annotations

import asyncio

import pytest

from service.kafka.outputs import PRUNE_AT, Acks


def _future(loop: asyncio.AbstractEventLoop, state: str) -> asyncio.Future[object]:
    future: asyncio.Future[object] = loop.create_future()
    if state == "ok":
        future.set_result(object())
    elif state == "failed":
        future.set_exception(RuntimeError("broker said no"))
    elif state == "cancelled":
        future.cancel()
    return future


@pytest.mark.parametrize(
    ("states", "kept"),
    [
        # every send acknowledged before the next one: only the newest is held
        (["ok"] * 50, [49]),
        # acknowledgements late: everything pending is held, in order
        (["pending"] * 5, [0, 1, 2, 3, 4]),
        # a failure is never dropped, whatever comes after it
        (["ok", "failed", "ok", "ok"], [1, 3]),
        (["cancelled", "ok"], [0, 1]),
        # past PRUNE_AT, the acknowledged ones among the pending go, the others stay in order
        (["pending", "ok", "pending"] + ["pending", "ok"] * PRUNE_AT, None),
    ],
)
async def test_acks_keep_what_acknowledged_must_see(states: list[str], kept: list[int] | None) -> None:
    loop = asyncio.get_running_loop()
    futures = [_future(loop, state) for state in states]
    acks = Acks()
    for future in futures:
        acks.add(future)
    must_see = [f for f in futures if not (f.done() and not f.cancelled() and f.exception() is None)]
    assert set(map(id, must_see)) <= set(map(id, acks.pending))  # nothing unacknowledged is lost
    assert len(acks.pending) <= max(PRUNE_AT, 2 * len(must_see))  # bounded by what is unacknowledged
    assert acks.pending[-1] is futures[-1]  # the newest send is always there for ``acknowledged``
    positions = [futures.index(f) for f in acks.pending]
    assert positions == sorted(positions)  # send order
    if kept is not None:
        assert positions == kept
    for future in futures:  # no "exception was never retrieved" warnings from the failed ones
        if future.done() and not future.cancelled():
            future.exception()
