"""Process crashes: SIGKILL of service instances under load, at seeded moments, restarted each time."""

from __future__ import annotations

import json
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.kafkautil import Collector, Record, produce
from tests.reconcile import check_outputs, final_ids, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, log_lines, until
from tests.services import MODEL, EmulatorProcess, prompt

pytestmark = pytest.mark.integration

SEED = 1125


@pytest.fixture
def batch_api(tmp_path: Path) -> Iterator[str]:
    """An emulator of this test's own whose batches end within seconds (batch clock x0.01)."""
    with EmulatorProcess(tmp_path / "emulator.log", "--seed", str(SEED), "--batch-time-scale", "0.01") as emu:
        yield emu.base_url


def batch_prompt(custom_id: str) -> tuple[bytes, bytes]:
    params = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
    return custom_id.encode(), json.dumps(
        {"custom_id": custom_id, "params": params, "mode": "batch"}
    ).encode()


def revocations(service: Any) -> int:
    return sum(1 for line in log_lines(service) if line["msg"] == "partitions revoked")


@pytest.mark.timeout(300)
async def test_sigkill_at_seeded_moments_loses_nothing(
    make_settings: Any, batch_api: str, fleet_factory: Any, results_table: list[Row]
) -> None:
    """Two instances, four SIGKILLs (under load, during a rebalance, right after a batch hand-off record,
    under load again), each restarted: every prompt ends; repeats only under a higher (generation, attempt)."""
    rng = random.Random(SEED)
    settings = make_settings(
        kafka={"session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
        topics={"partitions": 4},
        anthropic={"base_url": batch_api},
        pipeline={"max_in_flight": 20, "rebalance_grace_seconds": 2.0, "shutdown_grace_seconds": 5.0},
        batch={"max_wait_seconds": 0.5, "poll_seconds": 0.1},
    )
    await create_topics(settings)
    streamed = [f"cs{i:03d}" for i in range(400)]
    batched = [f"cb{i:03d}" for i in range(120)]
    slow = {"metadata": {"user_id": "emu:slow_ms=10"}, "max_tokens": 40}
    records = [prompt(i, f"Tell me about {i}", **slow) for i in streamed]
    for n, custom_id in enumerate(batched):  # batch prompts spread through the stream
        records.insert(n * 3, batch_prompt(custom_id))
    expected = set(streamed) | set(batched)
    topics = settings.topics
    fleet = fleet_factory(settings)
    fleet.start("a")
    fleet.start("b")
    kills: list[str] = []
    placed = await produce(settings, topics.prompts, records)

    def done(records: list[Record]) -> int:
        return len(final_ids(topics)(records))

    async with Collector(
        settings, [topics.deltas, topics.completions, topics.errors, topics.batches]
    ) as seen:
        # 1. Under load, at a seeded point of progress.
        await seen.until(lambda r: done(r) >= rng.randint(30, 80), within=60)
        fleet.kill("a", signal.SIGKILL)
        kills.append("a: under load")
        fleet.start("a", wait=False)
        # 2. During the rebalance that a's return starts: b is revoking (finishing within its grace).
        b = fleet.live["b"]
        before = revocations(b)
        await until(lambda: revocations(b) > before, 60, "b revoking for a's rejoin")
        fleet.kill("b", signal.SIGKILL)
        kills.append("b: during a rebalance")
        fleet.start("b", wait=False)
        # 3. Right after a batch hand-off record is written, before its prompts' offsets commit.
        handoffs = len(seen.on(topics.batches))
        await seen.until(lambda r: sum(1 for x in r if x.topic == topics.batches) > handoffs, within=90)
        record = [x for x in seen.on(topics.batches) if x.value][-1]
        writer = record.json()["instance"]
        fleet.kill(writer, signal.SIGKILL)
        kills.append(f"{writer}: after a batch hand-off record")
        fleet.start(writer, wait=False)
        # 4. Under load again, at a seeded point of progress.
        progress = done(seen.records)
        await seen.until(lambda r: done(r) >= progress + rng.randint(20, 60), within=90)
        victim = rng.choice(sorted(fleet.live))
        fleet.kill(victim, signal.SIGKILL)
        kills.append(f"{victim}: under load")
        fleet.start(victim, wait=False)

        await seen.until(lambda r: final_ids(topics)(r) >= expected, within=150)
        await wait_committed(settings, last_offsets(placed), within=60)
        await seen.drain()
    stream_ids = set(streamed)
    outputs = [r for r in seen.records if r.topic != topics.batches]
    check_outputs([r for r in outputs if (r.key or b"").decode() in stream_ids], topics, stream_ids)
    result = tally(outputs, topics, expected)
    assert not result.lost and not result.unexpected
    assert result.completed == len(expected), result.errored
    assert result.same_version_repeats == 0, "a repeat must carry a higher (generation, attempt)"
    assert len(kills) == 4
    assert len({d["generation"] for d in result.last.values()}) >= 2
    print(f"kills: {kills}; duplicates: {result.duplicates}")
    results_table.append(Row.of("Process crash: 4 x SIGKILL of 2 instances (stream + batch)", result, ""))
