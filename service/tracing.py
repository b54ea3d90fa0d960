"""OpenTelemetry tracing: a ``process`` span per prompt, a span per API attempt, a ``send`` span per final
event, and the W3C trace headers (``traceparent``, ``tracestate``, ``baggage``) on every output.

The span tree of one streamed prompt::

    <the producer's span>                 (from the prompt record's traceparent)
    └── process <prompts topic>           CONSUMER, messaging.* attributes
        ├── attempt                       claude_kafka.attempt, gen_ai.request.model, outcome, usage
        │   └── anthropic.messages.create CLIENT, the anthropic SDK's own GenAI span
        └── send <completions|errors>     PRODUCER
    (batch mode) send <topic>             PRODUCER, a new trace linked to the prompt's

Off unless the standard ``OTEL_*`` variables ask for traces (``install``). The tracer provider is
process-global in OpenTelemetry, and the anthropic SDK's spans use the global one (SDK 2.16,
``anthropic/_tracing.py``: ``get_tracer`` without a ``tracer_provider`` option), so ``install`` sets it
once at start-up and this module otherwise uses only the OpenTelemetry API. Off, every function here
is a constant-time no-op: no span is started and the trace headers are copied as they came; nothing
runs per delta either way.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from service.cloudevents import TraceHeaders
from service.errors import ConfigError

if TYPE_CHECKING:
    from service.kafka.inputs import InputRecord
    from service.kafka.workers import Work

log = logging.getLogger(__name__)

TRACE_HEADER_NAMES = ("traceparent", "tracestate", "baggage")
"""The W3C Trace Context and Baggage headers a prompt's outputs carry on."""

SCOPE = "claude-kafka"
DEFAULT_PROTOCOL = "http/protobuf"
OTLP_ENTRY_POINTS = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}

_state: dict[str, Any] = {"provider": None}


# -- start-up -------------------------------------------------------------------------------------
def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint or a traces exporter other than none."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def exporter_entry_points(env: Mapping[str, str] = os.environ) -> list[str]:
    """The ``opentelemetry_traces_exporter`` entry points ``OTEL_TRACES_EXPORTER`` names (default otlp).

    ``otlp`` resolves through ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL`` as
    the SDK's own configurator does, except that the default is the specification's ``http/protobuf``
    (the ``[otel]`` extra ships that exporter) where the Python SDK picks gRPC.
    """
    names = [n.strip() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",") if n.strip()]
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = (protocol or DEFAULT_PROTOCOL).strip()
    if "otlp" in names and protocol not in OTLP_ENTRY_POINTS:
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: expected http/protobuf or grpc")
    return [OTLP_ENTRY_POINTS[protocol] if name == "otlp" else name for name in names]


def install(instance: str, env: Mapping[str, str] = os.environ) -> bool:
    """Set the global tracer provider when the environment asks for traces; whether tracing is on.

    The SDK reads its own variables: ``TracerProvider`` the sampler and resource (``OTEL_TRACES_SAMPLER``,
    ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), ``BatchSpanProcessor`` ``OTEL_BSP_*``, each
    exporter its endpoint, headers, timeout and compression. Raises ``ConfigError`` (one line) when
    traces are asked for and the ``[otel]`` extra or the named exporter is missing.
    """
    if not wanted(env):
        return False
    try:
        from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    except ImportError:
        raise ConfigError(
            "tracing is asked for (OTEL_* variables) but the OpenTelemetry SDK is not installed: "
            "pip install 'claude-kafka[otel]', or unset OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_EXPORTER"
        ) from None
    exporters: list[SpanExporter] = []
    for name in exporter_entry_points(env):
        found = importlib.metadata.entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER: no trace exporter {name!r} is installed "
                "(the [otel] extra ships otlp over http/protobuf, and console)"
            )
        exporters.append(next(iter(found)).load()())
    resource = Resource.create()
    defaults = {SERVICE_INSTANCE_ID: instance}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = "claude-kafka"
    provider = TracerProvider(resource=Resource(defaults).merge(resource))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state["provider"] = provider
    log.info("tracing on", extra={"exporters": ",".join(exporter_entry_points(env))})
    return True


def shutdown() -> None:
    """Export what is buffered and stop (bounded by the exporter's own timeout)."""
    provider, _state["provider"] = _state["provider"], None
    if provider is not None:
        provider.shutdown()


def on() -> bool:
    return _state["provider"] is not None


def _tracer() -> trace.Tracer:
    return trace.get_tracer(SCOPE)


# -- what a prompt carries ------------------------------------------------------------------------
def incoming(headers: Sequence[tuple[str, bytes]]) -> TraceHeaders:
    """The trace headers of a consumed record, as they came (what outputs carry with tracing off)."""
    return tuple((k, v) for k, v in headers if k in TRACE_HEADER_NAMES and v is not None)


def _extract(carried: TraceHeaders) -> context.Context:
    return propagate.extract({k: v.decode("latin-1") for k, v in carried})


def _inject(carried: TraceHeaders, ctx: context.Context | None = None) -> TraceHeaders:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    out = tuple((k, v.encode()) for k, v in carrier.items() if k in TRACE_HEADER_NAMES)
    # Whatever the configured propagators do not write (say OTEL_PROPAGATORS=tracecontext) is copied.
    written = {k for k, _ in out}
    return out + tuple((k, v) for k, v in carried if k not in written)


