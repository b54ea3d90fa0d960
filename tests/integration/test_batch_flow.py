"""Batch mode end to end: the real service on the embedded broker, the emulator's batch endpoints with a
compressed clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from anthropic import AsyncAnthropic

from service.batch.records import fold
from service.emulator import Emulator, EmulatorConfig
from service.kafka.handoff_log import read_topic
from tests.integration.batch_helpers import (
    InProcessService,
    batch_prompt,
    batch_settings,
    finals,
    set_timing,
    store,
)
from tests.kafkautil import Collector, produce
from tests.waiting import until

pytestmark = pytest.mark.integration


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator whose 300-emulated-second batches take about 1 s."""
    async with Emulator(EmulatorConfig(seed=3, batch_time_scale=0.003, output_tokens=8)) as emulator:
        yield emulator


async def test_ten_thousand_prompts_become_three_batches_with_one_final_event_each(
    make_settings: Any, emu: Emulator
) -> None:
    """10,000 batch prompts with BATCH_MAX_REQUESTS=4000 are three API batches; each gets one event."""
    # The wait bound must outlast the intake of 4000 prompts, so that the count bound decides.
    settings = batch_settings(make_settings, emu.base_url, max_requests=4000, max_wait_seconds=4.0)
    ids = [f"bulk-{i:05d}" for i in range(10_000)]
    await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids))
    async with (
        Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
        InProcessService(settings),
    ):
        await seen.until(lambda _: len(finals(seen, settings)) >= len(ids), within=60)
        await until(lambda: emu.stats.batches["created"] == 3, what="three batches")
    by_id = finals(seen, settings)
    assert sorted(by_id) == ids
    assert all(len(events) == 1 for events in by_id.values())
    events = [r.json() for r in seen.on(settings.topics.completions)]
    assert {e["mode"] for e in events} == {"batch"} and {e["attempt"] for e in events} == {1}
    assert all(e["timings"]["ttft_ms"] is None and e["cost_usd"] > 0 for e in events)
    assert emu.stats.batches["created"] == 3
    assert emu.stats.batches["requests_submitted"] == 10_000
    # Every batch got its tombstone: nothing is left to resume.
    assert fold(await read_topic(settings.kafka, settings.topics.batches)).open == ()


async def test_errored_requests_end_as_error_events_with_the_api_message(
    make_settings: Any, emu: Emulator
) -> None:
    """An ``errored`` result becomes an ErrorEvent carrying the API's type and message; others complete."""
    settings = batch_settings(make_settings, emu.base_url)
    records = [
        batch_prompt("err-1", "emu:batch=errored;error=overloaded_error;message=busy_right_now"),
        batch_prompt("err-2", "emu:batch=errored"),
        batch_prompt("ok-1"),
    ]
    await produce(settings, settings.topics.prompts, records)
    async with (
        Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
        InProcessService(settings),
    ):
        await seen.until(lambda _: len(finals(seen, settings)) == 3)
    errors = {r.key: r.json() for r in seen.on(settings.topics.errors)}
    assert errors[b"err-1"]["error"] == {
        "type": "overloaded_error",
        "message": "busy_right_now",
        "code": None,
    }
    assert errors[b"err-1"]["retryable"] is True and errors[b"err-1"]["mode"] == "batch"
    assert errors[b"err-2"]["error"]["type"] == "invalid_request_error"
    assert (
        errors[b"err-2"]["error"]["message"] == "This request could not be processed (emulated batch error)."
    )
    assert errors[b"err-2"]["retryable"] is False
    assert [r.key for r in seen.on(settings.topics.completions)] == [b"ok-1"]


async def test_expired_requests_are_resubmitted_and_then_complete(make_settings: Any, emu: Emulator) -> None:
    """Requests cut off by the batch's expiry go into a new batch as attempt 2 and complete there."""
    settings = batch_settings(make_settings, emu.base_url)
    set_timing(emu, base_s=100.0, expiry_s=50.0)  # the first batch expires half-way through
    ids = [f"exp-{i}" for i in range(10)]
    await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids))
    async with (
        Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
        InProcessService(settings),
    ):
        await until(lambda: emu.stats.batches["created"] == 2, what="a second batch")
        set_timing(emu, expiry_s=86_400.0)  # the resubmission runs to its end
        await seen.until(lambda _: len(finals(seen, settings)) == len(ids))
    completions = [r.json() for r in seen.on(settings.topics.completions)]
    assert sorted(c["custom_id"] for c in completions) == ids
    attempts = {c["custom_id"]: c["attempt"] for c in completions}
    assert set(attempts.values()) == {1, 2}  # half finished before the expiry, half after resubmission
    assert emu.stats.batches["requests_submitted"] == len(ids) + list(attempts.values()).count(2)


