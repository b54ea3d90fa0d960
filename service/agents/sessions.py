"""Sessions: the service keeps a conversation's history, so a producer sends only the new turn.

The history is a Messages API ``messages`` list kept in the compacted ``TOPIC_SESSIONS``, keyed by
the session id, and read after catching up (``compacted``), so it follows the session's prompts to
whichever replica runs them. A prompt's request is the history followed by its own messages; once
its completion is published, the new turn and the answer (a tool loop's whole exchange) are added,
and the oldest turns dropped past ``SESSION_MAX_TOKENS``. A failed prompt leaves the history as it
was. Prompts of one session run one at a time in the order they were taken (a lock per session,
acquired before the prompt's first wait); across partitions there is no order, so producers key a
session's prompts by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas import PromptParams, Session
from service.agents import turns
from service.events import Job
from service.kafka.compacted import CompactedTable
from service.metrics import Metrics

log = logging.getLogger(__name__)


class SessionRecord(BaseModel):
    """One session's value in ``TOPIC_SESSIONS``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    messages: list[dict[str, Any]]
    prompts: int = 0  # prompts answered so far, for operators


def estimate_tokens(message: dict[str, Any]) -> int:
    """About four bytes a token, as the rate limiter estimates."""
    return len(json.dumps(message, ensure_ascii=False)) // 4 + 1


def _opens_a_turn(message: dict[str, Any]) -> bool:
    """A user message that answers no tool call: a history may start there."""
    if message.get("role") != "user":
        return False
    content = message.get("content")
    return not (
        isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def trim(messages: list[dict[str, Any]], max_tokens: int) -> tuple[list[dict[str, Any]], int]:
    """Drop the oldest messages until the rest fit ``max_tokens`` and start a turn. Pure.

    Returns the kept messages and how many were dropped. The newest turn is kept even when it alone
    is larger, so a session always has its last exchange.
    """
    sizes = [estimate_tokens(m) for m in messages]
    total = sum(sizes)
    start = 0
    while start < len(messages) and (total > max_tokens or not _opens_a_turn(messages[start])):
        later = next((i for i in range(start + 1, len(messages)) if _opens_a_turn(messages[i])), None)
        if later is None:
            break
        total -= sum(sizes[start:later])
        start = later
    return messages[start:], start


def exchange(request: list[dict[str, Any]], final: dict[str, Any], looped: bool) -> list[dict[str, Any]]:
    """The conversation after an answer: the request's messages and the answer. Pure.

    A loop cut at ``max_iterations`` ends with calls nobody will answer; they are left out (a tool_use
    must be followed by its result), the answer's text kept.
    """
    content = list(final.get("content") or [])
    if looped and turns.wants_tools(final):
        content = [b for b in content if b.get("type") != turns.TOOL_USE]
    return [*request, {"role": "assistant", "content": content}] if content else list(request)


class Sessions:
    def __init__(self, table: CompactedTable, max_tokens: int, metrics: Metrics) -> None:
        self._table = table
        self._max_tokens = max_tokens
        self._metrics = metrics
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, session: Session) -> AsyncIterator[None]:
        """One prompt of the session at a time, in the order they ask."""
        lock = self._locks.setdefault(session.id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._locks.get(session.id) is lock:
                del self._locks[session.id]

    async def history(self, session: Session) -> list[dict[str, Any]]:
        if session.reset:
            return []
        await self._table.caught_up_now()
        value = self._table.view.get(session.id)
        if value is None:
            return []
        try:
            return SessionRecord.model_validate_json(value).messages
        except ValidationError:
            log.warning("sessions: unreadable history, starting afresh", extra={"session": session.id})
            return []

    async def prepare(self, job: Job) -> tuple[Job, int]:
        """``job`` with the session's history before its messages, and the history's length."""
        session = job.prompt.session
        assert session is not None
        history = await self.history(session)
        if not history:
            return job, 0
        params = job.prompt.params.model_dump()
        params["messages"] = [*history, *params["messages"]]
        prompt = job.prompt.model_copy(update={"params": PromptParams.model_validate(params)})
        return dataclasses.replace(job, prompt=prompt), len(history)

    async def record(self, session: Session, messages: list[dict[str, Any]]) -> None:
        """The session's history is now ``messages`` (trimmed); returns once it is durable."""
        kept, dropped = trim(messages, self._max_tokens)
        if dropped:
            self._metrics.session_messages_dropped.inc(dropped)
        previous = self._table.view.get(session.id)
        count = 0
        if previous is not None:
            with contextlib.suppress(ValidationError):
                count = SessionRecord.model_validate_json(previous).prompts
        record = SessionRecord(id=session.id, messages=kept, prompts=count + 1)
        await self._table.write({session.id: record.model_dump_json().encode()})
        self._metrics.sessions.set(len(self._table.view))
