"""A service killed between submitting a batch and its results resumes that batch after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import pytest

from schemas import SourceRecord
from service.batch.records import Entry, chunk_records, fold
from service.emulator import Emulator, EmulatorConfig
from service.kafka.handoff_log import HandOffLog, read_topic
from service.kafka.outputs import Outputs
from service.metrics import Metrics
from tests.integration.batch_helpers import InProcessService, batch_prompt, batch_settings, finals
from tests.kafkautil import Collector, Record, committed_offsets, produce
from tests.services import settings_env
from tests.waiting import until

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
    # Killed before results: no publishing marker, so the batch is resumed as recorded (attempt 1).
    assert {v[0].json()["attempt"] for v in by_id.values()} == {1}
    assert emu.stats.batches["created"] == created  # nothing submitted again after the restart
    assert emu.stats.batches["requests_submitted"] == len(ids)
    retrievals = emu.stats.entries(route="/v1/messages/batches/{batch_id}")
    assert {e.path.rsplit("/", 1)[-1] for e in retrievals} == batch_ids


@pytest.mark.parametrize(("published_before", "attempt"), [(False, 1), (True, 2)])
async def test_prompts_redone_after_their_resumed_batch_ended_are_not_submitted_again(
    make_settings: Any, published_before: bool, attempt: int
) -> None:
    """What a process killed right after its hand-off record leaves behind: a created batch, its record,
    and the prompts' offsets not committed. Here the batch has ended before the service starts, so the
    resumed batch publishes its results before the consumer gets the prompts back; those prompts are
    then committed without a second batch. Had the dead follower begun publishing (its marker is on
    the topic), the results come one attempt higher, so they outrank whatever it published."""
    async with Emulator(EmulatorConfig(seed=6, batch_time_scale=0.0001, output_tokens=8)) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        ids = [f"redo-{i:02d}" for i in range(20)]
        prompts = [batch_prompt(i) for i in ids]
        placed = await produce(settings, settings.topics.prompts, prompts)
        entries = [
            Entry(
                custom_id=custom_id, generation=1, attempt=1, timestamp_ms=int(time.time() * 1000),
                source=SourceRecord(topic=settings.topics.prompts, partition=partition, offset=offset),
                attributes={"n": custom_id}, params=json.dumps(json.loads(value)["params"]),
            )
            for custom_id, (_, value), (partition, offset) in zip(ids, prompts, placed, strict=True)
        ]  # fmt: skip
        async with anthropic.AsyncAnthropic(base_url=emu.base_url, api_key="sk-test") as client:
            batch = await client.messages.batches.create(
                requests=[{"custom_id": e.custom_id, "params": json.loads(e.params)} for e in entries]
            )

            async def ended() -> bool:
                return (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"

            await until(ended, what="the batch ended")
        producer = Outputs(settings.kafka, Metrics())
        await producer.start()
        try:
            log = HandOffLog(producer, settings.topics.batches)
            await log.write(chunk_records(batch.id, entries, datetime.now(UTC), "killed-instance"))
            if published_before:
                await log.mark_publishing(batch.id)
        finally:
            await producer.stop()

        ends = {p: max(o for q, o in placed if q == p) + 1 for p, _ in placed}

        async def all_committed() -> bool:
            committed = await committed_offsets(settings, settings.topics.prompts, max(ends) + 1)
            return all(committed[p] == end for p, end in ends.items())

        outputs = [settings.topics.completions, settings.topics.errors]
        async with Collector(settings, outputs) as seen, InProcessService(settings) as service:
            await seen.until(lambda _: len(finals(seen, settings)) == len(ids))
            await until(all_committed, what="every prompt offset committed", every=0.05)
            await until(lambda: service.runner.batches.open_batches == [], what="the batch tombstoned")
        by_id = finals(seen, settings)
        assert sorted(by_id) == ids and all(len(v) == 1 for v in by_id.values())
        assert {v[0].json()["attempt"] for v in by_id.values()} == {attempt}
        assert emu.stats.batches["created"] == 1  # the redone prompts did not go into a second batch
        # Nothing is left open, the marker included.
        assert fold(await read_topic(settings.kafka, settings.topics.batches)).open == ()
