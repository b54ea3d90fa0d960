"""Every background task of a process is started here, so none can die silently.

A task that raises (a bug: the adapters retry Kafka and API trouble themselves) is logged at CRITICAL
with its name, and the process is asked to stop: the runner drains what it can and exits with
``EXIT_CRASHED`` (``EX_SOFTWARE``), so the orchestrator restarts it. A batch follower that died
quietly would leave its prompts' hand-offs waiting forever; a restart resumes them instead.
Cancellation is not a crash (that is how the owner stops a task), nor is returning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

EXIT_CRASHED = 70  # EX_SOFTWARE (sysexits.h): an internal error, worth a restart


class Supervisor:
    """``spawn`` starts a named task; the first crash calls ``on_crash`` (the runner's stop)."""

    def __init__(self, on_crash: Callable[[], None] | None = None) -> None:
        self._on_crash = on_crash
        self._tasks: set[asyncio.Task[Any]] = set()
        self.crashed: str | None = None  # the name of the first task that crashed

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)  # the loop holds tasks weakly: keep each until it is done
        task.add_done_callback(self._done)
        return task

    def watch(self, on_crash: Callable[[], None]) -> None:
        """Call ``on_crash`` at the first crash (at once if one happened already)."""
        self._on_crash = on_crash
        if self.crashed is not None:
            on_crash()

    @property
    def exit_code(self) -> int:
        return 0 if self.crashed is None else EXIT_CRASHED

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        name = task.get_name()
        log.critical(
            "background task crashed; stopping the process",
            extra={"task": name},
            exc_info=task.exception(),
        )
        if self.crashed is None:
            self.crashed = name
            if self._on_crash is not None:
                self._on_crash()
