"""Observability end to end: /metrics agrees with the published events, readiness follows the broker,
the API key leaks nowhere, back-pressure shows in the gauges. Real broker, emulator and service processes.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.devbroker import EmbeddedBroker
from service.kafka.topics import admin_client, create_topics, topic_specs
from tests.integration.callback_helpers import CallbacksProcess
from tests.kafkautil import Collector, Record, produce
from tests.ports import free_port
from tests.services import ServiceProcess, prompt
from tests.waiting import until_sync

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(service: ServiceProcess) -> Samples:
    status, text = service.get("/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **match: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``match``."""
    want = set(match.items())
    return sum(v for (n, labels), v in samples.items() if n == name and want <= labels)


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: Counter[str] = Counter()
    for (n, labels), value in samples.items():
        if n == name and value:
            out[dict(labels)[label]] += value  # type: ignore[assignment]
    return dict(out)


def lag_reported_and_zero(samples: Samples) -> bool:
    """The lag gauge (refreshed on a timer) has series, and every one is zero."""
    lags = [v for (n, _), v in samples.items() if n == "claude_kafka_consumer_lag_records"]
    return bool(lags) and not any(lags)


def openmetrics(service: ServiceProcess) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{service.metrics_port}/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        return str(response.read().decode())


def finals(records: list[Record], topics: Any) -> list[Record]:
    return [r for r in records if r.topic in (topics.completions, topics.errors)]


def fault(custom_id: str, directive: str, **params: Any) -> tuple[bytes, bytes]:
    return prompt(custom_id, "fault", metadata={"user_id": directive}, max_tokens=60, **params)


