"""The exported metric families and their label names are a public API: this file pins them.

Dashboards, alert rules and users' own queries depend on these names and label sets; adding a label
splits every series of a family. A change here must be deliberate: update ``CONTRACT`` and add a line to
the "Metrics changelog" of ``README.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from service.metrics import Metrics

DOC = Path(__file__).resolve().parents[2] / "README.md"

# Exposed family name -> (type, label names). Counters are listed with their ``_total`` suffix and the
# info family with ``_info``, as they appear on /metrics.
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "claude_kafka_build_info": ("info", ("version", "anthropic", "aiokafka", "python")),
    "claude_kafka_prompts_received_total": ("counter", ("mode",)),
    "claude_kafka_prompts_finished_total": ("counter", ("mode", "outcome")),
    "claude_kafka_api_requests_total": ("counter", ("model", "outcome")),
    "claude_kafka_api_http_responses_total": ("counter", ("code",)),
    "claude_kafka_attempts_total": ("counter", ("mode",)),
    "claude_kafka_retries_total": ("counter", ("reason",)),
    "claude_kafka_tokens_total": ("counter", ("model", "mode", "type")),
    "claude_kafka_cost_usd_total": ("counter", ("model", "mode")),
    "claude_kafka_cache_creation_tokens_total": ("counter", ("model", "mode", "ttl")),
    "claude_kafka_server_tool_requests_total": ("counter", ("model", "mode", "tool")),
    "claude_kafka_stop_reasons_total": ("counter", ("model", "mode", "stop_reason")),
    "claude_kafka_batch_savings_usd_total": ("counter", ("model",)),
    "claude_kafka_unpriced_tokens_total": ("counter", ("model",)),
    "claude_kafka_deprecated_model_prompts_total": ("counter", ("model",)),
    "claude_kafka_queue_wait_seconds": ("histogram", ("mode",)),
    "claude_kafka_time_to_first_token_seconds": ("histogram", ("model",)),
    "claude_kafka_request_duration_seconds": ("histogram", ("model", "mode")),
    "claude_kafka_time_per_output_token_seconds": ("histogram", ("model",)),
    "claude_kafka_kafka_produce_latency_seconds": ("histogram", ()),
    "claude_kafka_kafka_commit_latency_seconds": ("histogram", ()),
    "claude_kafka_ready": ("gauge", ()),
    "claude_kafka_circuit_open": ("gauge", ("reason",)),
    "claude_kafka_rate_limit_remaining": ("gauge", ("kind",)),
    "claude_kafka_in_flight_prompts": ("gauge", ()),
    "claude_kafka_max_in_flight_prompts": ("gauge", ()),
    "claude_kafka_paused_partitions": ("gauge", ()),
    "claude_kafka_rate_limit_waits_total": ("counter", ("reason",)),
    "claude_kafka_rate_limit_wait_seconds_total": ("counter", ()),
    "claude_kafka_sse_events_total": ("counter", ("type",)),
    "claude_kafka_delta_events_total": ("counter", ()),
    "claude_kafka_messages_consumed_total": ("counter", ("topic",)),
    "claude_kafka_messages_produced_total": ("counter", ("topic",)),
    "claude_kafka_consumer_lag_records": ("gauge", ("topic", "partition")),
    "claude_kafka_error_events_total": ("counter", ("type",)),
    "claude_kafka_internal_errors_total": ("counter", ("unit",)),
    "claude_kafka_assigned_partitions": ("gauge", ()),
    "claude_kafka_kafka_errors_total": ("counter", ("operation",)),
    "claude_kafka_batches_open": ("gauge", ()),
    "claude_kafka_batch_leader": ("gauge", ()),
    "claude_kafka_batch_requests": ("gauge", ("status",)),
    "claude_kafka_batch_oldest_age_seconds": ("gauge", ()),
    "claude_kafka_batch_turnaround_seconds": ("histogram", ()),
    "claude_kafka_batches_submitted_total": ("counter", ()),
    # claude-kafka callbacks
    "claude_kafka_callback_deliveries_total": ("counter", ("outcome", "status_class")),
    "claude_kafka_callback_delivery_seconds": ("histogram", ("outcome",)),
    "claude_kafka_callback_retries_total": ("counter", ("reason",)),
    "claude_kafka_callback_refused_total": ("counter", ("reason",)),
    "claude_kafka_callbacks_in_flight": ("gauge", ()),
    # tool loops
    "claude_kafka_loop_turns_total": ("counter", ()),
    "claude_kafka_loop_resumed_turns_total": ("counter", ()),
    "claude_kafka_loop_runs_finished_total": ("counter", ("end",)),
    "claude_kafka_tool_calls_total": ("counter", ("tool", "outcome")),
    "claude_kafka_tool_call_seconds": ("histogram", ("tool",)),
    "claude_kafka_tool_results_total": ("counter", ("outcome",)),
    "claude_kafka_runs_waiting_for_tools": ("gauge", ()),
    "claude_kafka_max_waiting_for_tools": ("gauge", ()),
    "claude_kafka_sessions": ("gauge", ()),
    "claude_kafka_session_messages_dropped_total": ("counter", ()),
}
# With METRICS_TENANT_LABELS set, exactly these families gain a trailing ``tenant`` label.
TENANT_FAMILIES = {
    "claude_kafka_prompts_finished_total",
    "claude_kafka_tokens_total",
    "claude_kafka_cost_usd_total",
}


def exported(metrics: Metrics) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Family name (as exposed) -> (type, label names), read from the collectors themselves."""
    suffix = {"counter": "_total", "info": "_info"}
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            # _name/_type/_labelnames are the wrapper's only record of a family with no child yet.
            name = collector._name + suffix.get(collector._type, "")
            out[name] = (collector._type, tuple(collector._labelnames))
    for family in metrics.registry.collect():  # the info family's labels are on its one sample
        if family.type == "info":
            (sample,) = family.samples
            out[sample.name] = ("info", tuple(sample.labels))
    return out


def test_exported_families_and_labels_match_the_contract() -> None:
    """Every family, its type and its label names are exactly the pinned ones (no tenant label by default)."""
    assert exported(Metrics()) == CONTRACT


def test_tenant_label_is_added_only_to_the_usage_families_when_opted_in() -> None:
    """METRICS_TENANT_LABELS adds ``tenant`` last to finished, tokens and cost; nothing else changes."""
    expected = {
        name: (kind, (*labels, "tenant") if name in TENANT_FAMILIES else labels)
        for name, (kind, labels) in CONTRACT.items()
    }
    assert exported(Metrics(tenant_keys=("tenant",))) == expected


def test_no_family_has_an_unbounded_label() -> None:
    """custom_id, message ids and the like never become labels."""
    forbidden = {"custom_id", "id", "message_id", "request_id", "batch_id", "offset", "key"}
    for name, (_, labels) in exported(Metrics(tenant_keys=("tenant",))).items():
        assert not forbidden & set(labels), name


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_every_family_is_documented(name: str) -> None:
    """The README names each exported family."""
    assert f"`{name}`" in DOC.read_text(encoding="utf-8")
