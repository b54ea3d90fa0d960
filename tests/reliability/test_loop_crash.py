"""SIGKILL during tool loops: a finished turn is never requested again, and nothing is lost.

The emulator runs in this process so its request log counts what each loop asked of the API. Each
scenario kills the only service instance at one step of a three-turn loop, starts another, and checks
the run ends with one completion (turns=3) whose deltas are one complete stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from schemas import CompletionEvent, DeltaEvent, ToolCallEvent
from service.agents.tools import TOOL_SPECS
from service.agents.worker import ToolWorker
from service.emulator import Emulator, EmulatorConfig
from service.kafka.topics import create_topics
from service.settings import Settings
from tests.kafkautil import Collector, Record, produce
from tests.services import prompt

pytestmark = pytest.mark.integration

Condition = Callable[[list[Record], Any], bool]


def starts(records: list[Record], topics: Any) -> int:
    """message_start deltas seen so far (every generation): requests streamed, or turns replayed."""
    return sum(
        1 for r in records if r.topic == topics.deltas and b'"type":"message_start"' in (r.value or b"")[:400]
    )


def calls(records: list[Record], topics: Any) -> list[ToolCallEvent]:
    return [
        ToolCallEvent.model_validate_json(r.value or b"") for r in records if r.topic == topics.tool_calls
    ]


# (scenario, worker running before the kill, kill when, requests expected, calls published per turn)
SCENARIOS: list[tuple[str, bool, Condition, int, dict[int, int]]] = [
    ("mid-turn 1", True, lambda rs, t: starts(rs, t) >= 1, 4, {1: 1, 2: 1}),
    ("after turn 1's call is published", False, lambda rs, t: len(calls(rs, t)) >= 1, 3, {1: 2, 2: 1}),
    (
        "after turn 2's result (turn 3 in flight)",
        True,
        lambda rs, t: starts(rs, t) >= 3 and any(r.topic == t.tool_results for r in rs),
        4,
        {1: 1, 2: 1},
    ),
]


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[None]:
    tool_worker = ToolWorker(settings, f"{settings.kafka.group_id}.tools", TOOL_SPECS)
    task = asyncio.create_task(tool_worker.run())
    try:
        yield
    finally:
        tool_worker.request_stop()
        await asyncio.wait_for(task, 30)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("name", "worker_first", "kill_when", "requests", "published"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
async def test_sigkill_during_a_tool_loop_requests_only_the_turn_in_flight_again(
    make_settings: Any,
    fleet_factory: Any,
    name: str,
    worker_first: bool,
    kill_when: Condition,
    requests: int,
    published: dict[int, int],
) -> None:
    """After a SIGKILL at this step the new owner resumes: turns requested twice = only the one in flight."""
    async with Emulator(EmulatorConfig(seed=7)) as emulator:
        settings = make_settings(
            anthropic={"base_url": emulator.base_url},
            kafka={"session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
            pipeline={"rebalance_grace_seconds": 1.0},
        )
        await create_topics(settings)
        topics = settings.topics
        marker = "emu:tool_rounds=2;slow_ms=60"
        key, value = prompt(
            "crash-loop", "Use the calculator tool.", max_tokens=300, tools=[TOOL_SPECS["calculator"]],
            metadata={"user_id": marker},
        )  # fmt: skip
        value = json.dumps({**json.loads(value), "loop": {"tool_timeout_seconds": 120}}).encode()
        fleet = fleet_factory(settings)
        fleet.start("a")
        watched = [topics.deltas, topics.completions, topics.errors, topics.tool_calls, topics.tool_results]
        async with contextlib.AsyncExitStack() as stack:
            seen = await stack.enter_async_context(Collector(settings, watched))
            if worker_first:
                await stack.enter_async_context(worker(settings))
            await produce(settings, topics.prompts, [(key, value)])
            await seen.until(lambda rs: kill_when(rs, topics), within=60)
            fleet.kill("a", signal.SIGKILL)
            fleet.start("b")
            if not worker_first:
                await stack.enter_async_context(worker(settings))
            await seen.until(lambda rs: any(r.topic in (topics.completions, topics.errors) for r in rs), 120)
            await seen.drain()
        made = len(emulator.stats.entries(route="/v1/messages", user_id=marker))
    assert not seen.on(topics.errors), fleet.logs()[-3000:]
    (completion,) = [CompletionEvent.model_validate_json(r.value or b"") for r in seen.on(topics.completions)]
    assert completion.turns == 3 and completion.message["stop_reason"] == "end_turn"
    assert made == requests, name
    turns_published = [c.turn for c in calls(seen.records, topics)]
    assert {t: turns_published.count(t) for t in set(turns_published)} == published
    by_turn = {
        c.turn: {x.tool_use_id for x in calls(seen.records, topics) if x.turn == c.turn}
        for c in calls(seen.records, topics)
    }
    assert all(len(ids) == 1 for ids in by_turn.values())  # a call published again keeps its tool_use_id
    final = sorted(
        (d for d in (DeltaEvent.model_validate_json(r.value or b"") for r in seen.on(topics.deltas))
         if (d.generation, d.attempt) == (completion.generation, completion.attempt)),
        key=lambda d: d.seq,
    )  # fmt: skip
    assert [d.seq for d in final] == list(range(len(final)))
    stops = [d.event["delta"]["stop_reason"] for d in final if d.event["type"] == "message_delta"]
    assert stops == ["tool_use", "tool_use", "end_turn"]  # the final attempt's deltas: every turn, once
    print(f"\n| {name} | requests {made} (of 3 turns) | calls per turn {published} | lost 0 |")
