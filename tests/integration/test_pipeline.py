"""The streaming pipeline end to end: real broker, real SDK, the emulator, the service as a process."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from service.events import original_text
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import check_outputs, final_ids, finals, last_offsets, wait_committed
from tests.services import ServiceProcess, prompt

pytestmark = pytest.mark.integration

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}


async def test_thousand_prompts_across_two_instances_each_end_once(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """1,000 prompts on 6 partitions, two instances: one final event each, deltas match, offsets committed."""
    settings = make_settings(
        topics={"partitions": 6}, anthropic={"base_url": emulator_url}, pipeline={"max_in_flight": 200}
    )
    await create_topics(settings)
    records = []
    for i in range(1000):
        text = f"Question {i}"
        if i % 10 == 0:
            # auto tool choice (5.5 models refuse forced tool use): naming the tool makes the call
            extra: dict[str, Any] = {"tools": [WEATHER_TOOL], "tool_choice": {"type": "auto"}}
            text += ": call get_weather"
        elif i % 10 == 1:
            extra = {"thinking": {"type": "adaptive"}, "max_tokens": 2048}
        else:
            extra = {"max_tokens": 30}
        records.append(prompt(f"p{i:04d}", text, **extra))
    expected = {f"p{i:04d}" for i in range(1000)}
    with (
        ServiceProcess(settings, tmp_path / "a.log") as a,
        ServiceProcess(settings, tmp_path / "b.log") as b,
    ):
        a.wait_ready()
        b.wait_ready()
        placed = await produce(settings, settings.topics.prompts, records)
        topics = settings.topics
        async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: final_ids(topics)(r) >= expected, within=120)
            await wait_committed(settings, last_offsets(placed))
            await collector.drain()
            last = check_outputs(collector.records, topics, expected)
    assert {d["_topic"] for d in last.values()} == {topics.completions}
    tool_stops = [d for cid, d in last.items() if int(cid[1:]) % 10 == 0]
    assert all(d["message"]["stop_reason"] == "tool_use" for d in tool_stops)
    thinking = [d for cid, d in last.items() if int(cid[1:]) % 10 == 1]
    assert all(d["message"]["content"][0]["type"] == "thinking" for d in thinking)
    assert all(d["cost_usd"] > 0 for d in last.values())


async def test_sigkill_of_one_instance_loses_nothing(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Killing one of two instances mid-run: every prompt still ends; repeats carry a higher generation."""
    settings = make_settings(
        kafka={"session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
        anthropic={"base_url": emulator_url},
        topics={"partitions": 4},
        pipeline={"max_in_flight": 20},  # work in waves, so the kill finds prompts in flight and queued
    )
    await create_topics(settings)
    slow = {"metadata": {"user_id": "emu:slow_ms=15"}, "max_tokens": 40}
    records = [prompt(f"k{i:03d}", f"Tell me about {i}", **slow) for i in range(300)]
    expected = {f"k{i:03d}" for i in range(300)}
    topics = settings.topics
    with (
        ServiceProcess(settings, tmp_path / "victim.log") as victim,
        ServiceProcess(settings, tmp_path / "survivor.log") as survivor,
    ):
        victim.wait_ready()
        survivor.wait_ready()
        placed = await produce(settings, topics.prompts, records)
        async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: len(finals(r, topics)) >= 30, within=60)
            victim.signal(signal.SIGKILL)
            victim.wait(10)
            await collector.until(lambda r: final_ids(topics)(r) >= expected, within=120)
            await wait_committed(settings, last_offsets(placed))
            await collector.drain()
            last = check_outputs(collector.records, topics, expected)
    assert {d["_topic"] for d in last.values()} == {topics.completions}
    generations = {d["generation"] for d in last.values()}
    assert len(generations) >= 2, "the survivor's rebalance must show as a higher generation"


