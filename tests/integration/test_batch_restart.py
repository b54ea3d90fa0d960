"""A service killed between submitting a batch and its results resumes that batch after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.emulator import Emulator, EmulatorConfig
from tests.integration.batch_helpers import batch_prompt, batch_settings, finals
from tests.kafkautil import Collector, Record, produce
from tests.services import settings_env

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


class Service:
    """``python -m service run`` as a child process configured by environment variables."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path) -> None:
        self._env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env}
        self._log, self._cwd = log, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self._log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "run"],
                env=self._env, cwd=self._cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def services() -> Iterator[list[Service]]:
    """Child services, killed at the end whatever happened."""
    started: list[Service] = []
    yield started
    for service in started:
        service.kill()


async def test_killed_service_resumes_the_same_batch_without_submitting_again(
    make_settings: Any, tmp_path: Path, services: list[Service]
) -> None:
    """SIGKILL after submit and before results: the restarted service polls the same batch ids
    (the emulator sees no further create) and delivers every result."""
    async with Emulator(EmulatorConfig(seed=5, batch_time_scale=0.02, output_tokens=8)) as emu:
        settings = batch_settings(make_settings, emu.base_url, max_wait_seconds=2.0)
        env = settings_env(settings)
        ids = [f"kill-{i:03d}" for i in range(200)]
        await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids))
        async with Collector(
            settings, [settings.topics.batches, settings.topics.completions, settings.topics.errors]
        ) as seen:
            first = Service(env, tmp_path / "first.log", tmp_path)
            services.append(first)
            first.start()

            # Every prompt is in a recorded batch (the records are durable; a batch runs for 6 s).
            def recorded(records: list[Record]) -> set[str]:
                return {
                    e["custom_id"] for r in records if r.topic == settings.topics.batches and r.value
                    for e in r.json()["entries"]
                }  # fmt: skip

            await seen.until(lambda records: len(recorded(records)) == len(ids))
            first.kill()
            batch_ids = {r.json()["batch_id"] for r in seen.on(settings.topics.batches)}
            created = emu.stats.batches["created"]
            assert created == len(batch_ids) and emu.stats.batches["results_downloads"] == 0
            second = Service(env, tmp_path / "second.log", tmp_path)
            services.append(second)
            second.start()
            await seen.until(lambda _: len(finals(seen, settings)) == len(ids), within=60)
            await seen.until(
                lambda records: any(r.topic == settings.topics.batches and r.value is None for r in records)
            )
            assert second.terminate() == 0
    by_id = finals(seen, settings)
    assert sorted(by_id) == ids and all(len(v) == 1 for v in by_id.values())
    # A resumed batch is re-recorded one attempt higher, so anything it publishes outranks whatever
    # the killed process may have published already.
    assert {v[0].json()["attempt"] for v in by_id.values()} == {2}
    assert emu.stats.batches["created"] == created  # nothing submitted again after the restart
    assert emu.stats.batches["requests_submitted"] == len(ids)
    retrievals = emu.stats.entries(route="/v1/messages/batches/{batch_id}")
    assert {e.path.rsplit("/", 1)[-1] for e in retrievals} == batch_ids
