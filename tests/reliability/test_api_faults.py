"""API faults at rates: every prompt ends completed or as an ErrorEvent that says why; retry metrics match.

The emulator runs in this process (``EmulatorThread``) so its request counters can be read back and
reconciled with the service's ``/metrics`` and with the events; the service is a child process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from service.emulator import EmulatorConfig
from service.emulator.config import FaultRates
from service.emulator.server import EmulatorThread
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import check_outputs, final_ids, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, by_label, metrics
from tests.services import prompt

pytestmark = pytest.mark.integration

MESSAGES = "/v1/messages"
RATES = FaultRates(status_529=0.10, status_429=0.05, drop=0.05, sse_error=0.02, slow_first_token=0.05)
MAX_ATTEMPTS = 5  # five broken streams in a row at ~7% each: never, so only forced prompts exhaust


@pytest.fixture
def faulty_api() -> Iterator[EmulatorThread]:
    """The emulator with the issue's fault rates, seeded (429s carry retry-after: 0.2 s)."""
    config = EmulatorConfig(seed=1125, faults=RATES, slow_first_token_ms=300.0, rate_limit_retry_after_s=0.2)
    with EmulatorThread(config) as emulator:
        yield emulator


async def test_api_faults_at_rates_end_every_prompt_with_a_reason(
    make_settings: Any, faulty_api: EmulatorThread, fleet_factory: Any, results_table: list[Row]
) -> None:
    """529/429/drops/SSE errors/slow starts at rates: all prompts end; metrics reconcile with the
    emulator's counts and with the attempts the events carry."""
    settings = make_settings(
        anthropic={"base_url": faulty_api.base_url, "max_retries": 2},
        pipeline={"max_in_flight": 64, "max_attempts": MAX_ATTEMPTS, "retry_backoff_seconds": 0.05,
                  "retry_backoff_max_seconds": 0.5, "circuit_backoff_max_seconds": 2.0},
    )  # fmt: skip
    await create_topics(settings)
    ids = [f"api{i:03d}" for i in range(400)]
    records = [prompt(i, f"Question {i}", max_tokens=40) for i in ids]
    # Directives win over rates: these end as errors whatever the draws, one of each documented kind.
    overloaded = [f"over{i}" for i in range(3)]
    refused = [f"bad{i}" for i in range(3)]
    records += [prompt(i, metadata={"user_id": "emu:status=529"}) for i in overloaded]
    records += [
        prompt(i, metadata={"user_id": "emu:status=400;error=invalid_request_error"}) for i in refused
    ]
    expected = set(ids) | set(overloaded) | set(refused)
    topics = settings.topics
    fleet = fleet_factory(settings)
    service = fleet.start("faults")
    placed = await produce(settings, topics.prompts, records)
    async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
        await collector.until(lambda r: final_ids(topics)(r) >= expected, within=110)
        await wait_committed(settings, last_offsets(placed))
        await collector.drain()
    last = check_outputs(collector.records, topics, expected)  # deltas add up to each completion
    result = tally(collector.records, topics, expected)
    assert not result.lost and result.duplicates == 0
    assert {i for i, d in last.items() if d["_topic"] == topics.completions} == set(ids)
    for custom_id in overloaded:
        error = last[custom_id]
        assert error["error"]["type"] == "attempts_exhausted" and error["retryable"] is True
        # The tail of the run is these three alone, all 529: the overload circuit may open and hold
        # attempts (each a ``circuit_open`` repeat); its failed probes count, so they still end.
        assert error["attempt"] >= MAX_ATTEMPTS and "overloaded_error" in error["error"]["message"]
        assert error["error"]["message"].startswith(f"{MAX_ATTEMPTS} attempts failed")
    for custom_id in refused:
        error = last[custom_id]
        assert error["error"]["type"] == "invalid_request_error" and error["retryable"] is False
        assert error["attempt"] == 1

    samples = metrics(service)
    stats = faulty_api.stats
    # HTTP layer, SDK retries included: the service saw exactly the statuses the emulator sent.
    http = by_label(samples, "claude_kafka_api_http_responses_total", "code")
    sent = Counter(
        {str(s): n for (m, route, s), n in stats.requests.items() if route == MESSAGES and m == "POST"}
    )
    assert Counter({k: int(v) for k, v in http.items()}) == +sent
    assert sent["529"] and sent["429"], "the rates must have fired"
    # Every 429 carried retry-after, and each one paused the whole process (the shared gate).
    waits = by_label(samples, "claude_kafka_rate_limit_waits_total", "reason")
    assert waits.get("server") == sent["429"]
    # Pipeline attempts: each repeat is counted once, by the reason, and shows in the events' attempts.
    retries = by_label(samples, "claude_kafka_retries_total", "reason")
    assert "kafka" not in retries
    assert sum(retries.values()) == sum(d["attempt"] - 1 for d in last.values())
    faults = stats.faults
    assert faults["drop"] and faults["sse_error"]
    assert retries.get("stream_interrupted", 0) + retries.get("stream_incomplete", 0) == faults["drop"]
    assert retries.get("overloaded_error", 0) >= faults["sse_error"] + len(overloaded) * (MAX_ATTEMPTS - 1)
    results_table.append(
        Row.of("API faults at rates (529 10%, 429 5%, drop 5%, SSE error 2%, slow 5%)", result,
               "forced: 3 attempts_exhausted, 3 invalid_request_error")
    )  # fmt: skip
