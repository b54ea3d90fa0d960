"""Client-side rate limits hold requests back instead of sending them (real broker, emulator, service)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from service.emulator import Emulator, EmulatorConfig
from service.kafka.topics import create_topics
from tests.integration.batch_helpers import InProcessService
from tests.kafkautil import Collector, produce
from tests.reconcile import final_ids
from tests.services import prompt

pytestmark = pytest.mark.integration


async def test_requests_per_minute_limit_spaces_requests_past_the_burst(make_settings: Any) -> None:
    """RATE_LIMIT_RPM=60 lets a burst of 60 through, then one request a second: 65 prompts take >= 4 s."""
    async with Emulator(EmulatorConfig(seed=11, output_tokens=5)) as emu:
        settings = make_settings(anthropic={"base_url": emu.base_url}, pipeline={"rate_limit_rpm": 60})
        await create_topics(settings)
        ids = {f"rpm-{i:02d}" for i in range(65)}
        async with InProcessService(settings) as service:
            started = time.monotonic()  # no request is reserved before its prompt exists
            await produce(settings, settings.topics.prompts, [prompt(i) for i in sorted(ids)])
            topics = settings.topics
            async with Collector(settings, [topics.completions, topics.errors]) as seen:
                await seen.until(lambda r: final_ids(topics)(r) >= ids, within=60)
            registry = service.runner.metrics.registry
            held = registry.get_sample_value("claude_kafka_rate_limit_waits_total", {"reason": "client"})
    requests = emu.stats.entries(route="/v1/messages")
    assert len(requests) == 65 and {r.status for r in requests} == {200}
    spread = requests[-1].monotonic - started
    # The 61st..65th reservations go into debt of 1..5 tokens at one token a second: the last request
    # cannot start before ~5 s after the first reservation, itself after `started`. (Measured from the
    # first request instead, a first request slow to arrive on a loaded box, as under xdist, hid 1.6 s.)
    assert spread >= 4.0, spread
    assert held is not None and held >= 4
