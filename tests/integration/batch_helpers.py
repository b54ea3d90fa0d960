"""Helpers for the batch-mode integration tests: prompts, the in-process service, waits on conditions."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from aiohttp import web

from service.emulator import Emulator
from service.emulator.batch_store import BatchStore
from service.emulator.batches import BATCH_STORE
from service.runner import Runner
from service.settings import Settings
from tests.kafkautil import Collector, Record

MODEL = "claude-haiku-4-5"


def batch_prompt(custom_id: str, directive: str | None = None) -> tuple[bytes, bytes]:
    """A (key, value) batch-mode prompt record; ``directive`` goes into metadata.user_id."""
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    if directive:
        params["metadata"] = {"user_id": directive}
    body = {"custom_id": custom_id, "params": params, "mode": "batch", "attributes": {"n": custom_id}}
    return custom_id.encode(), json.dumps(body).encode()


def batch_settings(make_settings: Any, emulator_url: str, **batch: Any) -> Settings:
    settings: Settings = make_settings(
        anthropic={"base_url": emulator_url, "max_retries": 2},
        batch={"max_wait_seconds": 0.5, "poll_seconds": 0.05, **batch},
        pipeline={"shutdown_grace_seconds": 5.0},
    )
    return settings


def store(emu: Emulator) -> BatchStore:
    app: web.Application | None = emu.app
    assert app is not None
    return app[BATCH_STORE]


def set_timing(emu: Emulator, **timing: float) -> None:
    """Change the emulator's batch timing (emulated seconds) for batches not yet ended."""
    batches = store(emu)
    batches.timing = replace(batches.timing, **timing)


class InProcessService:
    """``Runner.serve()`` as a task on the test's loop; ``stop`` drains it as SIGTERM would."""

    def __init__(self, settings: Settings) -> None:
        self.runner = Runner(settings)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> InProcessService:
        self._task = asyncio.create_task(self.runner.serve())
        return self

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        assert self._task is not None
        self.runner.pipeline.request_stop()
        await asyncio.wait_for(self._task, 30)

    async def __aenter__(self) -> InProcessService:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def finals(collector: Collector, settings: Settings) -> dict[str, list[Record]]:
    """Final events (completions and errors) by custom_id."""
    out: dict[str, list[Record]] = {}
    for record in collector.records:
        if record.topic in (settings.topics.completions, settings.topics.errors) and record.key:
            out.setdefault(record.key.decode(), []).append(record)
    return out
