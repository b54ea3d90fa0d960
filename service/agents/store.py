"""Where runs are recorded between turns: the seam ``TOPIC_RUNS`` sits behind."""

from __future__ import annotations

from typing import Protocol

from service.agents.run import Run


class RunStore(Protocol):
    async def load(self, custom_id: str) -> Run | None:
        """The run as last recorded, or ``None`` for a run not started (or ended)."""

    async def save(self, run: Run) -> None:
        """Record ``run``; returns once it is durable (the service acts on it only then)."""

    async def end(self, custom_id: str) -> None:
        """Forget the run: its final event is published."""

    def release(self, custom_id: str) -> None:
        """This process stops running ``custom_id`` without an end (its partition moved)."""


class MemoryRuns:
    """Runs kept in this process only: an attempt after a broken stream resumes, a crash does not."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}

    async def load(self, custom_id: str) -> Run | None:
        return self._runs.get(custom_id)

    async def save(self, run: Run) -> None:
        self._runs[run.custom_id] = run

    async def end(self, custom_id: str) -> None:
        self._runs.pop(custom_id, None)

    def release(self, custom_id: str) -> None:
        self._runs.pop(custom_id, None)
