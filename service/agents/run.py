"""The state of one tool-loop run: its finished turns and the tool results received. Pure.

This is what ``TOPIC_RUNS`` records (keyed by custom_id) before the service acts on it, so a new owner
resumes where the run stood: a finished turn is never requested again, and only the calls of the last
turn that have no result yet are published (again, with the same ``tool_use_id``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.agents import turns


class Turn(BaseModel):
    """One finished request of the run (its ``pause_turn`` continuations merged) and its results."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message: dict[str, Any] = Field(description="The answer: content, stop_reason, usage.")
    results: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="tool_use_id -> the tool_result block sent back for it."
    )


class Run(BaseModel):
    """A run as recorded: enough to build the next request without asking Claude again."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    custom_id: str
    turns: tuple[Turn, ...] = ()

    @property
    def count(self) -> int:
        return len(self.turns)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.turns[-1].message if self.turns else None

    def with_turn(self, message: dict[str, Any]) -> Run:
        return self.model_copy(update={"turns": (*self.turns, Turn(message=message))})

    def with_result(self, block: dict[str, Any]) -> Run:
        """The run with one more result for its last turn (a result for no open call is ignored)."""
        if not self.turns:
            return self
        last = self.turns[-1]
        tool_use_id = block["tool_use_id"]
        if tool_use_id in last.results or tool_use_id not in {c["id"] for c in turns.tool_uses(last.message)}:
            return self
        done = last.model_copy(update={"results": {**last.results, tool_use_id: block}})
        return self.model_copy(update={"turns": (*self.turns[:-1], done)})

    def open_calls(self) -> list[dict[str, Any]]:
        """The last turn's ``tool_use`` blocks still without a result (empty unless it wants tools)."""
        last = self.turns[-1] if self.turns else None
        if last is None or not turns.wants_tools(last.message):
            return []
        return [c for c in turns.tool_uses(last.message) if c["id"] not in last.results]

    def history(self, finished: int | None = None) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """(assistant content, tool_result blocks in call order) of the first ``finished`` turns (all
        by default; each must have all its results), for ``next_request``."""
        return [
            (list(t.message.get("content") or []), [t.results[c["id"]] for c in turns.tool_uses(t.message)])
            for t in self.turns[:finished]
        ]

    def usages(self) -> list[dict[str, Any]]:
        return [t.message.get("usage") or {} for t in self.turns]