async def test_canceled_requests_are_resubmitted_and_then_complete(make_settings: Any, emu: Emulator) -> None:
    """Requests of a batch canceled upstream are submitted again and complete in the next batch."""
    settings = batch_settings(make_settings, emu.base_url)
    set_timing(emu, base_s=300.0, cancel_s=1.0)
    ids = [f"can-{i}" for i in range(10)]
    await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids))
    client = AsyncAnthropic(base_url=emu.base_url, api_key="test")
    async with (
        Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
        InProcessService(settings),
    ):
        await until(lambda: emu.stats.batches["created"] == 1, what="the first batch")
        first = store(emu).list().data[0].id
        await client.messages.batches.cancel(first)
        await seen.until(lambda _: len(finals(seen, settings)) == len(ids))
    await client.close()
    completions = [r.json() for r in seen.on(settings.topics.completions)]
    assert sorted(c["custom_id"] for c in completions) == ids
    assert all(c["attempt"] == 2 for c in completions)
    assert emu.stats.batches["created"] == 2


async def test_requests_that_keep_expiring_end_as_attempts_exhausted(
    make_settings: Any, emu: Emulator
) -> None:
    """A request that expires in every batch ends, after MAX_ATTEMPTS, as a retryable ErrorEvent."""
    settings = batch_settings(make_settings, emu.base_url)
    settings = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"max_attempts": 2})}
    )
    set_timing(emu, base_s=50.0, expiry_s=100.0)
    await produce(settings, settings.topics.prompts, [batch_prompt("never", "emu:batch=expired")])
    async with (
        Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
        InProcessService(settings),
    ):
        await seen.until(lambda _: len(finals(seen, settings)) == 1)
    (error,) = [r.json() for r in seen.on(settings.topics.errors)]
    assert error["error"]["type"] == "attempts_exhausted" and error["retryable"] is True
    assert error["attempt"] == 2 and emu.stats.batches["created"] == 2


async def test_failed_creates_are_retried_without_losing_the_waiting_prompts(make_settings: Any) -> None:
    """529 x3 (the SDK's own retries exhausted), then 429 with retry-after: the service backs off and
    creates the batch once; every prompt gets one final event and the retry shows in the metrics."""
    config = EmulatorConfig(
        seed=3, batch_time_scale=0.003, output_tokens=8, batch_create_failures=(529,) * 3 + (429,)
    )
    async with Emulator(config) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        ids = [f"create-{i}" for i in range(20)]
        await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids))
        async with (
            Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
            InProcessService(settings) as service,
        ):
            await seen.until(lambda _: len(finals(seen, settings)) == len(ids))
            retries = service.runner.metrics.registry.get_sample_value(
                "claude_kafka_retries_total", {"reason": "batch_overloaded_error"}
            )
        by_id = finals(seen, settings)
        assert sorted(by_id) == sorted(ids) and all(len(v) == 1 for v in by_id.values())
        assert {v[0].topic for v in by_id.values()} == {settings.topics.completions}
        assert emu.stats.batches["rejected"] == 4 and emu.stats.batches["created"] == 1
        assert retries == 1  # the SDK retried twice inside the first call, and once inside the second


async def test_a_create_refused_for_the_organisation_holds_the_batch_instead_of_dead_lettering_it(
    make_settings: Any,
) -> None:
    """Two creates answered 401 (a revoked key): no ErrorEvent; the create is retried after the circuit
    backoff and every prompt completes once the key is accepted."""
    config = EmulatorConfig(seed=5, batch_time_scale=0.003, output_tokens=8, batch_create_failures=(401, 401))
    async with Emulator(config) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        settings = settings.model_copy(
            update={"pipeline": settings.pipeline.model_copy(update={"circuit_backoff_seconds": 0.2})}
        )
        ids = [f"held-{i}" for i in range(10)]
        await produce(settings, settings.topics.prompts, (batch_prompt(i) for i in ids))
        async with (
            Collector(settings, [settings.topics.completions, settings.topics.errors]) as seen,
            InProcessService(settings),
        ):
            await seen.until(lambda _: len(finals(seen, settings)) == len(ids))
        by_id = finals(seen, settings)
        assert {v[0].topic for v in by_id.values()} == {settings.topics.completions}
        assert emu.stats.batches["rejected"] == 2 and emu.stats.batches["created"] == 1
