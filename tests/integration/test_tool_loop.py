"""Tool loops end to end: real broker, the emulator, the service as a process, the reference worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from schemas import CompletionEvent, DeltaEvent, ToolCallEvent, ToolResultEvent
from service.agents.tools import TOOL_SPECS
from service.agents.worker import ToolWorker
from service.kafka.topics import create_topics
from service.settings import Settings
from tests.kafkautil import Collector, Record, produce
from tests.services import ServiceProcess, prompt

pytestmark = pytest.mark.integration

SEARCH = {"type": "web_search_20250305", "name": "web_search"}
WEATHER = {
    "name": "weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def loop_prompt(custom_id: str, tools: list[dict[str, Any]], rounds: int, **loop: Any) -> tuple[bytes, bytes]:
    """A prompt naming its tools, whose emulated model wants ``rounds`` rounds of tool results."""
    names = " and the ".join(t["name"] for t in tools)
    directive = f"emu:tool_rounds={rounds}" + (";pause_turns=1" if any("type" in t for t in tools) else "")
    key, value = prompt(
        custom_id,
        f"Use the {names} tool to answer.",
        max_tokens=1000,
        tools=tools,
        metadata={"user_id": directive},
    )
    return key, json.dumps({**json.loads(value), "loop": loop}).encode()


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[ToolWorker]:
    """The reference worker (calculator and clock) in this process, stopped on exit."""
    tool_worker = ToolWorker(settings, f"{settings.kafka.group_id}.tools", TOOL_SPECS)
    task = asyncio.create_task(tool_worker.run())
    try:
        yield tool_worker
    finally:
        tool_worker.request_stop()
        await asyncio.wait_for(task, 30)


def of(records: list[Record], topic: str, custom_id: str, model: Any) -> list[Any]:
    events = [model.model_validate_json(r.value or b"") for r in records if r.topic == topic]
    return [e for e in events if e.custom_id == custom_id]


async def test_three_turn_loop_runs_its_tools_over_kafka(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Two tool rounds and a final answer: calls, results, one gap-free delta stream, summed usage, turns=3."""
    settings = make_settings(anthropic={"base_url": emulator_url})
    await create_topics(settings)
    topics = settings.topics
    watched = [topics.deltas, topics.completions, topics.errors, topics.tool_calls, topics.tool_results]
    with ServiceProcess(settings, tmp_path / "svc.log") as service:
        service.wait_ready()
        async with worker(settings), Collector(settings, watched) as collector:
            await produce(
                settings,
                topics.prompts,
                [
                    loop_prompt(
                        "loop-3", [TOOL_SPECS["calculator"]], 2, max_iterations=5, tool_timeout_seconds=30
                    )
                ],
            )
            await collector.until(
                lambda rs: any(r.topic in (topics.completions, topics.errors) for r in rs), 60
            )
            await collector.drain()
    records = collector.records
    assert not collector.on(topics.errors), service.log()
    (completion,) = of(records, topics.completions, "loop-3", CompletionEvent)
    calls = of(records, topics.tool_calls, "loop-3", ToolCallEvent)
    results = of(records, topics.tool_results, "loop-3", ToolResultEvent)
    assert [(c.turn, c.name) for c in calls] == [(1, "calculator"), (2, "calculator")]
    assert [r.tool_use_id for r in results] == [c.tool_use_id for c in calls]
    assert all(not r.is_error and str(r.content).lstrip("-").isdigit() for r in results)
    deltas = sorted(of(records, topics.deltas, "loop-3", DeltaEvent), key=lambda d: d.seq)
    assert {(d.generation, d.attempt) for d in deltas} == {(completion.generation, completion.attempt)}
    assert [d.seq for d in deltas] == list(range(len(deltas)))
    kinds = [d.event["type"] for d in deltas if d.event["type"] in ("message_start", "message_stop")]
    assert kinds == ["message_start", "message_stop"] * 3
    stops = [d.event["delta"]["stop_reason"] for d in deltas if d.event["type"] == "message_delta"]
    assert stops == ["tool_use", "tool_use", "end_turn"]
    assert completion.turns == 3 and completion.message["stop_reason"] == "end_turn"
    usage = completion.message["usage"]
    starts = [d.event["message"]["usage"] for d in deltas if d.event["type"] == "message_start"]
    ends = [d.event["usage"] for d in deltas if d.event["type"] == "message_delta"]
    assert usage["input_tokens"] == sum(u["input_tokens"] for u in starts)
    assert usage["output_tokens"] == sum(u["output_tokens"] for u in ends)
    assert starts[2]["input_tokens"] > starts[1]["input_tokens"] > starts[0]["input_tokens"]  # history grows
    assert completion.cost_usd is None or completion.cost_usd > 0


