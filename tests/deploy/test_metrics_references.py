"""The dashboard and the alert rules query only series the service exports, with labels it sets."""

from __future__ import annotations

import pytest

from tests.deploy import files

EXPRS = [*files.dashboard_exprs(), *((f"alert {r['alert']}", r["expr"]) for r in files.alert_rules())]


@pytest.mark.parametrize(("where", "expr"), EXPRS, ids=[where for where, _ in EXPRS])
def test_every_promql_metric_name_is_exported(where: str, expr: str) -> None:
    """Each claude_kafka_* name in a dashboard or alert expression is a series the Metrics class exposes."""
    names = files.METRIC_TOKEN.findall(expr)
    assert names, f"{where}: no claude_kafka_* metric in {expr!r}"
    unknown = sorted(set(names) - files.exported_metrics().keys())
    assert not unknown, f"{where}: not exported by service/metrics.py: {unknown}"


@pytest.mark.parametrize(("where", "expr"), EXPRS, ids=[where for where, _ in EXPRS])
def test_every_label_in_a_query_belongs_to_its_metric(where: str, expr: str) -> None:
    """Label matchers and by()/on() clauses name labels the queried families carry (or Prometheus adds)."""
    exported = files.exported_metrics()
    for metric, label in files.selector_labels(expr):
        assert label in exported[metric] | files.TARGET_LABELS, f"{where}: {metric} has no label {label!r}"
    available = set(files.TARGET_LABELS)
    for metric in files.METRIC_TOKEN.findall(expr):
        available |= exported[metric]
    assert files.grouping_labels(expr) <= available, f"{where}: grouping by labels no metric has"


def test_dashboard_covers_the_operator_questions() -> None:
    """Throughput, errors, TTFT, tokens, cost, saturation, lag, retries, rate limits, batches: all charted."""
    used = {name for _, expr in files.dashboard_exprs() for name in files.METRIC_TOKEN.findall(expr)}
    required = {
        "claude_kafka_prompts_finished_total",
        "claude_kafka_error_events_total",
        "claude_kafka_time_to_first_token_seconds_bucket",
        "claude_kafka_tokens_total",
        "claude_kafka_cost_usd_total",
        "claude_kafka_in_flight_prompts",
        "claude_kafka_max_in_flight_prompts",
        "claude_kafka_consumer_lag_records",
        "claude_kafka_retries_total",
        "claude_kafka_rate_limit_waits_total",
        "claude_kafka_batches_open",
        "claude_kafka_batch_requests",
    }
    assert required <= used, sorted(required - used)


def test_ttft_panel_shows_p50_p95_p99_by_model() -> None:
    """The time-to-first-token panel has the three quantiles, each grouped by model."""
    exprs = [e for _, e in files.dashboard_exprs() if "time_to_first_token_seconds_bucket" in e]
    quantiles = {e.split("histogram_quantile(")[1].split(",")[0] for e in exprs}
    assert quantiles == {"0.5", "0.95", "0.99"}
    assert all("model" in files.grouping_labels(e) for e in exprs)


def test_dashboard_has_datasource_model_and_mode_variables() -> None:
    """Template variables: a Prometheus datasource picker, model and mode; every panel uses the picker."""
    variables = {v["name"]: v for v in files.dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"model", "mode"} <= variables.keys()
    for panel in files.dashboard()["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_panel_ids_are_unique() -> None:
    """Grafana keys panels by id; duplicates make panels overwrite each other on import."""
    ids = [panel["id"] for panel in files.dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_alert_rules_cover_lag_errors_and_progress() -> None:
    """The examples include lag growing, error ratio and no progress, each with a severity and a summary."""
    rules = {rule["alert"]: rule for rule in files.alert_rules()}
    assert {
        "ClaudeKafkaConsumerLagGrowing",
        "ClaudeKafkaErrorRatioHigh",
        "ClaudeKafkaNoProgress",
    } <= rules.keys()
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert rule.get("for"), f"{name} fires on a single evaluation"


def test_promql_parses() -> None:
    """Every expression is valid PromQL once Grafana's variables are substituted (needs promql-parser)."""
    import promql_parser  # a dev dependency: a missing package fails the run, never skips it

    for where, expr in EXPRS:
        concrete = expr.replace("$__rate_interval", "5m").replace("$model", ".*").replace("$mode", ".*")
        if concrete.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        try:
            promql_parser.parse(concrete)
        except Exception as exc:  # the parser raises a bare ValueError/RuntimeError by version
            pytest.fail(f"{where}: {exc}\n{concrete}")


def test_dashboard_charts_the_callback_families() -> None:
    """The Callbacks row shows deliveries by outcome, delivery latency, retries and refused URLs."""
    used = {name for _, expr in files.dashboard_exprs() for name in files.METRIC_TOKEN.findall(expr)}
    assert {
        "claude_kafka_callback_deliveries_total",
        "claude_kafka_callback_delivery_seconds_bucket",
        "claude_kafka_callback_retries_total",
        "claude_kafka_callback_refused_total",
    } <= used


def test_dashboard_charts_the_usage_families_and_the_breaker() -> None:
    """Stop reasons, cache writes by TTL and hit ratio, server tools, spend by tenant, batch savings, time to
    drain, circuit state and rate-limit headroom each have a panel."""
    exprs = [expr for _, expr in files.dashboard_exprs()]
    used = {name for expr in exprs for name in files.METRIC_TOKEN.findall(expr)}
    assert {
        "claude_kafka_stop_reasons_total",
        "claude_kafka_cache_creation_tokens_total",
        "claude_kafka_server_tool_requests_total",
        "claude_kafka_batch_savings_usd_total",
        "claude_kafka_circuit_open",
        "claude_kafka_rate_limit_remaining",
    } <= used
    assert any('type="cache_read_input"' in e and "/" in e for e in exprs), "no cache hit ratio"
    assert any("cost_usd_total" in e and "tenant" in files.grouping_labels(e) for e in exprs), (
        "no spend by tenant"
    )
    assert any("consumer_lag_records" in e and "messages_consumed_total" in e for e in exprs), (
        "no time to drain"
    )
