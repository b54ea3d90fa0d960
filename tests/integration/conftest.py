"""Integration fixtures: the emulator as a child process (so it never shares the test's GIL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import EmulatorProcess


@pytest.fixture(scope="session")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of one emulator process for the session (seeded, unpaced, answers of 20..300 tokens)."""
    log = Path(tmp_path_factory.mktemp("emulator")) / "emulator.log"
    with EmulatorProcess(log, "--seed", "7") as emulator:
        yield emulator.base_url
