"""Every Prometheus collector of the service, on an injected registry, used through intent-named methods.

Names and label sets are a public API (dashboards and alerts depend on them):
``tests/unit/test_metrics_contract.py`` pins them, and a change goes into the changelog of
the README ("Observability"). Labels stay bounded: never a custom_id; a ``tenant`` label exists only when
``METRICS_TENANT_LABELS`` names attribute keys, and holds at most ``METRICS_TENANT_LIMIT`` values.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any, get_args

from anthropic.types import ServerToolUsage, StopReason
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from service import __version__
from service.pricing import cache_writes

PREFIX = "claude_kafka"
# OpenTelemetry GenAI semantic-convention buckets (gen_ai.client.operation.duration, time to first chunk).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
PER_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
KAFKA_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TOKEN_TYPES = ("input", "output", "cache_creation_input", "cache_read_input")
CALLBACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
NO_TENANT = "none"
TOOL_LABEL_LIMIT = 50
OTHER_TENANT = "other"
OTHER = "other"  # the bounded stand-in for a value the installed SDK does not know
MODES = ("stream", "batch")
OUTCOMES = ("completed", "errored")
# The SDK's own vocabularies, so a new SDK brings its new values (anything else counts as ``other``).
STOP_REASONS: tuple[str, ...] = (*get_args(StopReason), OTHER)
SERVER_TOOLS: tuple[str, ...] = (
    *(name.removesuffix("_requests") for name in ServerToolUsage.model_fields if name.endswith("_requests")),
    OTHER,
)
CACHE_TTLS = ("5m", "1h")
RATE_LIMIT_REASONS = ("client", "server", "headroom")
KAFKA_OPERATIONS = ("fetch", "produce", "commit")


def stop_reason_label(value: object) -> str:
    """A message's ``stop_reason`` as a bounded label: a value of the SDK's ``StopReason``, else ``other``."""
    return value if isinstance(value, str) and value in STOP_REASONS[:-1] else OTHER


def cache_write_tokens(usage: Mapping[str, Any]) -> dict[str, int]:
    """Cache-write tokens by TTL label (``5m``, ``1h``), split as the price table splits them."""
    return dict(zip(CACHE_TTLS, cache_writes(usage), strict=True))


def server_tool_requests(usage: Mapping[str, Any]) -> dict[str, int]:
    """``usage.server_tool_use``'s ``<tool>_requests`` by tool label; an unknown tool counts as ``other``."""
    counts = dict.fromkeys(SERVER_TOOLS, 0)
    used = usage.get("server_tool_use")
    if not isinstance(used, Mapping):
        return counts
    for name, value in used.items():
        if not name.endswith("_requests") or not isinstance(value, int) or isinstance(value, bool):
            continue
        tool = name.removesuffix("_requests")
        counts[tool if tool in counts else OTHER] += max(value, 0)
    return counts


class TenantLabel:
    """A prompt's attributes -> a bounded ``tenant`` label value.

    The first of ``keys`` present in the attributes gives the value; once ``limit`` distinct values have
    been seen, any new one is reported as ``other`` (so a misbehaving producer cannot explode the series
    count); no key present gives ``none``.
    """

    def __init__(self, keys: tuple[str, ...], limit: int) -> None:
        self.keys = keys
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, attributes: Mapping[str, str] | None) -> str:
        value = next((attributes[k] for k in self.keys if attributes and attributes.get(k)), None)
        if value is None:
            return NO_TENANT
        if value in self._seen:
            return value
        if len(self._seen) < self.limit:
            self._seen.add(value)
            return value
        return OTHER_TENANT


