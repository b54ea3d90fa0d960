"""The supervisor: a background task that crashes is logged loudly and stops the process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.supervisor import EXIT_CRASHED, Supervisor


async def _crash() -> None:
    raise RuntimeError("a bug")


async def _forever() -> None:
    await asyncio.Event().wait()


async def _return() -> None:
    return None


async def test_a_crashed_task_is_logged_critical_by_name_and_stops_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A task that raises logs CRITICAL with its name, calls on_crash once and sets exit code 70."""
    stops: list[None] = []
    supervisor = Supervisor(lambda: stops.append(None))
    with caplog.at_level(logging.CRITICAL, logger="service.supervisor"):
        tasks = [supervisor.spawn(_crash(), "first"), supervisor.spawn(_crash(), "second")]
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # done-callbacks run on the next loop turn
    assert supervisor.crashed == "first" and supervisor.exit_code == EXIT_CRASHED == 70
    assert len(stops) == 1
    records = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert [getattr(r, "task", None) for r in records] == ["first", "second"]
    assert all(r.exc_info and "a bug" in str(r.exc_info[1]) for r in records)


@pytest.mark.parametrize("ending", ["cancelled", "returned"])
async def test_a_cancelled_or_finished_task_is_not_a_crash(ending: str) -> None:
    """Cancellation (how an owner stops a task) and returning leave the exit code at 0."""
    stops: list[None] = []
    supervisor = Supervisor(lambda: stops.append(None))
    task = supervisor.spawn(_forever() if ending == "cancelled" else _return(), "worker")
    if ending == "cancelled":
        await asyncio.sleep(0)
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert supervisor.crashed is None and supervisor.exit_code == 0 and not stops


async def test_watching_after_a_crash_stops_at_once() -> None:
    """An owner that attaches after the crash is still told, so no crash goes unnoticed."""
    supervisor = Supervisor()
    await asyncio.gather(supervisor.spawn(_crash(), "early"), return_exceptions=True)
    await asyncio.sleep(0)
    stops: list[None] = []
    supervisor.watch(lambda: stops.append(None))
    assert stops == [None]
