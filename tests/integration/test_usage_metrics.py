"""The usage metrics end to end: prompts that refuse, truncate, search the web, write and read the prompt
cache, and go through a batch; /metrics agrees with the completion events. Real broker, emulator, service."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from service.pricing import PriceTable
from tests.integration.test_observability import by_label, finals, scrape, total
from tests.kafkautil import Collector, produce
from tests.services import EmulatorProcess, ServiceProcess, prompt
from tests.waiting import until_sync

pytestmark = pytest.mark.integration

LONG = "The reference manual of the service, repeated so the prefix can be cached. " * 80  # >1024 tokens
WEB_SEARCH = [{"type": "web_search_20250305", "name": "web_search"}]


def cached(custom_id: str, ttl: str) -> tuple[bytes, bytes]:
    """A prompt whose system prompt is a cache breakpoint with ``ttl``."""
    system = [{"type": "text", "text": f"{ttl} {LONG}", "cache_control": {"type": "ephemeral", "ttl": ttl}}]
    return prompt(custom_id, "Summarise it", system=system, max_tokens=400)


def batch(custom_id: str) -> tuple[bytes, bytes]:
    key, value = prompt(custom_id, "Hi", max_tokens=16)
    return key, json.dumps({**json.loads(value), "mode": "batch"}).encode()


async def test_stop_reasons_cache_ttls_server_tools_and_batch_savings_match_the_completions(
    make_settings: Any, tmp_path: Path
) -> None:
    """Stop reasons by label, cache writes by TTL, web searches and batch savings equal what the
    completion events' messages and prices say; the label sets are exported whole, at 0 when unused."""
    with EmulatorProcess(tmp_path / "emulator.log", "--seed", "7", "--batch-time-scale", "0.01") as emulator:
        settings = make_settings(
            anthropic={"base_url": emulator.base_url, "max_retries": 0},
            batch={"max_wait_seconds": 0.5, "poll_seconds": 0.05},
        )
        await create_topics(settings)
        topics = settings.topics
        records = [prompt(f"ok{i}", f"Question {i}", max_tokens=400) for i in range(3)]  # end_turn
        records += [prompt("short", "Tell me a long story", max_tokens=2)]  # max_tokens
        records += [prompt("refused", "x", metadata={"user_id": "emu:refusal=cyber"})]
        records += [prompt("searched", "Please web_search the weather", tools=WEB_SEARCH, max_tokens=1000)]
        records += [cached("cache1h", "1h"), cached("cache5m", "5m")]
        records += [batch(f"batch{i}") for i in range(3)]
        with ServiceProcess(settings, tmp_path / "service.log") as service:
            service.wait_ready()
            await produce(settings, topics.prompts, records)
            async with Collector(settings, [topics.completions, topics.errors]) as collector:
                await collector.until(lambda r: len(finals(r, topics)) >= len(records), within=60)
                until_sync(
                    lambda: total(scrape(service), "claude_kafka_prompts_finished_total") >= len(records),
                    10,
                    "prompts finished counter",
                    every=0.1,
                )
                metrics = scrape(service)
    assert collector.on(topics.errors) == []
    completions = [r.json() for r in collector.on(topics.completions)]
    messages = [c["message"] for c in completions]
    usages = [m["usage"] for m in messages]

    stop_reasons = Counter(m["stop_reason"] for m in messages)
    assert {"end_turn", "max_tokens", "refusal"} <= stop_reasons.keys()
    assert by_label(metrics, "claude_kafka_stop_reasons_total", "stop_reason") == dict(stop_reasons)
    # Every value of the bounded set is exported, at 0 when nothing ended that way.
    exported = {
        dict(labels)["stop_reason"]
        for (name, labels) in metrics
        if name == "claude_kafka_stop_reasons_total" and ("mode", "stream") in labels
    }
    assert "other" in exported and "model_context_window_exceeded" in exported

    for ttl in ("5m", "1h"):
        written = sum((u.get("cache_creation") or {}).get(f"ephemeral_{ttl}_input_tokens", 0) for u in usages)
        assert written > 0, ttl
        assert total(metrics, "claude_kafka_cache_creation_tokens_total", ttl=ttl) == written
    assert total(metrics, "claude_kafka_cache_creation_tokens_total") == total(
        metrics, "claude_kafka_tokens_total", type="cache_creation_input"
    )

    searches = sum((u.get("server_tool_use") or {}).get("web_search_requests", 0) for u in usages)
    assert searches > 0
    assert total(metrics, "claude_kafka_server_tool_requests_total", tool="web_search") == searches
    assert total(metrics, "claude_kafka_server_tool_requests_total", tool="other") == 0

    batched = [c for c in completions if c["mode"] == "batch"]
    assert len(batched) == 3
    table = PriceTable()
    standard = sum(table.cost_usd(c["message"]["model"], c["message"]["usage"]) or 0.0 for c in batched)
    saved = standard - sum(c["cost_usd"] for c in batched)
    assert saved > 0
    assert total(metrics, "claude_kafka_batch_savings_usd_total") == pytest.approx(saved)
