"""Broker trouble: a broker frozen mid-run, and a broker that is not there when the service starts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.devbroker import EmbeddedBroker
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import final_ids, finals, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, log_lines, until
from tests.services import prompt

pytestmark = pytest.mark.integration

FREEZE_SECONDS = 15.0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (never the session one): it is frozen or started late here."""
    broker = EmbeddedBroker()
    yield broker
    broker.stop(timeout=2.0)


async def test_frozen_broker_loses_nothing_and_the_service_recovers_by_itself(
    make_settings: Any,
    emulator_url: str,
    fleet_factory: Any,
    own_broker: EmbeddedBroker,
    tmp_path: Path,
    results_table: list[Row],
) -> None:
    """SIGSTOP of the broker for 15 s mid-run: readiness drops, the process stays up, every prompt ends."""  # fmt: skip
    own_broker.start()
    settings = make_settings(
        kafka={"bootstrap_servers": own_broker.bootstrap, "enable_idempotence": False},
        anthropic={"base_url": emulator_url},
        pipeline={"max_in_flight": 40},
    )
    await create_topics(settings)
    ids = [f"frz{i:03d}" for i in range(300)]
    records = [prompt(i, max_tokens=30, metadata={"user_id": "emu:slow_ms=10"}) for i in ids]
    topics = settings.topics
    fleet = fleet_factory(settings)
    service = fleet.start("frozen")
    placed = await produce(settings, topics.prompts, records)
    async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
        await collector.until(lambda r: len(finals(r, topics)) >= 40, within=60)
        own_broker.pause()
        frozen_at = time.monotonic()
        try:
            # The service notices by itself: /readyz says not ready while /healthz keeps answering.
            await until(
                lambda: service.get("/readyz")[0] == 503, FREEZE_SECONDS, "readiness false while frozen"
            )
            assert service.get("/healthz")[0] == 200
            await until(lambda: time.monotonic() - frozen_at >= FREEZE_SECONDS, FREEZE_SECONDS + 1, "freeze")
            assert service.process is not None and service.process.poll() is None
        finally:
            own_broker.resume()
        await collector.until(lambda r: final_ids(topics)(r) >= set(ids), within=90)
        await until(lambda: service.get("/readyz")[0] == 200, 60, "ready again after the freeze")
        await wait_committed(settings, last_offsets(placed), within=60)
        await collector.drain()
    result = tally(collector.records, topics, set(ids))
    assert not result.lost and not result.unexpected and result.same_version_repeats == 0
    assert result.completed == len(ids)
    assert service.process is not None and service.process.poll() is None
    assert "Traceback" not in service.log()
    results_table.append(Row.of("Broker frozen (SIGSTOP) 15 s", result))


async def test_broker_down_at_start_up_retries_then_proceeds(
    make_settings: Any,
    emulator_url: str,
    fleet_factory: Any,
    own_broker: EmbeddedBroker,
    tmp_path: Path,
    results_table: list[Row],
) -> None:
    """No broker at start: the process stays up not ready, logs its retries, and proceeds once one starts."""  # fmt: skip
    port = own_broker.port  # picked free now; the broker starts on it later
    settings = make_settings(
        kafka={"bootstrap_servers": f"127.0.0.1:{port}", "enable_idempotence": False},
        anthropic={"base_url": emulator_url},
    )
    fleet = fleet_factory(settings)
    service = fleet.start("early", wait=False)

    def retries() -> list[dict[str, Any]]:
        return [line for line in log_lines(service) if line["msg"] == "kafka not reachable, retrying"]

    await until(lambda: len(retries()) >= 3, 30, "three logged start-up retries")
    assert service.process is not None and service.process.poll() is None, service.log()[-2000:]
    assert service.get("/healthz")[0] == 200
    assert service.get("/readyz")[0] == 503
    first = retries()[0]
    assert (
        first["bootstrap_servers"] == f"127.0.0.1:{port}"
        and first["reason"]
        and first["retry_in_seconds"] > 0
    )

    own_broker.start()
    await create_topics(settings)
    ids = [f"late{i:02d}" for i in range(20)]
    placed = await produce(settings, settings.topics.prompts, [prompt(i) for i in ids])
    topics = settings.topics
    async with Collector(settings, [topics.completions, topics.errors]) as collector:
        await collector.until(lambda r: final_ids(topics)(r) >= set(ids), within=60)
        await wait_committed(settings, last_offsets(placed))
    await until(lambda: service.get("/readyz")[0] == 200, 30, "ready once the broker is up")
    lines = log_lines(service)
    assert [line["msg"] for line in lines].count("starting") == 1, "the process must not have restarted"
    assert any(line["msg"] == "kafka reachable" for line in lines)
    assert "Traceback" not in service.log()
    result = tally(collector.records, topics, set(ids))
    assert result.completed == len(ids) and not result.lost
    results_table.append(Row.of("Broker down at start-up", result))
