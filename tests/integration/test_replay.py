"""``replay`` end to end: prompts fail on an overloaded API, the API recovers, replay re-sends them.

Real embedded broker, the emulator as a process (once with a 529 on every request, once healthy), the
service as a process, and ``claude-kafka replay`` as a subprocess reading a dotenv file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.cli.procs import Cli
from tests.kafkautil import Collector, produce
from tests.reconcile import last_offsets, wait_committed
from tests.services import EmulatorProcess, ServiceProcess, prompt, settings_env

pytestmark = pytest.mark.integration

IDS = ("replay-1", "replay-2", "replay-3")


def _env_file(settings: Any, cwd: Path) -> None:
    """The test's Kafka and topic settings as the .env the CLI reads from its working directory."""
    env = settings_env(settings)
    lines = [f"{k}={v}" for k, v in env.items() if k.startswith(("KAFKA_", "TOPIC_"))]
    (cwd / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")


async def test_dead_letters_replayed_after_the_fault_clears_complete_under_their_custom_id(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Overloaded-API errors are listed by --dry-run, then replayed (keys kept) and completed."""
    settings = make_settings()
    await create_topics(settings)
    topics = settings.topics
    _env_file(settings, tmp_path)
    poison = (None, b"not json at all")
    with EmulatorProcess(tmp_path / "overloaded.log", "--fault-rate", "529=1.0") as overloaded:
        faulty = make_settings(
            anthropic={"max_retries": 0, "base_url": overloaded.base_url}, pipeline={"max_attempts": 1}
        )
        with ServiceProcess(faulty, tmp_path / "service-1.log") as service:
            service.wait_ready()
            placed = await produce(settings, topics.prompts, [*(prompt(i) for i in IDS), poison])
            async with Collector(settings, [topics.errors]) as errors:
                await errors.until(lambda r: len(r) == len(IDS) + 1, within=60)
            # The healthy service below joins the same group: offsets this one has not committed when it
            # is killed would be redone there (at-least-once), completing the originals as well.
            await wait_committed(settings, last_offsets(placed))
    failed = {r.json()["custom_id"]: r.json()["error"]["type"] for r in errors.records}
    assert set(failed) == {*IDS, None}
    error_type = failed["replay-1"]
    assert {failed[i] for i in IDS} == {error_type} and error_type != failed[None]

    dry = Cli("replay", "--type", error_type, "--dry-run", cwd=tmp_path)
    assert dry.finish(within=60) == 0, dry.output
    assert sorted(line.split()[2] for line in dry.lines if line.startswith("would replay")) == sorted(IDS)
    assert dry.lines[-1].startswith(f"dry run: 3 prompts would be sent to {topics.prompts}"), dry.output
    one = Cli("replay", "--custom-id", "replay-2", "--dry-run", cwd=tmp_path)
    assert one.finish(within=60) == 0 and one.lines[-1].startswith("dry run: 1 prompts"), one.output
    later = Cli("replay", "--since", "2099-01-01T00:00:00Z", "--dry-run", cwd=tmp_path)
    assert later.finish(within=60) == 0 and later.lines[-1].startswith("dry run: 0 prompts"), later.output

    healthy = make_settings(
        anthropic={"max_retries": 0, "base_url": emulator_url}, pipeline={"max_attempts": 1}
    )
    with ServiceProcess(healthy, tmp_path / "service-2.log") as service:
        service.wait_ready()
        async with Collector(settings, [topics.prompts, topics.completions]) as seen:
            await seen.until(lambda r: len(r) == len(IDS) + 1)  # the original prompts, nothing replayed yet
            run = Cli("replay", "--type", error_type, "--rate", "20/s", cwd=tmp_path)
            assert run.finish(within=60) == 0, run.output
            assert run.lines[-1].startswith(f"replayed 3 prompts to {topics.prompts}"), run.output
            await seen.until(lambda r: len(seen.on(topics.completions)) == len(IDS), within=60)
    replayed = seen.on(topics.prompts)[len(IDS) + 1 :]
    assert sorted((r.key, r.json()["custom_id"]) for r in replayed) == [(i.encode(), i) for i in IDS]
    assert {r.json()["custom_id"] for r in seen.on(topics.completions)} == set(IDS)