@pytest.mark.xdist_group("pipeline-faults")  # one worker starts the shared service, not each worker
@pytest.mark.parametrize(
    ("directive", "topic", "attempt", "error_type"),
    [
        ("emu:drop_after=6;times=1;key={id}", "completions", 2, None),
        ("emu:truncate_after=6;times=1;key={id}", "completions", 2, None),
        ("emu:sse_error_after=4;error=overloaded_error;times=1;key={id}", "completions", 2, None),
        ("emu:status=429;retry_after_ms=100;times=1;key={id}", "completions", 1, None),
        ("emu:status=529;times=1;key={id}", "completions", 1, None),
        ("emu:status=500;times=1;key={id}", "completions", 1, None),
        ("emu:status=400;error=invalid_request_error", "errors", 1, "invalid_request_error"),
        # Lasting causes: one request (no SDK retry, no new attempt), retryable false, the API's code.
        ("emu:status=429;code=enforced_spend_limit_reached", "errors", 1, "rate_limit_error"),
        ("emu:status=400;code=organization_on_hold", "errors", 1, "invalid_request_error"),
        ("emu:status=529", "errors", 3, "attempts_exhausted"),
        ("emu:sse_error_after=2;error=overloaded_error", "errors", 3, "attempts_exhausted"),
    ],
)
async def test_api_faults_end_in_the_documented_outcome(
    make_settings: Any,
    emulator_url: str,
    tmp_path: Path,
    directive: str,
    topic: str,
    attempt: int,
    error_type: str | None,
    service_for_faults: Any,
) -> None:
    """Mid-stream drops, truncation and SSE errors retry as a new attempt; HTTP faults retry in the SDK;
    an error whose error_code lasts ends at once with that code."""
    settings, collector = service_for_faults
    custom_id = f"f{abs(hash(directive)) % 10**8}"
    params = {"metadata": {"user_id": directive.format(id=custom_id)}, "max_tokens": 50}
    await produce(settings, settings.topics.prompts, [prompt(custom_id, "fault", **params)])
    topics = settings.topics
    records = await collector.until(
        lambda r: any(x.key == custom_id.encode() for x in finals(r, topics)), within=60
    )
    outcome = next(x for x in finals(records, topics) if x.key == custom_id.encode())
    document = outcome.json()
    assert outcome.topic == getattr(topics, topic)
    assert document["attempt"] == attempt
    if error_type is not None:
        assert document["error"]["type"] == error_type
        assert document["retryable"] is (error_type == "attempts_exhausted")
        assert json.loads(document["original"])["custom_id"] == custom_id
        code = dict(part.split("=", 1) for part in directive[4:].split(";")).get("code")
        assert document["error"]["code"] == code


@pytest.fixture(scope="module")
async def service_for_faults(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap: str,
    emulator_url: str,
    embedded_idempotence: bool,
) -> Any:
    """One service instance shared by the fault table (MAX_ATTEMPTS=3, fast backoff, one SDK retry)."""
    from service.settings import load_settings

    prefix = f"faults{int(time.time() * 1000) % 10**8}"
    settings = load_settings(
        env_file=None,
        kafka={"bootstrap_servers": kafka_bootstrap, "group_id": f"{prefix}-group", "enable_idempotence": embedded_idempotence,
               "session_timeout_ms": 6_000, "heartbeat_interval_ms": 500},
        topics={
            "prompts": f"{prefix}.prompts", "deltas": f"{prefix}.deltas", "completions": f"{prefix}.completions",
            "errors": f"{prefix}.errors", "batches": f"{prefix}.batches", "partitions": 2,
        },
        anthropic={"api_key": "sk-ant-test", "base_url": emulator_url, "max_retries": 2},
        # Each row is one prompt's own outcome; the organisation circuit breaker (which would hold the
        # rows after a spend limit, as it should for a real organisation) has its own tests.
        pipeline={"max_attempts": 3, "retry_backoff_seconds": 0.05, "retry_backoff_max_seconds": 0.2,
                  "circuit_breaker": False},
    )  # fmt: skip
    await create_topics(settings)
    topics = settings.topics
    with ServiceProcess(settings, tmp_path_factory.mktemp("faults") / "service.log") as service:
        service.wait_ready()
        async with Collector(settings, [topics.completions, topics.errors]) as collector:
            yield settings, collector


