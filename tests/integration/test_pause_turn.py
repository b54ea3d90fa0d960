"""pause_turn end to end: real broker, the emulator's server tools, the service as a process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import DeltaEvent
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import check_outputs, final_ids
from tests.services import ServiceProcess, prompt

pytestmark = pytest.mark.integration

SEARCH = {"type": "web_search_20250305", "name": "web_search"}


async def test_paused_turns_are_continued_into_one_completion(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """A twice-paused turn ends as one completion: content concatenated, usage summed, deltas in order."""
    settings = make_settings(
        anthropic={"base_url": emulator_url}, pipeline={"pause_turn_max_continuations": 3}
    )
    await create_topics(settings)
    records = [
        prompt(
            "paused-2",
            "look this up with web search",
            max_tokens=1024,
            tools=[SEARCH],
            metadata={"user_id": "emu:pause_turns=2"},
        ),
        # More pauses than continuations allowed: delivered still paused after 1 + 3 requests.
        prompt(
            "paused-9",
            "look this up with web search",
            max_tokens=1024,
            tools=[SEARCH],
            metadata={"user_id": "emu:pause_turns=9"},
        ),
    ]
    expected = {"paused-2", "paused-9"}
    with ServiceProcess(settings, tmp_path / "svc.log") as service:
        service.wait_ready()
        await produce(settings, settings.topics.prompts, records)
        topics = settings.topics
        async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
            await collector.until(lambda r: final_ids(topics)(r) >= expected, within=60)
            await collector.drain()
            last = check_outputs(collector.records, topics, expected)  # one final each, seq gap-free
    assert {d["_topic"] for d in last.values()} == {topics.completions}
    deltas = {
        cid: sorted(
            (
                e
                for e in (
                    DeltaEvent.model_validate_json(r.value or b"")
                    for r in collector.records
                    if r.topic == topics.deltas
                )
                if e.custom_id == cid
            ),
            key=lambda e: e.seq,
        )
        for cid in expected
    }
    for cid, requests, stop_reason in (("paused-2", 3, "end_turn"), ("paused-9", 4, "pause_turn")):
        message = last[cid]["message"]
        events = [e.event for e in deltas[cid]]
        starts = [e for e in events if e["type"] == "message_start"]
        ends = [e for e in events if e["type"] == "message_delta"]
        assert len(starts) == len(ends) == requests
        # Each request's events come whole and in order: start ... delta, stop, before the next start.
        kinds = [e["type"] for e in events if e["type"] in ("message_start", "message_delta", "message_stop")]
        assert kinds == ["message_start", "message_delta", "message_stop"] * requests
        assert [e["delta"]["stop_reason"] for e in ends] == ["pause_turn"] * (requests - 1) + [stop_reason]
        assert message["stop_reason"] == stop_reason
        blocks = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
        assert [b["type"] for b in message["content"]] == blocks
        assert blocks.count("server_tool_use") == min(requests, 2 if cid == "paused-2" else requests)
        usage = message["usage"]
        assert usage["output_tokens"] == sum(e["usage"]["output_tokens"] for e in ends)
        assert usage["input_tokens"] == sum(e["message"]["usage"]["input_tokens"] for e in starts)
        assert usage["server_tool_use"]["web_search_requests"] == blocks.count("server_tool_use")
        assert last[cid]["cost_usd"] is None or last[cid]["cost_usd"] > 0
