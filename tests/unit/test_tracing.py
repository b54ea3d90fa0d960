"""service.tracing: when the environment turns tracing on, which exporter it names, and that off costs
nothing (no provider, no exporter, the trace headers copied as they came)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from opentelemetry import trace

from service import tracing
from service.errors import ConfigError

CARRIED = (("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("baggage", b"a=1"))


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),  # naming the service asks for nothing
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, True),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask_for_traces(env: dict[str, str], wanted: bool) -> None:
    """An endpoint or a traces exporter turns tracing on; none or OTEL_SDK_DISABLED keeps it off."""
    assert tracing.wanted(env) is wanted


@pytest.mark.parametrize(
    ("env", "entry_points"),
    [
        ({}, ["otlp_proto_http"]),  # the specification's default protocol, which the extra ships
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ["otlp_proto_grpc"]),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            ["otlp_proto_http"],
        ),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_http"}, ["otlp_proto_http"]),
    ],
)
def test_otel_traces_exporter_names_the_sdk_entry_points(
    env: dict[str, str], entry_points: list[str]
) -> None:
    """``otlp`` resolves through the OTLP protocol variables; other names are entry points as given."""
    assert tracing.exporter_entry_points(env) == entry_points


def test_an_unknown_otlp_protocol_is_one_config_error() -> None:
    """A protocol that is neither http/protobuf nor grpc stops start-up with its value named."""
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL=http/json"):
        tracing.exporter_entry_points({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_without_otel_variables_no_provider_and_no_exporter_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off: ``install`` builds nothing and the global tracer provider stays the API's no-op proxy."""
    built: list[str] = []
    monkeypatch.setattr(tracing, "exporter_entry_points", lambda env: built.append("asked") or [])
    assert tracing.install("test", {}) is False
    assert built == [] and not tracing.on()
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"


def test_tracing_asked_for_without_the_sdk_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT set and the [otel] extra missing: one ConfigError naming the fix."""
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # what an absent package looks like
    with pytest.raises(ConfigError) as raised:
        tracing.install("test", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert "\n" not in str(raised.value) and "pip install 'claude-kafka[otel]'" in str(raised.value)


def test_an_exporter_that_is_not_installed_stops_with_one_line() -> None:
    """OTEL_TRACES_EXPORTER naming no installed exporter is a ConfigError, before any provider is set."""
    with pytest.raises(ConfigError, match="no trace exporter 'zipkin_json'"):
        tracing.install("test", {"OTEL_TRACES_EXPORTER": "zipkin_json"})
    assert not tracing.on()


async def test_off_every_call_is_a_pass_through() -> None:
    """Off: outputs get the headers as carried, the attempt handle ignores answers, intake is unwrapped."""

    def start(record: Any) -> Any:
        return record

    assert tracing.outgoing(CARRIED) is CARRIED
    with tracing.send("t", b"k", CARRIED) as carried:
        assert carried is CARRIED
    with tracing.attempt(1, "m") as span:
        span.answered({"usage": {"input_tokens": 1}})
    assert tracing.traced_intake(start, "g") is start


def test_incoming_keeps_only_the_trace_headers_in_order() -> None:
    """traceparent, tracestate and baggage pass; every other header of the prompt record stays behind."""
    headers = (("ce_id", b"x"), ("traceparent", b"00-a-b-01"), ("baggage", b"a=1"), ("tracestate", b"v=1"))
    assert tracing.incoming(headers) == (
        ("traceparent", b"00-a-b-01"),
        ("baggage", b"a=1"),
        ("tracestate", b"v=1"),
    )


@pytest.mark.parametrize(
    ("usage", "input_tokens", "cache_read", "cache_write"),
    [
        ({"input_tokens": 10, "output_tokens": 5}, 10, 0, 0),
        ({"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 900}, 910, 900, 0),
        (
            {
                "input_tokens": 3,
                "output_tokens": 5,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 40,
            },
            143,
            100,
            40,
        ),
    ],
)
def test_genai_input_tokens_include_the_cache_tokens_the_api_leaves_out(
    usage: dict[str, int], input_tokens: int, cache_read: int, cache_write: int
) -> None:
    """The API's input_tokens excludes cache reads and writes; gen_ai.usage.input_tokens adds them."""
    attributes = tracing.answer_attributes(
        {"id": "msg_1", "model": "claude-haiku-4-5", "stop_reason": "end_turn", "usage": usage}
    )
    assert attributes == {
        "gen_ai.response.id": "msg_1",
        "gen_ai.response.model": "claude-haiku-4-5",
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": cache_read,
        "gen_ai.usage.cache_write.input_tokens": cache_write,
    }


def test_a_hand_off_entry_keeps_the_trace_headers_and_reads_old_records() -> None:
    """Entries carry traceparent, tracestate and baggage; one written before tracestate existed reads too."""
    from service.batch.records import Entry

    base = {"custom_id": "a", "generation": 1, "attempt": 1, "timestamp_ms": 0, "params": "{}"}
    source = {"topic": "p", "partition": 0, "offset": 3}
    old = Entry.model_validate_json(json.dumps({**base, "source": source, "traceparent": "00-a-b-01"}))
    assert old.trace == (("traceparent", b"00-a-b-01"),)
    new = Entry.model_validate({**base, "source": source, "traceparent": "00-a-b-01", "baggage": "k=v"})
    assert Entry.model_validate_json(new.model_dump_json()).trace == (
        ("traceparent", b"00-a-b-01"),
        ("baggage", b"k=v"),
    )