async def test_poison_records_go_to_the_errors_topic_with_their_bytes(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Each kind of bad record becomes an ErrorEvent carrying the original; good prompts around it complete."""
    settings = make_settings(
        anthropic={"base_url": emulator_url},
        pipeline={"max_prompt_bytes": 4096, "allowed_models": "claude-haiku-4-5", "max_tokens_cap": 1000},
    )
    await create_topics(settings)
    poison: list[tuple[bytes | None, bytes]] = [
        (b"bin", b"\xff\xfe\xfd not utf-8"),
        (b"txt", b"this is not json"),
        (b"arr", b"[1, 2, 3]"),
        (b"schema", json.dumps({"custom_id": "bad id!", "params": {}}).encode()),
        (b"big", json.dumps({"custom_id": "big", "pad": "x" * 5000}).encode()),
        (None, json.dumps({"custom_id": "bad-params", "params": {"model": "m", "max_tokens": "9"}}).encode()),
        prompt("wrong-model", model="claude-opus-4-1"),
        prompt("too-many-tokens", max_tokens=5000),
    ]
    good = [prompt(f"good{i}") for i in range(6)]
    records = [item for pair in zip(good, poison, strict=False) for item in pair] + poison[len(good) :]
    topics = settings.topics
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        placed = await produce(settings, topics.prompts, records, headers=[("traceparent", TRACEPARENT)])
        async with Collector(settings, [topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: len(r) >= len(records), within=60)
            await wait_committed(settings, last_offsets(placed))
        assert service.get("/healthz")[0] == 200
    for record in collector.records:  # CloudEvents binary-mode headers, and the trace carried through
        assert record.headers["traceparent"] == TRACEPARENT
        assert record.headers["ce_specversion"] == b"1.0"
        assert record.headers["content-type"] == b"application/json"
        kind = "completion" if record.topic == topics.completions else "error"
        assert record.headers["ce_type"] == f"com.anthropic.claude-kafka.{kind}.v1".encode()
        assert {"ce_id", "ce_source", "ce_time"} <= set(record.headers)
    errors = [r.json() for r in collector.on(topics.errors)]
    completions = {r.json()["custom_id"] for r in collector.on(topics.completions)}
    assert completions == {f"good{i}" for i in range(6)}
    expected_types = {
        b"bin": "invalid_encoding", b"txt": "invalid_json", b"arr": "invalid_prompt", b"schema": "invalid_prompt",
        b"big": "prompt_too_large", b"wrong-model": "model_not_allowed", b"too-many-tokens": "max_tokens_exceeded",
        None: "invalid_prompt",
    }  # fmt: skip
    # A record with a readable, valid custom_id gets it on its error event, and as the record key.
    expected_ids = {b"big": "big", b"wrong-model": "wrong-model", b"too-many-tokens": "too-many-tokens",
                    None: "bad-params"}  # fmt: skip
    by_original = {r.json()["original"]: r for r in collector.on(topics.errors)}
    assert len(errors) == len(poison)
    for key, value in poison:
        original, encoding = original_text(value)
        match = [e for e in errors if (e["original"], e["original_encoding"]) == (original, encoding)]
        assert len(match) == 1, key
        assert match[0]["error"]["type"] == expected_types[key]
        assert match[0]["custom_id"] == expected_ids.get(key), key
        record_key = by_original[original].key
        assert record_key == (expected_ids[key].encode() if key in expected_ids else None), key
        assert match[0]["retryable"] is False
        assert match[0]["source"]["topic"] == topics.prompts


async def test_sigterm_drains_in_flight_prompts_and_exits_zero(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """SIGTERM mid-stream: in-flight prompts finish within the grace period, offsets commit, exit code 0."""
    settings = make_settings(anthropic={"base_url": emulator_url}, pipeline={"shutdown_grace_seconds": 20})
    await create_topics(settings)
    records = [prompt(f"d{i:02d}", metadata={"user_id": "emu:slow_ms=50"}, max_tokens=60) for i in range(40)]
    topics = settings.topics
    with ServiceProcess(settings, tmp_path / "service.log") as service:
        service.wait_ready()
        placed = await produce(settings, topics.prompts, records)
        async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: len(r) >= 40, within=30)  # streams are under way
            started = time.monotonic()
            service.signal(signal.SIGTERM)
            assert service.wait(30) == 0
            elapsed = time.monotonic() - started
            await collector.until(lambda r: len(finals(r, topics)) >= 40, within=30)
    assert elapsed < 20
    assert {r.json()["custom_id"] for r in finals(collector.records, topics)} == {
        f"d{i:02d}" for i in range(40)
    }
    await wait_committed(settings, last_offsets(placed), within=5)
    phases = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    draining = next(p for p in phases if p["msg"] == "draining")
    drained = next(p for p in phases if p["msg"] == "drained")
    assert draining["in_flight"] > 0, "SIGTERM should have found prompts in flight"
    assert drained["finished"] == draining["in_flight"] and drained["cancelled"] == 0
    assert phases[-1]["msg"] == "stopped"
