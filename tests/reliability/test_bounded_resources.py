"""Bounded resources: with the API stalled, the backlog waits on the broker (paused partitions), not in RAM."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from service.kafka.topics import create_topics
from tests.kafkautil import produce
from tests.reliability.harness import metrics, until
from tests.services import EmulatorProcess, prompt

pytestmark = pytest.mark.integration

LIMIT = 50
BACKLOG = 5_000
PAD = 8_000  # bytes of prompt text each: the backlog is ~40 MB, far more than the allowed growth
GROWTH_BOUND = 25 * 1024 * 1024


@pytest.fixture
def stalled_api(tmp_path: Path) -> Iterator[str]:
    """An emulator of this test's own, whose streams are held open by ``emu:ttft_ms=60000``."""
    with EmulatorProcess(tmp_path / "emulator.log", "--seed", "3") as emulator:
        yield emulator.base_url


def gauge(service: Any, name: str) -> float:
    return next((v for (n, _), v in metrics(service).items() if n == name), 0.0)


async def test_stalled_api_keeps_memory_bounded_and_health_answering(
    make_settings: Any, stalled_api: str, fleet_factory: Any
) -> None:
    """5,000 prompts against an API that never answers: exactly MAX_IN_FLIGHT in flight, partitions
    paused, RSS growth bounded well below the backlog's size, /healthz answering throughout."""
    settings = make_settings(
        anthropic={"base_url": stalled_api, "max_retries": 0, "timeout_seconds": 120},
        pipeline={"max_in_flight": LIMIT, "max_prompt_bytes": 64 * 1024},
    )
    await create_topics(settings)
    fleet = fleet_factory(settings)
    service = fleet.start("stalled")
    process = psutil.Process(service.pid)
    baseline = process.memory_info().rss
    stall = {"metadata": {"user_id": "emu:ttft_ms=60000"}}
    text = "x" * PAD
    await produce(
        settings, settings.topics.prompts, (prompt(f"st{i:04d}", text, **stall) for i in range(BACKLOG))
    )
    await until(
        lambda: gauge(service, "claude_kafka_in_flight_prompts") == LIMIT, 30, "in-flight at the limit"
    )
    await until(lambda: gauge(service, "claude_kafka_paused_partitions") > 0, 30, "partitions paused")
    peak = 0
    started = time.monotonic()
    while time.monotonic() - started < 8.0:  # a window in which an unbounded queue would fill up
        peak = max(peak, process.memory_info().rss)
        status, _ = service.get("/healthz")
        assert status == 200
        assert gauge(service, "claude_kafka_in_flight_prompts") == LIMIT
        await asyncio.sleep(0.2)  # the sampling interval
    samples = metrics(service)
    consumed = sum(v for (n, _), v in samples.items() if n == "claude_kafka_messages_consumed_total")
    received = sum(v for (n, _), v in samples.items() if n == "claude_kafka_prompts_received_total")
    assert received == LIMIT, "only MAX_IN_FLIGHT prompts may be taken while every slot is busy"
    assert consumed <= LIMIT + 3, consumed  # paused: a poll after a pause returns at most a record or so
    growth = peak - baseline
    assert growth < GROWTH_BOUND, f"RSS grew {growth / 2**20:.1f} MiB (bound {GROWTH_BOUND / 2**20:.0f} MiB)"
    print(f"stalled API: RSS {baseline / 2**20:.1f} -> peak {peak / 2**20:.1f} MiB, consumed {consumed:.0f}")
