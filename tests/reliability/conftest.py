"""Reliability-suite fixtures: the results table, an emulator per session, service fleets always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import HEADER, RESULTS, Fleet, Row, merge, read_rows, render
from tests.services import EmulatorProcess


@pytest.fixture(scope="session")
def results_table() -> Iterator[list[Row]]:
    """Scenarios append their reconciliation; at the end the table is printed and merged into results.md
    (a scenario's row is replaced, rows of scenarios that did not run are kept)."""
    rows: list[Row] = []
    yield rows
    if rows:
        print("\n" + render(rows))
        RESULTS.write_text(HEADER + render(merge(read_rows(RESULTS), rows)))


@pytest.fixture(scope="session")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One fault-free emulator process for the suite (seeded, unpaced)."""
    log = Path(tmp_path_factory.mktemp("emulator")) / "emulator.log"
    with EmulatorProcess(log, "--seed", "11") as emulator:
        yield emulator.base_url


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[Any]:
    """Build ``Fleet``s of service processes; every process is killed at teardown, pass or fail."""
    fleets: list[Fleet] = []

    def build(settings: Any, **env: str) -> Fleet:
        fleet = Fleet(settings, tmp_path, **env)
        fleets.append(fleet)
        return fleet

    yield build
    for fleet in fleets:
        fleet.stop_all()
