"""OpenTelemetry traces end to end: the real service exports to a real OTLP/HTTP receiver, and the
spans, their parents and links, and the trace headers on the outputs agree. Real broker and emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.integration.batch_helpers import batch_prompt
from tests.kafkautil import Collector, Record, produce
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.services import EmulatorProcess, ServiceProcess, prompt
from tests.waiting import until

pytestmark = pytest.mark.integration

PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
TRACE_HEADERS = [
    ("traceparent", f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01".encode()),
    ("tracestate", b"vendor=abc123"),
    ("baggage", b"tenant=acme,region=eu"),
]
OTEL_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "claude-kafka-test"}


def fault(custom_id: str, directive: str) -> tuple[bytes, bytes]:
    return prompt(custom_id, "fault", metadata={"user_id": directive}, max_tokens=60)


def traceparent_of(record: Record) -> tuple[str, str]:
    """(trace id, span id) of a record's traceparent."""
    _, trace_id, span_id, _ = record.headers["traceparent"].decode().split("-")
    return trace_id, span_id


def process_span(receiver: OtlpReceiver, prompts_topic: str, key: str) -> ReceivedSpan:
    found = [
        s
        for s in receiver.named(f"process {prompts_topic}")
        if s.attributes.get("messaging.kafka.message.key") == key
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def batch_emulator(tmp_path: Path) -> Any:
    """An emulator whose batches end in about a second (so one test covers both modes)."""
    with EmulatorProcess(
        tmp_path / "emulator.log", "--seed", "3", "--batch-time-scale", "0.003", "--output-tokens", "8"
    ) as emulator:
        yield emulator


async def test_one_prompt_is_one_trace_beneath_its_producer_span(
    make_settings: Any, batch_emulator: Any, tmp_path: Path
) -> None:
    """process (child of the producer's span) > attempt > the SDK's span; send spans beneath process;
    outputs carry the send or attempt span's traceparent, the tracestate and the baggage; a batch
    result's send span starts a new trace linked to the prompt's."""
    settings = make_settings(
        topics={"partitions": 1},
        anthropic={"base_url": batch_emulator.base_url, "max_retries": 0},
        pipeline={"max_attempts": 3, "retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.05},
        batch={"max_wait_seconds": 0.5, "poll_seconds": 0.05},
    )
    await create_topics(settings)
    topics = settings.topics
    records = [
        prompt("ok1", "Hello there"),
        fault("drop1", "emu:drop_after=6;times=1;key=drop1"),  # a broken attempt, then a completion
        fault("bad400", "emu:status=400;error=invalid_request_error"),
        batch_prompt("batch1"),
    ]
    with OtlpReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **OTEL_ENV}
        with ServiceProcess(settings, tmp_path / "service.log", **env) as service:
            service.wait_ready()
            await produce(settings, topics.prompts, records, headers=TRACE_HEADERS)
            async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as seen:
                finals = lambda r: [x for x in r if x.topic != topics.deltas]  # noqa: E731
                await seen.until(lambda r: len(finals(r)) >= len(records), within=60)
                await until(lambda: len(receiver.named(f"send {topics.completions}")) >= 3, 20, "send spans")
                await until(lambda: len(receiver.named(f"send {topics.errors}")) >= 1, 20, "error send span")
                await seen.drain()
    by_key = {r.key.decode(): r for r in seen.records if r.topic != topics.deltas and r.key}

    # The process span: a child of the producer's span, with the messaging attributes.
    ok = process_span(receiver, topics.prompts, "ok1")
    assert (ok.trace_id, ok.parent_span_id, ok.kind) == (PRODUCER_TRACE, PRODUCER_SPAN, "CONSUMER")
    assert ok.service_name == "claude-kafka-test"
    assert {k: v for k, v in ok.attributes.items() if k != "messaging.kafka.offset"} == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topics.prompts,
        "messaging.destination.partition.id": "0",
        "messaging.consumer.group.name": settings.kafka.group_id,
        "messaging.kafka.message.key": "ok1",
    }
    assert isinstance(ok.attributes["messaging.kafka.offset"], int)

    # Beneath it: one attempt (with the SDK's own GenAI span beneath that), then the send span.
    children = {s.name: s for s in receiver.children(ok)}
    assert set(children) == {"attempt", f"send {topics.completions}"}
    attempt = children["attempt"]
    assert attempt.attributes["claude_kafka.attempt"] == 1
    assert attempt.attributes["claude_kafka.outcome"] == "ok"
    assert attempt.attributes["gen_ai.request.model"] == "claude-haiku-4-5"
    completion = by_key["ok1"].json()
    usage = completion["message"]["usage"]
    assert attempt.attributes["gen_ai.usage.output_tokens"] == usage["output_tokens"]
    assert attempt.attributes["gen_ai.usage.input_tokens"] == (
        usage["input_tokens"] + (usage.get("cache_read_input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
    )  # fmt: skip
    assert attempt.attributes["gen_ai.response.finish_reasons"] == [completion["message"]["stop_reason"]]
    sdk = receiver.children(attempt)
    assert [(s.name, s.kind, s.scope) for s in sdk] == [
        ("anthropic.messages.create", "CLIENT", "com.anthropic.sdk.python")
    ]
    assert sdk[0].attributes["gen_ai.request.model"] == "claude-haiku-4-5"
    send = children[f"send {topics.completions}"]
    assert send.kind == "PRODUCER"
    assert send.attributes["messaging.destination.name"] == topics.completions

    # The outputs: the completion carries the send span's context, the deltas the attempt span's.
    final = by_key["ok1"]
    assert traceparent_of(final) == (PRODUCER_TRACE, send.span_id)
    assert final.headers["tracestate"] == b"vendor=abc123"
    assert set(final.headers["baggage"].decode().split(",")) == {"tenant=acme", "region=eu"}
    deltas = [r for r in seen.on(topics.deltas) if r.key == b"ok1"]
    assert deltas and {traceparent_of(d) for d in deltas} == {(PRODUCER_TRACE, attempt.span_id)}
    assert all(
        d.headers["tracestate"] == b"vendor=abc123" and b"tenant=acme" in d.headers["baggage"] for d in deltas
    )

    # A broken stream: two attempts beneath one process span, the first with its error type.
    dropped = process_span(receiver, topics.prompts, "drop1")
    attempts = sorted(
        (s for s in receiver.children(dropped) if s.name == "attempt"),
        key=lambda s: s.attributes["claude_kafka.attempt"],
    )
    assert [(s.attributes["claude_kafka.outcome"], s.status) for s in attempts] == [
        ("stream_interrupted", "ERROR"),
        ("ok", "UNSET"),
    ]

    # A refused request: the error event's send span, beneath the process span.
    refused = process_span(receiver, topics.prompts, "bad400")
    sends = [s for s in receiver.children(refused) if s.name == f"send {topics.errors}"]
    assert len(sends) == 1 and traceparent_of(by_key["bad400"]) == (PRODUCER_TRACE, sends[0].span_id)
    assert by_key["bad400"].headers["tracestate"] == b"vendor=abc123"

    # Batch mode: the result's send span is a new trace, linked to the prompt's recorded context.
    batch_final = by_key["batch1"]
    batch_trace, batch_span = traceparent_of(batch_final)
    linked = [s for s in receiver.named(f"send {topics.completions}") if s.span_id == batch_span]
    assert len(linked) == 1
    assert batch_trace != PRODUCER_TRACE and linked[0].parent_span_id == ""
    assert linked[0].links == ((PRODUCER_TRACE, PRODUCER_SPAN),)
    assert batch_final.headers["tracestate"] == b"vendor=abc123"
    assert b"tenant=acme" in batch_final.headers["baggage"]
    print(json.dumps(trace_report(receiver, ok), indent=1))  # the report's "one prompt's trace"


def trace_report(receiver: OtlpReceiver, root: ReceivedSpan, depth: int = 0) -> list[Any]:
    """The span tree below ``root``: name, kind, span id, parent id and attributes, for reading."""
    out: list[Any] = [
        {"depth": depth, "name": root.name, "kind": root.kind, "span_id": root.span_id,
         "parent_span_id": root.parent_span_id, "attributes": root.attributes}
    ]  # fmt: skip
    for child in receiver.children(root):
        out += trace_report(receiver, child, depth + 1)
    return out


async def test_without_a_traces_exporter_nothing_is_exported(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """OTEL_TRACES_EXPORTER=none (even with an endpoint set): no span reaches the receiver, and the
    outputs carry the prompt's trace headers exactly as they came."""
    settings = make_settings(topics={"partitions": 1}, anthropic={"base_url": emulator_url})
    await create_topics(settings)
    topics = settings.topics
    with OtlpReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_TRACES_EXPORTER": "none", **OTEL_ENV}
        with ServiceProcess(settings, tmp_path / "service.log", **env) as service:
            service.wait_ready()
            await produce(settings, topics.prompts, [prompt("quiet")], headers=TRACE_HEADERS)
            async with Collector(settings, [topics.deltas, topics.completions]) as seen:
                await seen.until(lambda r: any(x.topic == topics.completions for x in r), within=30)
        assert "tracing on" not in service.log()
    assert receiver.requests == 0 and receiver.spans == []
    assert seen.records and all(
        [(k, r.headers[k]) for k, _ in TRACE_HEADERS] == TRACE_HEADERS for r in seen.records
    )
