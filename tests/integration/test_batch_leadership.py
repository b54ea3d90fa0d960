"""Several replicas, one batch follower: restarts of either replica neither duplicate nor lose results."""

from __future__ import annotations

from typing import Any

import pytest

from service.emulator import Emulator, EmulatorConfig
from service.settings import Settings
from tests.integration.batch_helpers import InProcessService, batch_prompt, finals, set_timing
from tests.kafkautil import Collector, produce
from tests.waiting import until

pytestmark = pytest.mark.integration


def replica(make_settings: Any, emulator_url: str, name: str) -> InProcessService:
    settings: Settings = make_settings(
        anthropic={"base_url": emulator_url, "max_retries": 2},
        batch={"max_wait_seconds": 0.5, "poll_seconds": 0.05},
        pipeline={"shutdown_grace_seconds": 5.0, "service_instance": name},
    )
    return InProcessService(settings)


def leads(service: InProcessService) -> bool:
    leading = service.runner.batches.leadership.leading
    gauge = service.runner.metrics.registry.get_sample_value("claude_kafka_batch_leader")
    assert gauge == (1.0 if leading else 0.0)  # the metric says what the member does
    return leading


async def settled(service: InProcessService, *others: InProcessService) -> None:
    """Wait until ``service`` has joined both groups (prompts and batch leadership) and the others have
    come out of the rebalances its joining caused (a member leaving mid-rebalance is another test)."""

    def marks(s: InProcessService) -> tuple[int, int]:
        return s.runner.batches.leadership.assignments, s.runner.pipeline.inputs.generation

    before = [marks(o) for o in others]

    def done() -> bool:
        joined = service.runner.batches.leadership.assignments >= 1 and service.runner.pipeline.inputs.joined
        return joined and all(
            o.runner.pipeline.inputs.joined and all(now > then for now, then in zip(marks(o), b, strict=True))
            for o, b in zip(others, before, strict=True)
        )

    await until(done, what="both groups settled", within=60)


async def test_one_replica_follows_a_batch_through_restarts_and_a_hand_over(make_settings: Any) -> None:
    """A joins and leads; B joins and does not follow; B restarts (as C) and still does not follow; A
    stops and C takes the batch over. One API batch, one final event per prompt, all attempt 1."""
    async with Emulator(EmulatorConfig(seed=8, batch_time_scale=0.01, output_tokens=8)) as emu:
        set_timing(emu, time_scale=1_000.0)  # emulated time crawls: the batch stays in processing ...
        a = replica(make_settings, emu.base_url, "a").start()
        settings = a.runner.settings
        b = replica(make_settings, emu.base_url, "b")
        c = replica(make_settings, emu.base_url, "c")
        ids = [f"lead-{i:02d}" for i in range(50)]
        try:
            await until(lambda: a.runner.batches.leadership.assignments >= 1, what="a joined", within=60)
            assert leads(a)
            b.start()
            await settled(b, a)
            assert leads(a) and not leads(b)  # sticky: the hand-off partition stays where it was

            # One partition, so one replica submits them all as one batch (which replica does not matter).
            await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids), partition=0)
            await until(lambda: len(a.runner.batches.open_batches) == 1, what="a follows the batch")
            (batch_id,) = a.runner.batches.open_batches

            await b.stop()
            c.start()
            await settled(c, a)
            assert leads(a) and not leads(c) and c.runner.batches.open_batches == []

            async with Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen:
                await a.stop()
                await until(
                    lambda: c.runner.batches.open_batches == [batch_id], what="c took over", within=60
                )
                assert leads(c)
                set_timing(emu, time_scale=0.0001)  # ... until the test lets it end
                await seen.until(lambda _: len(finals(seen, settings)) == len(ids), within=60)
                await until(lambda: c.runner.batches.open_batches == [], what="c finished the batch")
                await seen.drain()
        finally:
            for service in (a, b, c):
                if service.running:
                    await service.stop()
        by_id = finals(seen, settings)
        assert sorted(by_id) == ids and all(len(v) == 1 for v in by_id.values())
        assert {v[0].json()["attempt"] for v in by_id.values()} == {1}
        assert emu.stats.batches["created"] == 1
