"""Readers for the deployment files and for what the code really exports, shared by the deploy tests."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

from service.metrics import Metrics
from service.settings import SECTIONS, env_name

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "claude-kafka"
DASHBOARD = CHART / "dashboards" / "claude-kafka.json"
ALERTS = CHART / "files" / "alerts.yaml"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_REAL_API = ROOT / "docker-compose.real-api.yml"
PROMETHEUS = ROOT / "deploy" / "compose" / "prometheus.yml"

# Set by the chart itself (from metrics.port, shutdownGraceSeconds and the Secret), never in `config`.
CHART_MANAGED = frozenset(
    {
        "METRICS_PORT",
        "SHUTDOWN_GRACE_SECONDS",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_PASSWORD",
        "KAFKA_SASL_OAUTH_CLIENT_SECRET",
        # From the pod name with workload.kind=StatefulSet: one fixed value would fence every other replica.
        "KAFKA_GROUP_INSTANCE_ID",
    }
)
# Read only by `claude-kafka callbacks`, so they go under `callbacks.config`, never the main `config`.
OTEL_PREFIX = "OTEL_"
"""The OpenTelemetry SDK's standard variables: passed through to it, not settings of ours."""

CALLBACK_SECTION = "callbacks"
# What `claude-kafka callbacks` reads besides its own section and the Kafka connection (whose group it
# replaces with CALLBACK_GROUP_ID; see service/callbacks/, service/cli/callbacks.py): the two topics it
# consumes and produces failures to, its grace periods and instance name, the listener and the logs.
CALLBACKS_READS = (
    ("topics", "completions"),
    ("topics", "errors"),
    ("pipeline", "service_instance"),
    ("pipeline", "shutdown_grace_seconds"),
    ("pipeline", "rebalance_grace_seconds"),
    ("observability", "metrics_port"),
    ("observability", "metrics_host"),
    ("observability", "log_level"),
    ("observability", "log_format"),
)
# Set by the chart on the callbacks Deployment itself, never in `callbacks.config`.
CALLBACKS_CHART_MANAGED = frozenset(
    {
        "METRICS_PORT",
        "SHUTDOWN_GRACE_SECONDS",
        "SERVICE_INSTANCE",
        "CALLBACK_SIGNING_SECRET",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_PASSWORD",
        "KAFKA_SASL_OAUTH_CLIENT_SECRET",
    }
)
METRIC_TOKEN = re.compile(r"\bclaude_kafka_\w+")
# Labels Prometheus adds at scrape time, or that histograms carry.
TARGET_LABELS = frozenset({"instance", "job", "le", "namespace", "pod"})


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def setting_names() -> frozenset[str]:
    """Every environment variable the settings tree reads."""
    return frozenset(
        env_name(section, field) for section in SECTIONS.values() for field in section.model_fields
    )


def section_names(section: str) -> frozenset[str]:
    """The env names of one settings section, e.g. ``section_names("callbacks")`` = every CALLBACK_*."""
    return frozenset(env_name(SECTIONS[section], field) for field in SECTIONS[section].model_fields)


@cache
def callbacks_setting_names() -> frozenset[str]:
    """Every env name `claude-kafka callbacks` reads: CALLBACK_*, KAFKA_* but the group ids, and CALLBACKS_READS."""
    # Its own group (CALLBACK_GROUP_ID), always with dynamic membership.
    kafka = section_names("kafka") - {
        env_name(SECTIONS["kafka"], f) for f in ("group_id", "group_instance_id")
    }
    extra = {env_name(SECTIONS[section], field) for section, field in CALLBACKS_READS}
    return section_names(CALLBACK_SECTION) | kafka | extra


def setting_default(section: str, field: str) -> Any:
    return SECTIONS[section].model_fields[field].default


@cache
def exported_metrics() -> dict[str, frozenset[str]]:
    """Sample name -> label names, for every series name the Metrics class can expose.

    Counters expose ``_total`` (and ``_created``), histograms ``_bucket``/``_sum``/``_count``, an Info
    ``_info``; gauges their own name. Built with the optional ``tenant`` label on, so a panel may group by
    it (without METRICS_TENANT_LABELS such a panel shows one series).
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "info": ("_info",),
        "gauge": ("",),
    }
    metrics = Metrics(tenant_keys=("tenant",))
    names: dict[str, frozenset[str]] = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            # _name/_type/_labelnames are the wrapper's only record of a family that has no child yet.
            labels = frozenset(collector._labelnames)
            for suffix in suffixes[collector._type]:
                names[f"{collector._name}{suffix}"] = labels | ({"le"} if suffix == "_bucket" else set())
    # Series that already have values (build info) carry their label names on the samples.
    for family in metrics.registry.collect():
        for sample in family.samples:
            names[sample.name] = names.get(sample.name, frozenset()) | sample.labels.keys()
    return names


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable of the dashboard."""
    found: list[tuple[str, str]] = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r}", target["expr"]))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append(
                (f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query)
            )
    return found


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def selector_labels(expr: str) -> list[tuple[str, str]]:
    """(metric, label) for every label matcher written right after a metric name: ``m{label=~"..."}``."""
    pairs = []
    for metric, body in re.findall(r"\b(claude_kafka_\w+)\{([^}]*)\}", expr):
        pairs.extend((metric, label) for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body))
    return pairs


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by (...)`` / ``without (...)`` / ``on (...)`` clauses."""
    labels: set[str] = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels.update(name.strip() for name in group.split(",") if name.strip())
    return labels
