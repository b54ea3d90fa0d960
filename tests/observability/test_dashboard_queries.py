"""A real Prometheus scrapes `claude-kafka run` and `claude-kafka callbacks` under load (streamed, batch
and callback prompts, some failing), and every Grafana panel query returns data through its HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.agents.tools import TOOL_SPECS
from service.agents.worker import ToolWorker
from service.kafka.topics import create_topics
from service.settings import Settings
from tests.deploy import files
from tests.integration.callback_helpers import SECRET, CallbacksProcess, Receiver, prompt_with_callback
from tests.kafkautil import produce
from tests.observability.dashboard import Target, label_variables, targets
from tests.observability.prometheus import PrometheusProcess, with_values
from tests.services import EmulatorProcess, ServiceProcess, prompt
from tests.waiting import until

pytestmark = pytest.mark.integration

# Targets whose series only a fault outside this test's load creates, and why. Asserted to be exactly
# the targets that returned nothing, so the list cannot go stale in either direction.
# (Kafka errors by operation, once listed here, are exported at 0 from start-up and now chart as 0.)
ALLOWED_EMPTY: dict[str, str] = {}
STREAMED = 40
CALLBACKS_DELIVERED = 7  # per wave: five /ok/ and two /flaky/ receivers


def fault(custom_id: str, directive: str) -> tuple[bytes, bytes]:
    return prompt(custom_id, "fault", metadata={"user_id": directive})


def with_tenant(record: tuple[bytes, bytes], tenant: str) -> tuple[bytes, bytes]:
    key, value = record
    return key, json.dumps({**json.loads(value), "attributes": {"tenant": tenant}}).encode()


def cached(custom_id: str, ttl: str) -> tuple[bytes, bytes]:
    """A prompt whose long system prompt is a cache breakpoint: a write, then reads on later waves."""
    text = f"{ttl}: the reference manual, long enough to be cached. " * 120
    system = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]
    return prompt(custom_id, "Summarise it", system=system, max_tokens=60)


def batch(custom_id: str) -> tuple[bytes, bytes]:
    key, value = prompt(custom_id, "Hi", max_tokens=16)
    return key, json.dumps({**json.loads(value), "mode": "batch"}).encode()


def load(receiver: Receiver, wave: int) -> list[tuple[bytes, bytes]]:
    """One wave: streamed prompts, API faults, a record that is not JSON, batch prompts and callbacks."""
    w = f"w{wave}-"
    records = [with_tenant(prompt(f"{w}ok{i}", f"Question {i}"), f"t{i % 3}") for i in range(STREAMED)]
    # Usage the stop-reason, cache and server-tool panels chart: a refusal, cache writes, a web search.
    records += [fault(f"{w}refused", "emu:refusal=cyber"), cached(f"{w}c5m", "5m"), cached(f"{w}c1h", "1h")]
    tools = [{"type": "web_search_20250305", "name": "web_search"}]
    records += [prompt(f"{w}search", "Please web_search the news", tools=tools, max_tokens=1000)]
    records += [fault(f"{w}bad{i}", "emu:status=400;error=invalid_request_error") for i in range(4)]
    # One 529 each, then a normal answer: a retry by the pipeline (the SDK does not retry here).
    records += [fault(f"{w}busy{i}", f"emu:status=529;times=1;key={w}busy{i}") for i in range(2)]
    # A 429 with retry-after holds every request for a second: a server rate-limit wait.
    records += [fault(f"{w}limited", f"emu:status=429;retry_after=1;times=1;key={w}limited")]
    records += [(f"{w}junk".encode(), b"{not json")]
    records += [batch(f"{w}batch{i}") for i in range(3)]
    records += [prompt_with_callback(f"{w}cb{i}", receiver.url(f"/ok/{w}cb{i}")) for i in range(5)]
    records += [prompt_with_callback(f"{w}flaky{i}", receiver.url(f"/flaky/{w}flaky{i}")) for i in range(2)]
    records += [prompt_with_callback(f"{w}refused", "https://hooks.not-listed.example/h")]
    # A tool loop (the test's tool worker answers its calculator call) and a session prompt.
    key, value = prompt(
        f"{w}loop", "Use the calculator tool.", tools=[TOOL_SPECS["calculator"]],
        metadata={"user_id": "emu:tool_rounds=1"}, max_tokens=200,
    )  # fmt: skip
    records += [(key, json.dumps({**json.loads(value), "loop": {"tool_timeout_seconds": 30}}).encode())]
    key, value = prompt(f"{w}chat", f"Session turn {wave}")
    records += [(b"chat", json.dumps({**json.loads(value), "session": {"id": "chat"}}).encode())]
    return records


@pytest.fixture
def settings(make_settings: Any, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh topic set, pointed at an emulator whose batches end in about three seconds."""
    with EmulatorProcess(tmp_path / "emulator.log", "--seed", "7", "--batch-time-scale", "0.01") as emulator:
        yield make_settings(
            anthropic={"base_url": emulator.base_url, "max_retries": 0},
            pipeline={"max_attempts": 2, "retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.05},
            observability={"metrics_tenant_labels": "tenant"},  # the spend-by-tenant panel's label
            batch={"max_wait_seconds": 0.5, "poll_seconds": 0.05},
            callbacks={
                "allowed_hosts": "127.0.0.1",
                "allow_http": True,
                "allow_private": True,
                "signing_secret": SECRET,
                "group_id": f"{make_settings().kafka.group_id}-callbacks",
                "max_attempts": 3,
                "backoff_seconds": 0.05,
            },
        )


def series_count(prometheus: PrometheusProcess, target: Target, since: float) -> int:
    """Series with a number: at now for an instant target, over the test so far for a range one."""
    if target.instant:
        return len(with_values(prometheus.query(target.expr)))
    return len(with_values(prometheus.query_range(target.expr, since, time.time())))


def scraped_total(prometheus: PrometheusProcess, expr: str) -> float:
    return sum(float(series["value"][1]) for series in prometheus.query(expr))


async def first_wave_scraped(prometheus: PrometheusProcess, prompts: int) -> None:
    """Prometheus has seen the first wave finish, so the second one moves series it already knows.

    A labelled series is exported from its first observation on, and rate() cannot count the
    observations a series was born with: a single burst would leave histograms such as queue wait at
    NaN (Grafana: no data), while steady traffic, which the second wave stands for, shows.
    """

    def done() -> bool:
        finished = scraped_total(prometheus, "sum(claude_kafka_prompts_finished_total)")
        delivered = scraped_total(prometheus, "sum(claude_kafka_callback_deliveries_total)")
        return finished >= prompts and delivered >= CALLBACKS_DELIVERED

    await until(
        lambda: asyncio.to_thread(done), within=60, what="the first wave finished and scraped", every=0.5
    )


@pytest.mark.timeout(300)
async def test_every_dashboard_panel_query_returns_data_from_a_real_prometheus(
    settings: Settings, tmp_path: Path
) -> None:
    """Under load, each panel target returns series through /api/v1/query (stat, table) or
    /api/v1/query_range (time series); only the allow-listed ones stay empty, and every rule loads."""
    await create_topics(settings)
    started = time.time()
    async with Receiver() as receiver:
        with (
            ServiceProcess(settings, tmp_path / "service.log") as service,
            CallbacksProcess(settings, tmp_path / "callbacks.log") as dispatcher,
        ):
            # Generous: joining two consumer groups on a shared, busy machine.
            await asyncio.gather(
                asyncio.to_thread(service.wait_ready, 90), asyncio.to_thread(dispatcher.wait_ready, 90)
            )
            jobs = {
                "claude-kafka": [f"127.0.0.1:{service.metrics_port}"],
                "claude-kafka-callbacks": [f"127.0.0.1:{dispatcher.metrics_port}"],
            }
            worker = ToolWorker(settings, f"{settings.kafka.group_id}.tools", TOOL_SPECS)
            worker_task = asyncio.create_task(worker.run())
            try:
                with PrometheusProcess(tmp_path / "prometheus", jobs, [files.ALERTS]) as prometheus:
                    await until(prometheus.ready, within=60, what="prometheus /-/ready", every=0.1)
                    await until(prometheus.targets_up, within=30, what="both scrape targets up")
                    first = load(receiver, 1)
                    await produce(settings, settings.topics.prompts, first)
                    await first_wave_scraped(prometheus, len(first))
                    await produce(settings, settings.topics.prompts, load(receiver, 2))

                    found: dict[str, int] = {}  # the most series each target has returned
                    wanted = [t for t in targets() if t.name not in ALLOWED_EMPTY]

                    def all_found() -> bool:
                        for target in wanted:
                            found[target.name] = max(
                                found.get(target.name, 0), series_count(prometheus, target, started)
                            )
                        return all(found.values())

                    try:
                        # In a thread: the callback receiver answers on this loop meanwhile.
                        await until(
                            lambda: asyncio.to_thread(all_found),
                            within=90,
                            what="data for every panel target",
                            every=1.0,
                        )
                    finally:
                        report(found)
                    # Still empty: an allow-listed target that returns data must leave the list.
                    allowed = [t for t in targets() if t.name in ALLOWED_EMPTY]
                    assert {t.name for t in allowed} == ALLOWED_EMPTY.keys(), (
                        "allow-list names no panel target"
                    )
                    assert {t.name: series_count(prometheus, t, started) for t in allowed} == dict.fromkeys(
                        ALLOWED_EMPTY, 0
                    )
                    for variable, (metric, label) in label_variables().items():
                        values = prometheus.api(f"label/{label}/values", **{"match[]": metric})
                        assert values, f"template variable {variable} has no values"
                    rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
                    assert {r["name"] for r in rules} == {r["alert"] for r in files.alert_rules()}
                    assert all(r["health"] == "ok" for r in rules), [
                        (r["name"], r.get("lastError")) for r in rules
                    ]
            finally:
                worker.request_stop()
                await asyncio.wait_for(worker_task, 30)


def report(found: dict[str, int]) -> None:
    """The panel table the issue asks to see (pytest -s shows it), and what is missing on a failure."""
    for target in targets():
        if target.name in ALLOWED_EMPTY:
            print(f"   - allowed   {target.name}: {ALLOWED_EMPTY[target.name]}")
        elif found.get(target.name):
            print(f"{found[target.name]:>4} series  {target.name}")
        else:
            print(f"   0 series  {target.name}: {target.expr}")