async def test_timeout_and_max_iterations_end_loops(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """An unanswered call becomes an error result Claude answers; a loop at max_iterations ends as it stands;
    runs waiting for results hold no stream slot (MAX_IN_FLIGHT=1, two runs wait at once)."""
    settings = make_settings(anthropic={"base_url": emulator_url}, pipeline={"max_in_flight": 1})
    await create_topics(settings)
    topics = settings.topics
    watched = [topics.deltas, topics.completions, topics.errors, topics.tool_calls, topics.tool_results]
    prompts = [
        # Nobody runs `weather`: the call times out, Claude is told, and answers in text.
        loop_prompt("timed-out", [WEATHER], 1, tool_timeout_seconds=4),
        loop_prompt("timed-out-2", [WEATHER], 1, tool_timeout_seconds=4),
        # The model would call tools 9 times; the loop stops after 2 requests, still asking.
        loop_prompt("capped", [TOOL_SPECS["calculator"]], 9, max_iterations=2, tool_timeout_seconds=30),
        # A server tool that pauses (pause_turn) inside the loop's turns: continued within each turn.
        loop_prompt("paused", [SEARCH, TOOL_SPECS["calculator"]], 1, tool_timeout_seconds=30),
    ]
    with ServiceProcess(settings, tmp_path / "svc.log") as service:
        service.wait_ready()
        async with worker(settings), Collector(settings, watched) as collector:
            await produce(settings, topics.prompts, prompts)
            await collector.until(lambda rs: len([r for r in rs if r.topic == topics.completions]) >= 4, 60)
            await collector.drain()
    records = collector.records
    assert not collector.on(topics.errors), service.log()
    (timed_out,) = of(records, topics.completions, "timed-out", CompletionEvent)
    assert timed_out.turns == 2 and timed_out.message["stop_reason"] == "end_turn"
    assert [c.name for c in of(records, topics.tool_calls, "timed-out", ToolCallEvent)] == ["weather"]
    assert of(records, topics.tool_results, "timed-out", ToolResultEvent) == []
    (capped,) = of(records, topics.completions, "capped", CompletionEvent)
    assert capped.turns == 2 and capped.message["stop_reason"] == "tool_use"
    (paused,) = of(records, topics.completions, "paused", CompletionEvent)
    paused_deltas = of(records, topics.deltas, "paused", DeltaEvent)
    stops = [
        d.event["delta"]["stop_reason"]
        for d in sorted(paused_deltas, key=lambda d: d.seq)
        if d.event["type"] == "message_delta"
    ]
    # The emulator pauses each turn's first server call: 4 requests, 2 turns, each pause continued.
    assert stops == ["pause_turn", "tool_use", "pause_turn", "end_turn"]
    assert paused.turns == 2 and paused.message["usage"]["server_tool_use"]["web_search_requests"] == 2
    assert [c.name for c in of(records, topics.tool_calls, "paused", ToolCallEvent)] == ["calculator"]
    capped_calls = of(records, topics.tool_calls, "capped", ToolCallEvent)
    assert [c.turn for c in capped_calls] == [1]  # turn 2's calls are not published
    # Both weather calls were out before either run ended: the first waiting run gave its only slot back.
    order = [(r.topic, json.loads(r.value or b"{}").get("custom_id")) for r in records]
    first_end = min(order.index((topics.completions, cid)) for cid in ("timed-out", "timed-out-2"))
    assert order.index((topics.tool_calls, "timed-out")) < first_end
    assert order.index((topics.tool_calls, "timed-out-2")) < first_end
