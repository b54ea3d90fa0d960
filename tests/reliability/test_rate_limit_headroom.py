"""Two service instances, one organisation limit: reading the API's headroom headers keeps both under it.

The emulator (in this process) enforces one requests-per-window limit for every client and reports it in
``anthropic-ratelimit-requests-*``; two ``claude-kafka run`` processes of one group share it. The same
backlog is run with the headers ignored (``RATE_LIMIT_FROM_HEADERS=false``) for comparison.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.emulator import EmulatorConfig
from service.emulator.server import EmulatorThread
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import Tally, final_ids, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, by_label, metrics
from tests.services import prompt

pytestmark = pytest.mark.integration

BACKLOG = 200
LIMIT = 20  # requests per window, for the whole organisation
WINDOW_S = 1.0


@pytest.fixture
def api() -> Iterator[EmulatorThread]:
    """An emulator enforcing 20 requests a second for all its clients together."""
    config = EmulatorConfig(seed=4, ttft_ms=20.0, org_requests_limit=LIMIT, org_limit_window_s=WINDOW_S)
    with EmulatorThread(config) as emulator:
        yield emulator


async def _run(
    make_settings: Any, api: EmulatorThread, fleet_factory: Any, name: str, headers: bool
) -> Tally:
    settings = make_settings(
        kafka={"group_id": f"{name}-group"},
        topics={kind: f"{name}.{kind}" for kind in ("prompts", "deltas", "completions", "errors", "batches")},
        # No SDK retries: every request, a retried one too, passes the pipeline's rate gate.
        anthropic={"base_url": api.base_url, "max_retries": 0},
        pipeline={"max_in_flight": 16, "max_attempts": 20, "retry_backoff_seconds": 0.05,
                  "retry_backoff_max_seconds": 0.5, "rate_limit_from_headers": headers},
    )  # fmt: skip
    await create_topics(settings)
    fleet = fleet_factory(settings)
    instances = [fleet.start(f"{name}-a"), fleet.start(f"{name}-b")]
    ids = [f"{name}{i:03d}" for i in range(BACKLOG)]
    topics = settings.topics
    refused_before = api.ctx.org_limits.refused
    placed = await produce(settings, topics.prompts, [prompt(i, f"Question {i}", max_tokens=20) for i in ids])
    async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
        await collector.until(lambda r: final_ids(topics)(r) >= set(ids), within=120)
        await wait_committed(settings, last_offsets(placed))
        await collector.drain()
    result = tally(collector.records, topics, set(ids))
    refused = api.ctx.org_limits.refused - refused_before
    served = [
        sum(by_label(metrics(s), "claude_kafka_api_http_responses_total", "code").values()) for s in instances
    ]
    assert all(n > 0 for n in served), "both instances took part"
    if headers:
        remaining = [by_label(metrics(s), "claude_kafka_rate_limit_remaining", "kind") for s in instances]
        waits = [by_label(metrics(s), "claude_kafka_rate_limit_waits_total", "reason") for s in instances]
        assert all(w.get("headroom", 0) > 0 for w in waits)  # both held prompts back on the headroom
        # The gauge follows the org limit's header (the emulator's other kinds are generous constants).
        assert all(r.get("requests", 0) <= LIMIT for r in remaining)
    assert not result.lost and result.duplicates == 0 and result.completed == BACKLOG
    return result, refused


async def test_two_instances_reading_the_headroom_get_far_fewer_429s(
    make_settings: Any, api: EmulatorThread, fleet_factory: Any, results_table: list[Row], topic_prefix: str
) -> None:
    """Same backlog, same org limit: with the headers read, at most a quarter of the 429s of a run that
    ignores them; every prompt completes either way."""
    _, refused_ignored = await _run(make_settings, api, fleet_factory, f"{topic_prefix}off", headers=False)
    read, refused_read = await _run(make_settings, api, fleet_factory, f"{topic_prefix}on", headers=True)
    print(f"\n429s: {refused_ignored} with the headers ignored, {refused_read} with them read")
    assert refused_ignored > 4 * refused_read, (refused_ignored, refused_read)
    results_table.append(
        Row.of(
            "Rate-limit headroom, two instances, one org limit",
            read,
            f"{LIMIT} requests/s for both: {refused_read} 429s with the headers read, "
            f"{refused_ignored} with RATE_LIMIT_FROM_HEADERS=false",
        )
    )
