"""The crash barrier end to end: a stream shape that breaks the fold costs one ErrorEvent, not a partition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import final_ids, finals, last_offsets, wait_committed
from tests.reliability.harness import by_label, log_lines, metrics
from tests.services import ServiceProcess, prompt

pytestmark = pytest.mark.integration

ORPHAN_DELTA = "emu:shape=orphan_delta"


async def test_a_prompt_that_crashes_its_task_errors_and_the_partition_keeps_flowing(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """A broken prompt gets internal_error with its original bytes; later prompts on its partition complete."""
    settings = make_settings(topics={"partitions": 1}, anthropic={"base_url": emulator_url})
    await create_topics(settings)
    broken = prompt("broken", "Hello", metadata={"user_id": ORPHAN_DELTA})
    records = [prompt("before"), broken, *(prompt(f"after{i}") for i in range(5))]
    expected = {"before", "broken", *(f"after{i}" for i in range(5))}
    topics = settings.topics
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        placed = await produce(settings, topics.prompts, records)
        async with Collector(settings, [topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: final_ids(topics)(r) >= expected, within=60)
            await wait_committed(settings, last_offsets(placed))
            await collector.drain()
        samples = metrics(service)
        lines = log_lines(service)
    by_id = {r.json()["custom_id"]: r for r in finals(collector.records, topics)}
    assert {i for i, r in by_id.items() if r.topic == topics.completions} == expected - {"broken"}
    error = by_id["broken"]
    assert error.topic == topics.errors
    event = error.json()
    assert event["error"]["type"] == "internal_error" and event["retryable"] is True
    assert event["error"]["message"].startswith("IndexError: ")
    assert event["original"].encode() == broken[1] and event["original_encoding"] == "utf-8"
    assert json.loads(event["original"])["custom_id"] == "broken"
    assert by_label(samples, "claude_kafka_internal_errors_total", "unit") == {"prompt": 1.0}
    crashes = [line for line in lines if line["msg"].startswith("unexpected error in a prompt")]
    assert len(crashes) == 1 and "IndexError" in crashes[0]["exc"] and crashes[0]["custom_id"] == "broken"
    assert not [line for line in lines if "record task crashed" in line["msg"]]


async def test_a_keyless_service_on_a_loopback_emulator_completes_prompts(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """No ANTHROPIC_API_KEY, the emulator on 127.0.0.1: `run` starts and a prompt completes."""
    settings = make_settings(anthropic={"api_key": None, "base_url": emulator_url})
    assert settings.anthropic.api_key is None
    await create_topics(settings)
    topics = settings.topics
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        await produce(settings, topics.prompts, [prompt("keyless")])
        async with Collector(settings, [topics.completions, topics.errors]) as collector:
            records = await collector.until(lambda r: final_ids(topics)(r) >= {"keyless"}, within=30)
    assert [r.topic for r in finals(records, topics)] == [topics.completions]
