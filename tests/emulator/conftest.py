"""Emulator fixtures: one async emulator and one background-thread emulator per session.

Tests that need other settings start their own (``Emulator(config)`` is cheap: ~ms). Fault
directives with ``times=`` must use a unique ``key`` per test because the emulators are shared.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
import pytest_asyncio

from service.emulator import Emulator, EmulatorConfig, EmulatorThread

MODEL = "claude-haiku-4-5"  # current in the installed SDK: no DeprecationWarning (warnings are errors)
API_KEY = "sk-ant-emulator-test"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def emu() -> AsyncIterator[Emulator]:
    """An emulator on the session loop, default settings, seed 7."""
    async with Emulator(EmulatorConfig(seed=7)) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def emu_thread() -> Iterator[EmulatorThread]:
    """An emulator in a background thread, for the sync client."""
    with EmulatorThread(EmulatorConfig(seed=7)) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="session")
async def aclient(emu: Emulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """Async SDK client on ``emu`` (default retries)."""
    async with anthropic.AsyncAnthropic(base_url=emu.base_url, api_key=API_KEY) as client:
        yield client


@pytest.fixture
def client(emu_thread: EmulatorThread) -> Iterator[anthropic.Anthropic]:
    """Sync SDK client on ``emu_thread`` (default retries)."""
    with anthropic.Anthropic(base_url=emu_thread.base_url, api_key=API_KEY) as sync_client:
        yield sync_client


@pytest.fixture
def key() -> str:
    """A unique fault key / user id for this test."""
    return f"k{uuid.uuid4().hex[:12]}"


def params(**overrides: Any) -> dict[str, Any]:
    """A small valid messages body."""
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 400,
        "messages": [{"role": "user", "content": "Tell me about rivers."}],
    }
    body.update(overrides)
    return body
