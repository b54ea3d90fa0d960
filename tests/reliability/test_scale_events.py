"""Scale events: instances join a consumer group under load and leave it again with SIGTERM."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.kafkautil import Collector, Record, produce
from tests.reconcile import check_outputs, final_ids, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, log_lines, until
from tests.services import prompt

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
async def test_instances_joining_and_leaving_mid_load_lose_nothing(
    make_settings: Any, emulator_url: str, fleet_factory: Any, results_table: list[Row]
) -> None:
    """One instance under load; a second and a third join, then both leave (SIGTERM, exit 0): every
    prompt ends once per (generation, attempt) and every offset is committed."""
    settings = make_settings(
        topics={"partitions": 6},
        anthropic={"base_url": emulator_url},
        pipeline={"max_in_flight": 20, "rebalance_grace_seconds": 3.0, "shutdown_grace_seconds": 10.0},
    )
    await create_topics(settings)
    ids = [f"sc{i:03d}" for i in range(800)]
    slow = {"metadata": {"user_id": "emu:slow_ms=40"}, "max_tokens": 40}
    topics = settings.topics
    fleet = fleet_factory(settings)
    fleet.start("one")
    placed = await produce(settings, topics.prompts, [prompt(i, f"Scale {i}", **slow) for i in ids])

    def done(records: list[Record]) -> int:
        return len(final_ids(topics)(records))

    def assigned(name: str) -> bool:
        lines = log_lines(fleet.live[name])
        return any(line["msg"] == "partitions assigned" and line["partitions"] > 0 for line in lines)

    async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as seen:
        await seen.until(lambda r: done(r) >= 60, within=60)
        fleet.start("two")
        await until(lambda: assigned("two"), 60, "two took partitions")
        assert done(seen.records) < len(ids) - 100, "two must join mid-load"
        fleet.start("three")
        await until(lambda: assigned("three"), 60, "three took partitions")
        await seen.poll()
        assert done(seen.records) < len(ids) - 100, "three must join mid-load"
        assert fleet.kill("two", signal.SIGTERM) == 0
        progress = done(seen.records)
        await seen.until(lambda r: done(r) >= progress + 50, within=60)
        assert done(seen.records) < len(ids), "the load must outlast the scale events"
        assert fleet.kill("three", signal.SIGTERM) == 0
        await seen.until(lambda r: final_ids(topics)(r) >= set(ids), within=120)
        await wait_committed(settings, last_offsets(placed), within=60)
        await seen.drain()
    check_outputs(seen.records, topics, set(ids))
    result = tally(seen.records, topics, set(ids))
    assert not result.lost and result.same_version_repeats == 0 and result.completed == len(ids)
    for service in fleet.all:
        assert "Traceback" not in service.log()
    results_table.append(Row.of("Scale events: 2nd and 3rd instance join, then leave (SIGTERM)", result))