async def test_metrics_agree_with_the_published_events(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Tokens, finished prompts, deltas, SSE events, errors by type, retries and lag match the topics."""
    settings = make_settings(
        topics={"partitions": 2},
        anthropic={"base_url": emulator_url, "max_retries": 0},
        pipeline={"max_attempts": 2, "retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.05},
    )
    await create_topics(settings)
    topics = settings.topics
    records = [prompt(f"ok{i}", f"Question {i}", max_tokens=80) for i in range(12)]
    records += [
        fault("drop1", "emu:drop_after=6;times=1;key=drop1"),  # a broken attempt, then a completion
        fault("bad400", "emu:status=400;error=invalid_request_error"),
        fault("tired", "emu:status=529"),  # attempts_exhausted after 2 attempts
        (b"junk", b"{not json"),  # rejected at intake
    ]
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        await produce(settings, topics.prompts, records)
        async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: len(finals(r, topics)) >= len(records), within=30)
            until_sync(
                lambda: total(scrape(service), "claude_kafka_prompts_finished_total") >= len(records),
                10,
                "prompts finished counter",
                every=0.1,
            )
            until_sync(
                lambda: lag_reported_and_zero(scrape(service)), 15, "consumer lag reported, zero", every=0.1
            )
            await collector.drain()
            metrics = scrape(service)
    completions = [r.json() for r in collector.on(topics.completions)]
    errors = [r.json() for r in collector.on(topics.errors)]
    deltas = collector.on(topics.deltas)
    assert len(completions) == 13 and len(errors) == 3

    for kind in ("input", "output"):
        assert total(metrics, "claude_kafka_tokens_total", type=kind) == sum(
            c["message"]["usage"][f"{kind}_tokens"] for c in completions
        )
    assert total(metrics, "claude_kafka_cost_usd_total") == pytest.approx(
        sum(c["cost_usd"] for c in completions)
    )
    assert total(metrics, "claude_kafka_prompts_received_total") == len(records)
    assert total(metrics, "claude_kafka_prompts_finished_total") == len(completions) + len(errors)
    assert total(metrics, "claude_kafka_prompts_finished_total", outcome="completed") == len(completions)
    assert total(metrics, "claude_kafka_prompts_finished_total", outcome="errored") == len(errors)
    assert by_label(metrics, "claude_kafka_error_events_total", "type") == dict(
        Counter(e["error"]["type"] for e in errors)
    )
    assert total(metrics, "claude_kafka_delta_events_total") == len(deltas)
    assert total(metrics, "claude_kafka_sse_events_total") == len(deltas)  # no coalescing: one each
    assert by_label(metrics, "claude_kafka_sse_events_total", "type") == dict(
        Counter(json.loads(r.value or b"")["event"]["type"] for r in deltas)
    )
    assert by_label(metrics, "claude_kafka_messages_produced_total", "topic") == {
        topics.deltas: len(deltas), topics.completions: len(completions), topics.errors: len(errors),
    }  # fmt: skip
    assert total(metrics, "claude_kafka_messages_consumed_total") == len(records)
    attempted = [*completions, *(e for e in errors if e["error"]["type"] != "invalid_json")]
    assert total(metrics, "claude_kafka_attempts_total") == sum(d["attempt"] for d in attempted)
    assert total(metrics, "claude_kafka_retries_total") == sum(d["attempt"] - 1 for d in attempted)
    assert total(metrics, "claude_kafka_api_requests_total", outcome="ok") == len(completions)
    assert total(metrics, "claude_kafka_time_to_first_token_seconds_count") == len(completions)
    assert total(metrics, "claude_kafka_queue_wait_seconds_count") == len(attempted)
    assert total(metrics, "claude_kafka_in_flight_prompts") == 0
    assert total(metrics, "claude_kafka_ready") == 1


async def test_readyz_turns_503_while_the_broker_is_frozen(make_settings: Any, tmp_path: Path) -> None:
    """SIGSTOP on the broker: /readyz 503 with a reason, 200 again after SIGCONT; /healthz 200 throughout.
    The same for `claude-kafka run` and for the callback dispatcher (`claude-kafka callbacks`)."""
    with EmbeddedBroker(port=free_port()) as broker:
        settings = make_settings(
            kafka={"bootstrap_servers": broker.bootstrap},
            callbacks={"signing_secret": "whsec-test-signing", "allowed_hosts": ("hooks.example",)},
        )
        await create_topics(settings)
        with (
            ServiceProcess(settings, tmp_path / "service.log") as service,
            CallbacksProcess(settings, tmp_path / "callbacks.log") as dispatcher,
        ):
            processes = (service, dispatcher)
            for process in processes:
                process.wait_ready()
            seen: list[tuple[int, str]] = []

            def readyz_is(status: int) -> bool:
                for process in processes:
                    assert process.get("/healthz")[0] == 200
                    seen.append(process.get("/readyz"))
                    if seen[-1][0] != status:
                        return False
                return True

            broker.pause()
            try:
                until_sync(lambda: readyz_is(503), 10, "readyz 503 with the broker frozen", every=0.1)
                assert all("cannot reach the cluster" in json.loads(b)["reason"] for _, b in seen[-2:])
                assert all(p.get("/metrics")[0] == 200 for p in processes)
            finally:
                broker.resume()
            until_sync(lambda: readyz_is(200), 30, "readyz 200 after the broker is back", every=0.1)
            assert all("claude_kafka_ready 1.0" in p.get("/metrics")[1] for p in processes)


async def test_readyz_names_a_missing_topic_until_it_is_created(make_settings: Any, tmp_path: Path) -> None:
    """Without the errors topic /readyz is 503 naming it; once `topics create` runs it turns 200."""
    settings = make_settings()
    admin = admin_client(settings)
    await admin.start()
    try:
        await admin.create_topics([s for s in topic_specs(settings) if s.name != settings.topics.errors])
    finally:
        await admin.close()
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        reason = f"topic {settings.topics.errors} does not exist"

        def readyz_reason() -> str | None:
            try:
                status, body = service.get("/readyz")
            except OSError:
                return None
            return json.loads(body)["reason"] if status == 503 else "ok"

        until_sync(
            lambda: (readyz_reason() or "").startswith(reason), 30, "readyz naming the topic", every=0.1
        )
        assert "claude-kafka topics create" in (readyz_reason() or "")
        await create_topics(settings)
        service.wait_ready(within=30)


async def test_api_key_never_appears_in_logs_metrics_or_events(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """A recognisable key, a 401 from the API and DEBUG logs: the key is in no log line, metric or record."""
    canary = f"sk-ant-api03-CANARY-{uuid.uuid4().hex}"
    settings = make_settings(anthropic={"base_url": emulator_url, "api_key": canary, "max_retries": 0})
    await create_topics(settings)
    topics = settings.topics
    records = [
        prompt("fine", "Hello"),
        fault("denied", "emu:status=401;error=authentication_error;message=invalid_x-api-key"),
        (b"junk", b"{not json"),
    ]
    with ServiceProcess(settings, tmp_path / "service.log", LOG_LEVEL="DEBUG") as service:
        service.wait_ready()
        await produce(settings, topics.prompts, records)
        async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: len(finals(r, topics)) >= len(records), within=30)
            await collector.drain()
        exposed = service.get("/metrics")[1] + openmetrics(service)
        exposed += service.get("/readyz")[1] + service.get("/healthz")[1]
    log = service.log()
    denied = next(r.json() for r in collector.on(topics.errors) if r.key == b"denied")
    assert denied["error"]["type"] == "authentication_error"
    assert '"custom_id": "denied"' in log, "the refused request is logged with its bound fields"
    everything = [log, exposed] + [
        repr((r.key, r.value, sorted(r.headers.items()))) for r in collector.records
    ]
    for where, text in zip(
        ["log", "metrics", *(["record"] * len(collector.records))], everything, strict=True
    ):
        assert canary not in text and "CANARY" not in text, f"the API key leaked into a {where}"


async def test_back_pressure_caps_in_flight_and_pauses_while_ready(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """MAX_IN_FLIGHT=5 and slow streams: in-flight never above 5, partitions paused, /readyz stays 200."""
    settings = make_settings(
        topics={"partitions": 2}, anthropic={"base_url": emulator_url}, pipeline={"max_in_flight": 5}
    )
    await create_topics(settings)
    topics = settings.topics
    records = [fault(f"slow{i}", "emu:ttft_ms=600") for i in range(20)]
    in_flight: list[float] = []
    paused: list[float] = []
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        await produce(settings, topics.prompts, records)

        def all_finished() -> bool:
            metrics = scrape(service)
            in_flight.append(total(metrics, "claude_kafka_in_flight_prompts"))
            paused.append(total(metrics, "claude_kafka_paused_partitions"))
            assert service.get("/readyz")[0] == 200, "the group must stay joined while paused"
            return total(metrics, "claude_kafka_prompts_finished_total") >= len(records)

        until_sync(all_finished, 30, "all slow prompts finished", every=0.1)
        assert total(scrape(service), "claude_kafka_max_in_flight_prompts") == 5
    assert max(in_flight) == 5
    assert max(paused) > 0