def outgoing(carried: TraceHeaders) -> TraceHeaders:
    """The trace headers for outputs made now: the current span's context, or ``carried`` when off."""
    return _inject(carried) if on() else carried


# -- spans ----------------------------------------------------------------------------------------
def traced_intake(start: Callable[[InputRecord], Work], group: str) -> Callable[[InputRecord], Work]:
    """``start`` with each record's work run inside its ``process`` span (``start`` itself when off)."""
    if not on():
        return start

    def traced(record: InputRecord) -> Work:
        work, pool = start(record)
        return _processing(record, group, work), pool

    return traced


async def _processing(record: InputRecord, group: str, work: Awaitable[None]) -> None:
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
    }
    if record.key is not None:
        attributes["messaging.kafka.message.key"] = record.key.decode("utf-8", "replace")
    # Attached rather than passed as ``context=``: the span's context must keep the extracted baggage,
    # which ``start_as_current_span`` would take from the current context instead.
    token = context.attach(_extract(incoming(record.headers)))
    try:
        with _tracer().start_as_current_span(
            f"process {record.topic}", kind=SpanKind.CONSUMER, attributes=attributes
        ):
            await work
    finally:
        context.detach(token)


class AttemptSpan:
    """One API attempt's span; ``answered`` records the answer's GenAI attributes on it."""

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span | None) -> None:
        self._span = span

    def answered(self, message: Mapping[str, Any]) -> None:
        if self._span is None:
            return
        self._span.set_attributes(answer_attributes(message))


_OFF_ATTEMPT_CONTEXT = contextlib.nullcontext(AttemptSpan(None))


def answer_attributes(message: Mapping[str, Any]) -> dict[str, str | int | Sequence[str]]:
    """OTel GenAI attributes of an answer. ``gen_ai.usage.input_tokens`` includes the cache tokens, as
    the semantic conventions and the SDK's own span do (``lib/_tracing/_response.py``), while the API's
    ``usage.input_tokens`` excludes them."""
    usage = message.get("usage") or {}
    out: dict[str, str | int | Sequence[str]] = {}
    for name, key in (("gen_ai.response.id", "id"), ("gen_ai.response.model", "model")):
        if isinstance(message.get(key), str):
            out[name] = message[key]
    if isinstance(message.get("stop_reason"), str):
        out["gen_ai.response.finish_reasons"] = [message["stop_reason"]]
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    if isinstance(usage.get("input_tokens"), int):
        out["gen_ai.usage.input_tokens"] = usage["input_tokens"] + cache_read + cache_write
    if isinstance(usage.get("output_tokens"), int):
        out["gen_ai.usage.output_tokens"] = usage["output_tokens"]
    out["gen_ai.usage.cache_read.input_tokens"] = cache_read
    out["gen_ai.usage.cache_write.input_tokens"] = cache_write
    return out


def attempt(number: int, model: str) -> contextlib.AbstractContextManager[AttemptSpan]:
    """The span of one API attempt, current while it runs; its outcome is ``ok`` or the error's type."""
    # Off: a shared null context, a tenth of a generator context manager's cost.
    return _attempt_span(number, model) if on() else _OFF_ATTEMPT_CONTEXT


@contextlib.contextmanager
def _attempt_span(number: int, model: str) -> Iterator[AttemptSpan]:
    attributes: dict[str, str | int] = {
        "claude_kafka.attempt": number,
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": model,
    }
    with _tracer().start_as_current_span(
        "attempt", attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield AttemptSpan(span)
        except BaseException as exc:
            reason = str(getattr(exc, "type", None) or type(exc).__name__)
            span.set_attribute("claude_kafka.outcome", reason)
            span.set_attribute("error.type", reason)
            span.set_status(Status(StatusCode.ERROR, reason))
            raise
        span.set_attribute("claude_kafka.outcome", "ok")


def send(
    topic: str, key: bytes | None, carried: TraceHeaders, *, link: bool = False
) -> contextlib.AbstractContextManager[TraceHeaders]:
    """A ``send`` span for one final event; gives the trace headers the event carries.

    Beneath the current (``process``) span; with ``link`` (a batch result, hours after its prompt) a new
    trace whose span links to the prompt's recorded context. Off: gives ``carried`` unchanged.
    """
    return _send_span(topic, key, carried, link) if on() else contextlib.nullcontext(carried)


@contextlib.contextmanager
def _send_span(topic: str, key: bytes | None, carried: TraceHeaders, link: bool) -> Iterator[TraceHeaders]:
    attributes: dict[str, str] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": topic,
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    links: list[Link] = []
    token = None
    if link:
        recorded = _extract(carried)
        span_context = trace.get_current_span(recorded).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
        token = context.attach(baggage_only(recorded))
    try:
        with _tracer().start_as_current_span(
            f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes, links=links
        ):
            yield _inject(carried)
    finally:
        if token is not None:
            context.detach(token)


def baggage_only(ctx: context.Context) -> context.Context:
    """``ctx``'s baggage without its span: the root of a new trace that still carries the baggage."""
    out = context.Context()
    for name, value in baggage.get_all(ctx).items():
        out = baggage.set_baggage(name, value, out)
    return out