class Metrics:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        tenant_keys: tuple[str, ...] = (),
        tenant_limit: int = 50,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # Opt-in only: the extra label splits every series of these families.
        self.tenant = TenantLabel(tenant_keys, tenant_limit) if tenant_keys else None
        tenant: tuple[str, ...] = ("tenant",) if tenant_keys else ()

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, labels, registry=r)

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(f"{PREFIX}_{name}", doc, labels, registry=r, buckets=buckets)

        self.build_info = Info(f"{PREFIX}_build", "Service and client library versions.", registry=r)
        self.prompts_received = counter("prompts_received_total", "Prompt records consumed.", ("mode",))
        self.prompts_finished = counter(
            "prompts_finished_total", "Prompts with a published final event.", ("mode", "outcome", *tenant)
        )
        self.api_requests = counter(
            "api_requests_total", "Claude API attempts by model and outcome.", ("model", "outcome")
        )
        self.http_responses = counter(
            "api_http_responses_total", "HTTP responses from the Claude API, SDK retries included.", ("code",)
        )
        self.attempts = counter("attempts_total", "Prompt attempts started.", ("mode",))
        self.retries = counter("retries_total", "Attempts repeated, by the reason.", ("reason",))
        self.tokens = counter("tokens_total", "Tokens used, by type.", ("model", "mode", "type", *tenant))
        self.cost = counter("cost_usd_total", "Estimated spend in US dollars.", ("model", "mode", *tenant))
        self.cache_creation_tokens = counter(
            "cache_creation_tokens_total",
            "Cache-write input tokens of completed prompts, by the cache entry's TTL.",
            ("model", "mode", "ttl"),
        )
        self.server_tool_requests = counter(
            "server_tool_requests_total",
            "Server-tool requests (web search, web fetch, ...) of completed prompts, by tool.",
            ("model", "mode", "tool"),
        )
        self.stop_reasons = counter(
            "stop_reasons_total",
            "Completed prompts by the final message's stop_reason.",
            ("model", "mode", "stop_reason"),
        )
        self.batch_savings = counter(
            "batch_savings_usd_total",
            "What the batch discount saved: standard minus batch price of batch completions, in US dollars.",
            ("model",),
        )
        self.unpriced_tokens = counter(
            "unpriced_tokens_total",
            "Tokens of responses with no price row (cost_usd null), by model.",
            ("model",),
        )
        self.deprecated_model_prompts = counter(
            "deprecated_model_prompts_total",
            "Prompts naming a model the SDK lists as deprecated.",
            ("model",),
        )
        self.queue_wait = histogram(
            "queue_wait_seconds", "Prompt record timestamp to API call.", ("mode",), DURATION_BUCKETS
        )
        self.ttft = histogram(
            "time_to_first_token_seconds", "API call to first content delta.", ("model",), DURATION_BUCKETS
        )
        self.request_duration = histogram(
            "request_duration_seconds", "API call to final event.", ("model", "mode"), DURATION_BUCKETS
        )
        self.time_per_output_token = histogram(
            "time_per_output_token_seconds",
            "Time per output token after the first.",
            ("model",),
            PER_TOKEN_BUCKETS,
        )
        self.produce_latency = histogram(
            "kafka_produce_latency_seconds",
            "Send to broker acknowledgement of final events.",
            (),
            KAFKA_BUCKETS,
        )
        self.commit_latency = histogram(
            "kafka_commit_latency_seconds", "Offset commit calls.", (), KAFKA_BUCKETS
        )
        self.ready = gauge("ready", "1 while /readyz answers 200 (group joined, cluster answering), else 0.")
        self.circuit_open = gauge(
            "circuit_open", "1 while the circuit is open for this reason (no new prompt starts).", ("reason",)
        )
        self.in_flight = gauge("in_flight_prompts", "Prompts being processed now.")
        self.max_in_flight = gauge("max_in_flight_prompts", "The MAX_IN_FLIGHT limit.")
        self.paused_partitions = gauge("paused_partitions", "Assigned partitions paused for back-pressure.")
        self.rate_limit_waits = counter(
            "rate_limit_waits_total", "Requests held by a rate limit.", ("reason",)
        )
        self.rate_limit_remaining = gauge(
            "rate_limit_remaining",
            "The organisation's headroom the API last reported, by kind (requests, input-tokens, ...).",
            ("kind",),
        )
        self.rate_limit_wait_seconds = counter("rate_limit_wait_seconds_total", "Time requests were held.")
        self.sse_events = counter("sse_events_total", "SSE events received, by type.", ("type",))
        self.deltas = counter("delta_events_total", "Delta events published.")
        self.consumed = counter("messages_consumed_total", "Kafka records consumed.", ("topic",))
        self.produced = counter("messages_produced_total", "Kafka records produced.", ("topic",))
        self.lag = gauge(
            "consumer_lag_records", "High watermark minus committed offset.", ("topic", "partition")
        )
        self.error_events = counter("error_events_total", "Error events published, by type.", ("type",))
        self.internal_errors = counter(
            "internal_errors_total",
            "Unexpected exceptions caught by the crash barrier, by unit of work (a bug to report).",
            ("unit",),
        )
        self.assigned_partitions = gauge("assigned_partitions", "Partitions assigned to this instance.")
        self.kafka_errors = counter(
            "kafka_errors_total", "Kafka client errors, by operation.", ("operation",)
        )
        self.batches_open = gauge(
            "batches_open", "Message batches this instance follows (as batch leader), not yet finished."
        )
        self.batch_leader = gauge(
            "batch_leader", "1 on the one instance that follows open batches (the batch leader), else 0."
        )
        self.batch_requests = gauge(
            "batch_requests", "Requests in open batches by status (request_counts).", ("status",)
        )
        self.batch_oldest_age = gauge("batch_oldest_age_seconds", "Age of the oldest open batch.")
        self.batch_turnaround = histogram(
            "batch_turnaround_seconds",
            "Batch submission to results.",
            (),
            (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400),
        )
        self.batches_submitted = counter("batches_submitted_total", "Message batches created.")
        self.callback_deliveries = counter(
            "callback_deliveries_total",
            "Callback deliveries finished, by outcome and the last response's status class.",
            ("outcome", "status_class"),
        )
        self.callback_delivery_seconds = histogram(
            "callback_delivery_seconds",
            "First callback attempt to the delivery's final outcome.",
            ("outcome",),
            CALLBACK_BUCKETS,
        )
        self.callback_retries = counter(
            "callback_retries_total", "Callback attempts repeated, by the reason.", ("reason",)
        )
        self.callback_refused = counter(
            "callback_refused_total", "Callback URLs refused before any request, by the reason.", ("reason",)
        )
        self.callbacks_in_flight = gauge("callbacks_in_flight", "Outcomes being delivered now.")
        # Tool loops (issue 21). Tool names come from prompts: bounded like the tenant label.
        self.loop_turns = counter("loop_turns_total", "Requests made by tool loops (one per turn).")
        self.loop_resumed_turns = counter(
            "loop_resumed_turns_total", "Finished turns taken from TOPIC_RUNS on resume, not requested again."
        )
        self.loop_runs = counter("loop_runs_finished_total", "Tool loops ended, by how.", ("end",))
        self.tool_calls = counter(
            "tool_calls_total", "Tool calls of loops, by tool and outcome.", ("tool", "outcome")
        )
        self.tool_seconds = histogram(
            "tool_call_seconds", "Tool call published to its result.", ("tool",), CALLBACK_BUCKETS
        )
        self.tool_results = counter("tool_results_total", "Tool result records read, by fate.", ("outcome",))
        self.waiting_for_tools = gauge("runs_waiting_for_tools", "Tool loops waiting for tool results now.")
        self.max_waiting_for_tools = gauge("max_waiting_for_tools", "The MAX_WAITING_FOR_TOOLS limit.")
        self._tool_label = TenantLabel(("tool",), TOOL_LABEL_LIMIT)
        self.sessions = gauge(
            "sessions", "Sessions with a history in TOPIC_SESSIONS, as this replica reads it."
        )
        self.session_messages_dropped = counter(
            "session_messages_dropped_total", "Oldest session messages dropped past SESSION_MAX_TOKENS."
        )

        self.build_info.info(_versions())
        self._seen: set[tuple[str, ...]] = set()  # label prefixes whose bounded values are at 0
        self._initialise_bounded_labels()
        self._sse_children: dict[str, Any] = {}
        self._delta_child = self.deltas
        self._produced_children: dict[str, Any] = {}

    def _initialise_bounded_labels(self) -> None:
        """Export 0 for every value of the label sets known in advance.

        A labelled series appears at its first observation, and rate() cannot count what a series was
        born with: the first refusal, cache read or Kafka error of a burst would show as no data. So the
        fixed sets start at 0 here, and the sets under a ``model`` or ``tenant`` value start at 0 the
        first time that value is seen (:meth:`_zero_outcomes`, :meth:`_zero_usage`).
        """
        for mode in MODES:
            self.prompts_received.labels(mode)
            self.attempts.labels(mode)
            self.queue_wait.labels(mode)
        for reason in RATE_LIMIT_REASONS:
            self.rate_limit_waits.labels(reason)
        for operation in KAFKA_OPERATIONS:
            self.kafka_errors.labels(operation)
        self._zero_outcomes(() if self.tenant is None else (NO_TENANT,))

    def _zero_outcomes(self, tenant: tuple[str, ...]) -> None:
        if ("finished", *tenant) in self._seen:
            return
        self._seen.add(("finished", *tenant))
        for mode in MODES:
            for outcome in OUTCOMES:
                self.prompts_finished.labels(mode, outcome, *tenant)

    def _zero_usage(self, model: str, mode: str, tenant: tuple[str, ...]) -> None:
        if ("usage", model, mode, *tenant) in self._seen:
            return
        self._seen.add(("usage", model, mode, *tenant))
        for kind in TOKEN_TYPES:
            self.tokens.labels(model, mode, kind, *tenant)
        self.cost.labels(model, mode, *tenant)
        for ttl in CACHE_TTLS:
            self.cache_creation_tokens.labels(model, mode, ttl)
        for tool in SERVER_TOOLS:
            self.server_tool_requests.labels(model, mode, tool)
        for reason in STOP_REASONS:
            self.stop_reasons.labels(model, mode, reason)
        if mode == "batch":
            self.batch_savings.labels(model)

    # Hot path: label lookups are cached per value, so an event costs one dict hit and one add.
    def sse_event(self, kind: str) -> None:
        child = self._sse_children.get(kind)
        if child is None:
            child = self._sse_children[kind] = self.sse_events.labels(kind)
        child.inc()

    def callback_delivered(self, outcome: str, status_class: str, seconds: float) -> None:
        """A delivery ended: ``delivered``, ``failed`` or ``gone`` (410); ``status_class`` as ``2xx``."""
        self.callback_deliveries.labels(outcome, status_class).inc()
        self.callback_delivery_seconds.labels(outcome).observe(seconds)

    def tool_called(self, name: str, outcome: str, seconds: float | None) -> None:
        """A loop's tool call ended: ``ok``, ``error`` (the worker said so) or ``timeout``."""
        tool = self._tool_label({"tool": name})
        self.tool_calls.labels(tool, outcome).inc()
        if seconds is not None:
            self.tool_seconds.labels(tool).observe(seconds)

    def produced_to(self, topic: str, count: int = 1) -> None:
        child = self._produced_children.get(topic)
        if child is None:
            child = self._produced_children[topic] = self.produced.labels(topic)
        child.inc(count)

    def _tenant(self, attributes: Mapping[str, str] | None) -> tuple[str, ...]:
        return () if self.tenant is None else (self.tenant(attributes),)

    def usage(
        self,
        model: str,
        mode: str,
        usage: Mapping[str, Any],
        cost: float | None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """A completed prompt's ``usage``: tokens by type, cache writes by TTL, server tools, cost."""
        tenant = self._tenant(attributes)
        self._zero_usage(model, mode, tenant)
        for kind in TOKEN_TYPES:
            count = usage.get(f"{kind}_tokens") or 0
            if count:
                self.tokens.labels(model, mode, kind, *tenant).inc(count)
        for ttl, count in cache_write_tokens(usage).items():
            if count:
                self.cache_creation_tokens.labels(model, mode, ttl).inc(count)
        for tool, count in server_tool_requests(usage).items():
            if count:
                self.server_tool_requests.labels(model, mode, tool).inc(count)
        if cost:
            self.cost.labels(model, mode, *tenant).inc(cost)
        elif cost is None:
            unpriced = sum(usage.get(f"{kind}_tokens") or 0 for kind in TOKEN_TYPES)
            if unpriced:
                self.unpriced_tokens.labels(model).inc(unpriced)

    def completed(
        self,
        model: str,
        mode: str,
        message: Mapping[str, Any],
        cost: float | None,
        attributes: Mapping[str, str] | None = None,
        *,
        batch_saving_usd: float | None = None,
    ) -> None:
        """A completion event acknowledged: its usage and cost, its stop reason, what the batch discount
        saved (batch mode), and the finished prompt."""
        self.usage(model, mode, message.get("usage") or {}, cost, attributes)
        self.stop_reasons.labels(model, mode, stop_reason_label(message.get("stop_reason"))).inc()
        if batch_saving_usd:
            self.batch_savings.labels(model).inc(batch_saving_usd)
        self.finished(mode, "completed", attributes=attributes)

    def finished(
        self,
        mode: str,
        outcome: str,
        error_type: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """One final event published: a completion (``completed``) or an error event (``errored``)."""
        tenant = self._tenant(attributes)
        if tenant:
            self._zero_outcomes(tenant)
        self.prompts_finished.labels(mode, outcome, *tenant).inc()
        if error_type is not None:
            self.error_events.labels(error_type).inc()


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import anthropic

    return {
        "version": __version__,
        "anthropic": anthropic.__version__,
        "aiokafka": version("aiokafka"),
        "python": platform.python_version(),
    }
