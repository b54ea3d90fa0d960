"""A crash in a background task of `run` fails the process loudly instead of dying silently."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from service.batch.assembly import Assembler
from service.kafka.topics import create_topics
from service.runner import Runner
from service.supervisor import EXIT_CRASHED
from tests.waiting import until

pytestmark = pytest.mark.integration


async def test_a_crashed_batch_assembler_stops_the_service_with_exit_code_70(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the batch assembler's task logs CRITICAL naming it, drains, and exits EX_SOFTWARE."""
    settings = make_settings()
    await create_topics(settings)

    armed = False
    deadline = Assembler.deadline

    def broken(self: Assembler) -> float | None:
        if armed:
            raise RuntimeError("injected bug in assembly")
        return deadline(self)

    monkeypatch.setattr(Assembler, "deadline", broken)  # called by the assembler's task alone
    runner = Runner(settings)
    with caplog.at_level(logging.INFO):
        serving = asyncio.create_task(runner.serve())
        # Crash mid-life, once the service runs and leads: nobody asks it to stop but the crash.
        await until(lambda: runner.batches.leadership.assignments >= 1, what="joined", within=60)
        armed = True
        runner.batches.flush()  # wakes the assembler, which now crashes
        await asyncio.wait_for(serving, 60)
    assert runner.exit_code == EXIT_CRASHED
    crashes = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert [getattr(r, "task", None) for r in crashes] == ["batch-assemble"]
    assert "injected bug in assembly" in str(crashes[0].exc_info[1] if crashes[0].exc_info else "")
    assert any(r.getMessage() == "stopped" for r in caplog.records)
