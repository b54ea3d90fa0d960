"""Readiness verdicts, the tenant label bound, log context and redaction, and the HTTP listener."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import logs
from service.health import build_app
from service.kafka.readiness import STALE_AFTER_SECONDS, Probe, Readiness
from service.metrics import Metrics, TenantLabel
from service.settings import load_settings, secret_values

FAIL = "no metadata answer within 1.5s"


@pytest.mark.parametrize(
    ("probe", "joined", "draining", "now", "ready", "reason"),
    [
        (Probe(10.0, None, None), True, False, 10.5, True, "ok"),
        (Probe(10.0, None, None), False, False, 10.5, False, "consumer has not joined its group"),
        (Probe(10.0, FAIL, None), True, False, 10.5, False, "producer cannot reach the cluster"),
        (Probe(10.0, None, FAIL), True, False, 10.5, False, "consumer cannot reach the cluster"),
        (Probe(10.0, None, None), True, False, 10.1 + STALE_AFTER_SECONDS, False, "broker probe stalled"),
        (Probe(10.0, None, None), True, True, 10.5, False, "draining"),
        (None, True, False, 10.5, False, "no broker probe yet"),
    ],
)
def test_readiness_names_the_first_failed_condition(
    probe: Probe | None, joined: bool, draining: bool, now: float, ready: bool, reason: str
) -> None:
    """Ready only when not draining, the probe is fresh and answered for both clients, and the group is joined."""
    readiness = Readiness()
    if probe is not None:
        readiness.record(probe)
    readiness.draining = draining
    verdict = readiness.verdict(joined=joined, now=now)
    assert verdict[0] is ready
    assert verdict[1].startswith(reason)


def test_tenant_label_is_bounded_and_falls_back() -> None:
    """The first listed key present wins; past the limit new values are ``other``; none present is ``none``."""
    label = TenantLabel(("tenant", "team"), limit=2)
    assert label({"team": "x"}) == "x"
    assert label({"tenant": "a", "team": "x"}) == "a"
    assert label({"tenant": "b"}) == "other"
    assert label({"tenant": "a"}) == "a"
    assert label({}) == "none"
    assert label(None) == "none"


def test_usage_with_tenant_keys_labels_tokens_cost_and_finished() -> None:
    """With tenant keys, usage and outcomes are split by the prompt's tenant attribute."""
    metrics = Metrics(tenant_keys=("tenant",))
    metrics.usage("m", "stream", {"output_tokens": 7}, 0.5, {"tenant": "acme"})
    metrics.finished("stream", "completed", attributes={"tenant": "acme"})
    get = metrics.registry.get_sample_value
    assert (
        get("claude_kafka_tokens_total", {"model": "m", "mode": "stream", "type": "output", "tenant": "acme"})
        == 7
    )
    assert get("claude_kafka_cost_usd_total", {"model": "m", "mode": "stream", "tenant": "acme"}) == 0.5
    assert (
        get(
            "claude_kafka_prompts_finished_total",
            {"mode": "stream", "outcome": "completed", "tenant": "acme"},
        )
        == 1
    )


def test_tenant_setting_reads_a_comma_list() -> None:
    """METRICS_TENANT_LABELS is a comma-separated list of attribute keys."""
    settings = load_settings(env_file=None, observability={"metrics_tenant_labels": "tenant, team"})
    assert settings.observability.metrics_tenant_labels == ("tenant", "team")


def format_line(
    logger: logging.Logger, handler: logging.Handler, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    records: list[str] = []
    handler.emit = lambda record: records.append(handler.format(record))  # type: ignore[method-assign]
    logger.info(*args, **kwargs)
    return json.loads(records[-1])  # type: ignore[no-any-return]


@pytest.fixture
def json_handler() -> Any:
    handler = logging.StreamHandler()
    handler.setFormatter(logs.RedactingFormatter(logs.JsonFormatter(), ["sk-ant-api03-SECRET-123456"]))
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


async def test_bound_fields_reach_every_line_of_their_task_only(json_handler: Any) -> None:
    """Fields bound inside a task appear on its lines (``extra=`` wins), never on another task's."""
    logger, handler = json_handler

    async def prompt_task() -> dict[str, Any]:
        logs.bind(custom_id="c-1", topic="t", partition=2, offset=40)
        logs.bind(attempt=2)
        return format_line(logger, handler, "attempt failed", extra={"attempt": 3})

    line = await asyncio.create_task(prompt_task())
    assert {k: line[k] for k in ("custom_id", "topic", "partition", "offset", "attempt")} == {
        "custom_id": "c-1", "topic": "t", "partition": 2, "offset": 40, "attempt": 3,
    }  # fmt: skip
    other = format_line(logger, handler, "elsewhere")
    assert "custom_id" not in other


def test_secret_values_are_masked_in_formatted_lines(json_handler: Any) -> None:
    """A secret that reaches a log call anyway (message, args or extra) is printed masked."""
    logger, handler = json_handler
    line = format_line(
        logger, handler, "key %s", "sk-ant-api03-SECRET-123456", extra={"h": "x sk-ant-api03-SECRET-123456"}
    )
    assert "SECRET" not in json.dumps(line)
    assert line["msg"] == f"key {logs.MASK}"


def test_secret_values_lists_every_secret_setting() -> None:
    """The redaction list holds the API key and the Kafka passwords that are set."""
    settings = load_settings(
        env_file=None, anthropic={"api_key": "sk-ant-api03-abc"}, kafka={"ssl_password": "pem-pass-1"}
    )
    assert set(secret_values(settings)) == {"sk-ant-api03-abc", "pem-pass-1"}


async def test_metrics_endpoint_negotiates_openmetrics_and_probes_answer() -> None:
    """/metrics is Prometheus text by default and OpenMetrics when asked; /readyz 503 carries the reason."""
    metrics = Metrics()
    verdict = [(False, "consumer has not joined its group")]
    app = build_app(metrics.registry, lambda: verdict[0])
    async with TestClient(TestServer(app)) as client:
        plain = await client.get("/metrics")
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "# TYPE claude_kafka_prompts_received_total counter" in await plain.text()
        om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        body = await om.text()
        assert "# TYPE claude_kafka_prompts_received counter" in body and body.endswith("# EOF\n")
        assert (await client.get("/healthz")).status == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert (await not_ready.json())["reason"] == "consumer has not joined its group"
        verdict[0] = (True, "ok")
        assert (await client.get("/readyz")).status == 200
