"""Organisation-wide failures with 200 prompts queued: the circuit breaker holds the backlog instead of
dead-lettering it, and everything completes once the API serves the organisation again.

The emulator runs in this process (``EmulatorThread``) so the test can switch its outage on and off
(``service/emulator/outage.py``) and count what it answered; the service is a child process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.emulator import EmulatorConfig
from service.emulator.errors import ApiError
from service.emulator.outage import outage_error
from service.emulator.server import EmulatorThread
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import Tally, final_ids, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, by_label, metrics, until
from tests.services import ServiceProcess, prompt

pytestmark = pytest.mark.integration

MESSAGES = "/v1/messages"
BACKLOG = 200
FLIP_AFTER = 20  # completions before the outage starts: the run is under way, streams are in flight
HANDFUL = 5


@pytest.fixture
def api() -> Iterator[EmulatorThread]:
    """A paced emulator (300 ms to the first token), so the backlog is still queued when the outage hits."""
    with EmulatorThread(EmulatorConfig(seed=16, ttft_ms=300.0)) as emulator:
        yield emulator


def _settings(make_settings: Any, api: EmulatorThread, name: str, **pipeline: Any) -> Any:
    topics = {kind: f"{name}.{kind}" for kind in ("prompts", "deltas", "completions", "errors", "batches")}
    return make_settings(
        kafka={"group_id": f"{name}-group"},
        topics=topics,
        anthropic={"base_url": api.base_url, "max_retries": 1},
        pipeline={"max_in_flight": 16, "max_attempts": 3, "retry_backoff_seconds": 0.05,
                  "retry_backoff_max_seconds": 0.2, "circuit_backoff_seconds": 0.3,
                  "circuit_backoff_max_seconds": 1.0, **pipeline},
    )  # fmt: skip


def _open_reason(service: ServiceProcess) -> str | None:
    status, body = service.get("/readyz")
    return body if status == 503 and "circuit open" in body else None


async def _run(
    settings: Any, api: EmulatorThread, fleet_factory: Any, name: str, error: ApiError, reason: str | None
) -> Tally:
    """200 prompts; after ``FLIP_AFTER`` complete the API answers ``error`` to everything. With a
    breaker (``reason`` given): hold the outage until the circuit is open and probes have failed; without
    one: until every prompt has its final event. Then the API recovers; return the reconciliation."""
    await create_topics(settings)
    ids = [f"{name}{i:03d}" for i in range(BACKLOG)]
    topics = settings.topics
    service = fleet_factory(settings).start(name)
    placed = await produce(settings, topics.prompts, [prompt(i, f"Question {i}", max_tokens=30) for i in ids])
    async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
        await collector.until(
            lambda r: sum(1 for x in r if x.topic == topics.completions) >= FLIP_AFTER, within=60
        )
        api.ctx.outage.set(error)
        try:
            if reason is not None:
                await collector.until(lambda r: _open_reason(service) is not None, within=30)
                assert f"circuit open: {reason}" in (_open_reason(service) or "")
                samples = metrics(service)
                assert by_label(samples, "claude_kafka_circuit_open", "reason") == {reason: 1.0}
                refused = api.stats.count(route=MESSAGES, status=error.status)
                # Two more refusals after it opened: at least one probe failed and the circuit stayed open.
                await collector.until(
                    lambda r: api.stats.count(route=MESSAGES, status=error.status) >= refused + 2, within=30
                )
                assert _open_reason(service) is not None
            else:
                await collector.until(lambda r: final_ids(topics)(r) >= set(ids), within=90)
        finally:
            api.ctx.outage.clear()
        await collector.until(lambda r: final_ids(topics)(r) >= set(ids), within=120)
        await wait_committed(settings, last_offsets(placed))
        await collector.drain()
    if reason is not None:
        await _closed_again(service)
    result = tally(collector.records, topics, set(ids))
    assert not result.lost and result.duplicates == 0 and result.same_version_repeats == 0
    return result


async def _closed_again(service: ServiceProcess) -> None:
    """The circuit closed again: /readyz is 200 and the gauge is 0 for every reason."""
    await until(lambda: service.get("/readyz")[0] == 200, within=30, what="/readyz 200 after recovery")
    assert by_label(metrics(service), "claude_kafka_circuit_open", "reason") == {}


async def test_a_key_revoked_mid_run_errors_a_handful_and_completes_the_rest(
    make_settings: Any, api: EmulatorThread, fleet_factory: Any, results_table: list[Row], topic_prefix: str
) -> None:
    """401 for every request mid-run: at most a handful of ErrorEvents with the breaker (hundreds without
    it); once the key is accepted again every other prompt completes; nothing lost."""
    revoked = outage_error(401, type="authentication_error", message="invalid x-api-key")
    without = await _run(
        _settings(make_settings, api, f"{topic_prefix}off", circuit_breaker=False),
        api, fleet_factory, "off", revoked, None,
    )  # fmt: skip
    result = await _run(
        _settings(make_settings, api, f"{topic_prefix}on"),
        api,
        fleet_factory,
        "on",
        revoked,
        "authentication",
    )
    assert 1 <= result.errored_total <= HANDFUL
    assert set(result.errored) == {"authentication_error"}
    assert result.completed == BACKLOG - result.errored_total
    assert without.errored_total > 10 * result.errored_total  # what the breaker saves the operator
    results_table.append(
        Row.of(
            "Key revoked mid-run (401), circuit breaker",
            result,
            f"backlog error events: {result.errored_total} with the breaker, "
            f"{without.errored_total} without (CIRCUIT_BREAKER=false)",
        )
    )


@pytest.mark.parametrize(
    ("scenario", "error", "reason", "error_type"),
    [
        (
            "Spend limit reached (429 enforced_spend_limit_reached), circuit breaker",
            outage_error(429, error_code="enforced_spend_limit_reached", should_retry=False),
            "spend_limit",
            "rate_limit_error",
        ),
        ("529 storm with circuit breaker", outage_error(529), "overloaded", None),
    ],
    ids=["spend-limit", "529-storm"],
)
async def test_an_organisation_outage_holds_the_backlog_until_it_ends(
    make_settings: Any,
    api: EmulatorThread,
    fleet_factory: Any,
    results_table: list[Row],
    topic_prefix: str,
    scenario: str,
    error: ApiError,
    reason: str,
    error_type: str | None,
) -> None:
    """A spend limit (only the tripping prompt reports it) or a 529 storm (retryable: nobody does):
    the circuit opens, probes fail, and after recovery every other prompt completes."""
    result = await _run(_settings(make_settings, api, topic_prefix), api, fleet_factory, "org", error, reason)
    assert result.errored_total <= (HANDFUL if error_type else 0)
    assert set(result.errored) <= ({error_type} if error_type else set())
    assert result.completed == BACKLOG - result.errored_total
    results_table.append(Row.of(scenario, result, f"circuit opened as `{reason}`, closed after recovery"))
