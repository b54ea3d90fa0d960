"""Drive one tool-loop run, turn by turn, for ``PromptRunner`` (see ``service.agents``).

Each turn is one request streamed by the runner (its ``pause_turn`` continuations included), so the
deltas of every turn follow each other with one gap-free ``seq``. After a turn the run is recorded,
then the calls it asks for are published (one ToolCallEvent per ``tool_use`` block) and their results
awaited without holding a stream slot; each result is recorded as it comes. The run ends with the
last answer, usage summed, when a turn asks for no tool or ``max_iterations`` turns were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from schemas import Loop, ToolResultEvent
from service import tracing
from service.agents import turns
from service.agents.calls import call_headers, tool_call
from service.agents.run import Run
from service.agents.store import RunStore
from service.events import Job
from service.kafka.outputs import Outputs
from service.kafka.tool_results import ToolResults
from service.metrics import Metrics

log = logging.getLogger(__name__)

StreamTurn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Streams one request as deltas; returns its answer (a Message dict)."""
Replay = Callable[[list[dict[str, Any]]], Awaitable[None]]
"""Publishes SSE events (of a recorded turn) as the attempt's next deltas."""
PoolMove = Callable[[str], None]
"""Counts the calling task against the named worker pool from now on."""

STREAM_POOL, WAITING_POOL = "stream", "waiting_for_tools"


@dataclass(frozen=True, slots=True)
class LoopResult:
    """How a run ended: the CompletionEvent's message (usage summed), its turns, the whole exchange."""

    message: dict[str, Any]
    turns: int
    messages: list[dict[str, Any]]  # the last request's messages (history and every tool round)


class ToolLoop:
    def __init__(
        self,
        outputs: Outputs,
        topic: str,
        results: ToolResults,
        store: RunStore,
        metrics: Metrics,
        source: bytes,
    ) -> None:
        self._outputs = outputs
        self._topic = topic
        self._results = results
        self._store = store
        self._metrics = metrics
        self._source = source
        self.move: PoolMove | None = None  # set by the pipeline that owns the worker pools
        self._waiting = 0

    async def run(self, job: Job, attempt: int, stream_turn: StreamTurn, replay: Replay) -> LoopResult:
        """Run (or resume) ``job``'s loop to its end."""
        try:
            return await self._run(job, attempt, stream_turn, replay)
        except asyncio.CancelledError:
            self._store.release(job.prompt.custom_id)  # moved to another replica, which resumes it
            raise

    async def _run(self, job: Job, attempt: int, stream_turn: StreamTurn, replay: Replay) -> LoopResult:
        spec = job.prompt.loop
        assert spec is not None
        params = job.prompt.params.model_dump()
        custom_id = job.prompt.custom_id
        run = await self._store.load(custom_id) or Run(custom_id=custom_id)
        if run.count:
            # No request for a finished turn: its deltas come again from the record.
            log.info("tool loop resumed", extra={"custom_id": custom_id, "turns": run.count})
            self._metrics.loop_resumed_turns.inc(run.count)
            for turn in run.turns:
                await replay(turns.replay_events(turn.message))
        while True:
            last = run.last
            if last is not None:
                if not turns.wants_tools(last) or run.count >= spec.max_iterations:
                    end = "answered" if not turns.wants_tools(last) else "max_iterations"
                    self._metrics.loop_runs.labels(end).inc()
                    request = turns.next_request(params, run.history(run.count - 1))["messages"]
                    return LoopResult(turns.final_message(last, run.usages()), run.count, request)
                calls = run.open_calls()
                if calls:
                    run = await self._tool_round(job, attempt, run, calls, spec)
                    continue
            message = await stream_turn(turns.next_request(params, run.history()))
            self._metrics.loop_turns.inc()
            run = run.with_turn(message)
            await self._store.save(run)  # recorded before its calls go out

    async def ended(self, custom_id: str) -> None:
        """The run's final event is published: its record can go."""
        await self._store.end(custom_id)

    async def _tool_round(
        self, job: Job, attempt: int, run: Run, calls: list[dict[str, Any]], spec: Loop
    ) -> Run:
        custom_id = job.prompt.custom_id
        ids = [c["id"] for c in calls]
        names = {c["id"]: str(c.get("name", "")) for c in calls}
        futures = self._results.expect(custom_id, ids)  # before publishing: a fast result is not missed
        try:
            await self._publish_calls(job, attempt, run.count, calls, spec.tool_timeout_seconds)
            started = time.monotonic()
            deadline = started + spec.tool_timeout_seconds
            pending = {futures[i]: i for i in ids}
            with self._waiting_slot():
                while pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    done, _ = await asyncio.wait(
                        pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                    )
                    for future in done:
                        tool_use_id = pending.pop(future)
                        result: ToolResultEvent = future.result()
                        outcome = "error" if result.is_error else "ok"
                        self._metrics.tool_called(names[tool_use_id], outcome, time.monotonic() - started)
                        block = turns.result_block(tool_use_id, result.content, result.is_error)
                        run = run.with_result(block)
                        await self._store.save(run)
            for tool_use_id in pending.values():
                self._metrics.tool_called(names[tool_use_id], "timeout", None)
                log.info("tool call timed out", extra={"custom_id": custom_id, "tool": names[tool_use_id]})
                run = run.with_result(
                    turns.timed_out_block(tool_use_id, names[tool_use_id], spec.tool_timeout_seconds)
                )
            if pending:
                await self._store.save(run)
        finally:
            self._results.forget(custom_id, ids)
        return run

    async def _publish_calls(
        self, job: Job, attempt: int, turn: int, calls: list[dict[str, Any]], timeout_seconds: float
    ) -> None:
        key = job.prompt.custom_id.encode()
        futures = []
        with tracing.send(self._topic, key, job.trace) as trace:
            for block in calls:
                event = tool_call(job, attempt, turn, block, timeout_seconds)
                value = event.model_dump_json().encode()
                headers = call_headers(self._source, event, trace)
                futures.append(await self._outputs.send(self._topic, key, value, headers))
            await self._outputs.acknowledged(futures[:-1], futures[-1])

    @contextlib.contextmanager
    def _waiting_slot(self) -> Iterator[None]:
        """While inside, the run counts against MAX_WAITING_FOR_TOOLS instead of MAX_IN_FLIGHT."""
        if self.move is not None:
            self.move(WAITING_POOL)
        self._waiting += 1
        self._metrics.waiting_for_tools.set(self._waiting)
        try:
            yield
        finally:
            self._waiting -= 1
            self._metrics.waiting_for_tools.set(self._waiting)
            if self.move is not None:
                self.move(STREAM_POOL)
