"""The reference tool worker: ToolCallEvents in, ToolResultEvents out (``claude-kafka tool-worker``).

A consumer-group member of its own group on ``TOPIC_TOOL_CALLS``; each call is run (``tools.py``)
and answered on ``TOPIC_TOOL_RESULTS`` with the call's custom_id as key; offsets commit after the
broker acknowledged the results (at-least-once: a call may be answered twice, the service keeps the
first). A call for a tool this worker does not run is left alone (workers for other tools, in their
own groups, answer it), unless ``answer_unknown``: then it gets an ``is_error`` result. A record that
is not a ToolCallEvent is skipped with a log line: it has nobody to answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas import ToolCallEvent, ToolResultEvent
from service import tracing
from service.agents.tools import ToolFailed, run_tool
from service.cloudevents import event_type, headers
from service.kafka.clients import ClientError, group_member, producer
from service.settings import Settings

log = logging.getLogger(__name__)

TOOL_RESULT_TYPE = event_type("tool_result")
POLL_MS = 500
RETRY_SECONDS = 1.0


def answer(
    call: ToolCallEvent, tools: Collection[str], now: datetime, answer_unknown: bool = True
) -> ToolResultEvent | None:
    """The result for one call, or ``None`` for a call this worker leaves to others. Pure."""
    if call.name not in tools and not answer_unknown:
        return None
    try:
        if call.name not in tools:
            raise ToolFailed(f"this worker does not run {call.name!r} (it runs: {', '.join(sorted(tools))})")
        content, is_error = run_tool(call.name, call.input, now), False
    except ToolFailed as exc:
        content, is_error = str(exc), True
    return ToolResultEvent(
        custom_id=call.custom_id, tool_use_id=call.tool_use_id, content=content, is_error=is_error
    )


class ToolWorker:
    def __init__(
        self,
        settings: Settings,
        group: str,
        tools: Collection[str],
        answer_unknown: bool = False,
        on_answer: Callable[[ToolCallEvent, ToolResultEvent], None] | None = None,
    ) -> None:
        self._topics = settings.topics
        self._tools = frozenset(tools)
        self._answer_unknown = answer_unknown
        self._on_answer = on_answer
        self._source = b"/claude-kafka/tool-worker"
        self._consumer = group_member(
            settings.kafka, settings.topics.tool_calls, group, auto_offset_reset="earliest"
        )
        self._producer = producer(settings.kafka)
        self._stopping = asyncio.Event()
        self.answered = 0

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Answer calls until ``request_stop``; never dies on a record or a Kafka error."""
        try:
            await self._producer.start()
            await self._consumer.start()
            while not self._stopping.is_set():
                try:
                    await self._poll_once()
                except ClientError as exc:
                    log.warning("tool worker: kafka error, retrying: %r", exc)
                    await asyncio.sleep(RETRY_SECONDS)
        finally:  # both, started or not: a client built and never stopped leaks (aiokafka warns)
            await self._consumer.stop()
            await self._producer.stop()

    async def _poll_once(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=POLL_MS)
        if not batches:
            return
        sent = []
        for records in batches.values():
            for record in records:
                try:
                    call = ToolCallEvent.model_validate_json(record.value or b"")
                except ValidationError:
                    log.warning(
                        "tool worker: not a ToolCallEvent, skipped",
                        extra={"partition": record.partition, "offset": record.offset},
                    )
                    continue
                result = answer(call, self._tools, datetime.now(UTC), self._answer_unknown)
                if result is None:
                    continue
                trace = tracing.incoming(tuple(record.headers or ()))
                event_id = f"{call.custom_id}:{call.tool_use_id}:result"
                future = await self._producer.send(
                    self._topics.tool_results,
                    result.model_dump_json().encode(),
                    key=call.custom_id.encode(),
                    headers=headers(TOOL_RESULT_TYPE, self._source, event_id, call.custom_id, trace),
                )
                sent.append(future)
                self.answered += 1
                if self._on_answer is not None:
                    self._on_answer(call, result)
        if sent:
            await asyncio.gather(*sent)
        await self._consumer.commit()
