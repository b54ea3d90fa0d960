"""``claude-kafka doctor`` as a subprocess against a real broker, the emulator and the service."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.cli.procs import Cli
from tests.kafkautil import produce
from tests.reconcile import wait_committed
from tests.services import ServiceProcess, prompt, settings_env

pytestmark = pytest.mark.integration


def _env_file(settings: Any, cwd: Path) -> None:
    env = settings_env(settings)
    names = ("KAFKA_", "TOPIC_", "ANTHROPIC_", "ALLOWED_MODELS", "METRICS_PORT")
    lines = [f"{k}={v}" for k, v in env.items() if k.startswith(names)]
    (cwd / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")


def line(cli: Cli, name: str) -> str:
    return next(text for text in cli.lines if text[2:].startswith(name))


async def test_doctor_checks_the_stack_and_names_what_to_fix(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Topics, key and allowed models pass; the group fails with its lag until the service runs, then passes."""
    settings = make_settings(
        anthropic={"base_url": emulator_url},
        pipeline={"allowed_models": "claude-sonnet-5-5,claude-opus-4-5"},
    )
    await create_topics(settings)
    _env_file(settings, tmp_path)
    topics = settings.topics
    # Three prompts in one produce batch on one partition: the embedded broker's end_offsets() would
    # say 1 there, the fetch-reported high watermark says 3.
    await produce(settings, topics.prompts, [prompt(f"lag-{i}") for i in range(3)], partition=0)
    before = Cli("doctor", cwd=tmp_path)
    assert before.finish(within=60) == 1, before.output
    assert "Traceback" not in before.output
    assert line(before, "broker").startswith("✓")
    for name in (topics.prompts, *topics.outputs()):
        assert line(before, f"topic {name}").startswith("✓"), before.output
    assert line(before, f"topic {topics.batches}").endswith("1 partition, cleanup.policy=compact")
    group = line(before, f"group {settings.kafka.group_id}")
    # Kafka answers "Dead" for a group nobody joined, the embedded broker "Empty" (a ✗ either way).
    assert group.startswith("✗") and group.endswith("no member is consuming, lag 3"), before.output
    assert before.lines[before.lines.index(group) + 1].strip() == "fix: start the service: `claude-kafka run`"
    assert line(before, "API key").startswith("✓") and f"accepted by {emulator_url}" in line(
        before, "API key"
    )
    assert line(before, "allowed model claude-sonnet-5-5").startswith("✓")
    assert "deprecated, retires 2027-01-22" in line(before, "allowed model claude-opus-4-5")
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        await wait_committed(settings, {0: 3})
        after = Cli("doctor", cwd=tmp_path)
        after.finish(within=60)
    group = line(after, f"group {settings.kafka.group_id}")
    assert group.startswith("✓") and "Stable, 1 member, lag 0" in group, after.output


def test_doctor_with_a_stopped_broker_fails_fast_with_a_hint(tmp_path: Path) -> None:
    """An unreachable broker is a ✗ with the fix within seconds, later Kafka checks skipped, exit 1."""
    (tmp_path / ".env").write_text(
        "METRICS_PORT=0\nANTHROPIC_API_KEY=sk-ant-x\nANTHROPIC_BASE_URL=http://127.0.0.1:1\n"
    )
    started = time.monotonic()
    cli = Cli("doctor", "-b", "127.0.0.1:1", cwd=tmp_path)
    assert cli.finish(within=30) == 1, cli.output
    assert time.monotonic() - started < 20
    assert "Traceback" not in cli.output
    assert line(cli, "broker").startswith("✗ broker") and "cannot reach 127.0.0.1:1" in line(cli, "broker")
    assert "fix: start a broker" in cli.output
    assert line(cli, "group").startswith("- ") and "not checked: broker unreachable" in line(cli, "group")
    # aiohttp's refusal reaches doctor as the SDK's own class (the transport maps it, as in `run`)
    assert line(cli, "API key").startswith(
        "✗"
    ) and "cannot reach http://127.0.0.1:1: APIConnectionError" in line(cli, "API key")
    assert "ANTHROPIC_BASE_URL" in cli.output
