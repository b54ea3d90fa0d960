"""The prompts ``claude-kafka dev --demo`` sends, and when the demo counts as done. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import PromptEvent
from schemas.models import DEFAULT_MODEL
from service.cli.reassemble import Board, Status

DEMO_MODEL = DEFAULT_MODEL

_WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}


def demo_prompts() -> list[PromptEvent]:
    """Plain text, a tool call (auto tool choice), adaptive thinking, a tool loop the dev stack's tool
    worker answers, and one batch-mode prompt."""
    from service.agents.tools import TOOL_SPECS

    def prompt(custom_id: str, text: str, max_tokens: int = 400, **extra: Any) -> PromptEvent:
        mode = extra.pop("mode", "stream")
        loop = extra.pop("loop", None)
        params = {"model": DEMO_MODEL, "max_tokens": max_tokens,
                  "messages": [{"role": "user", "content": text}], **extra}  # fmt: skip
        return PromptEvent.model_validate(
            {"custom_id": custom_id, "params": params, "mode": mode, "attributes": {"source": "demo"},
             "loop": loop}
        )  # fmt: skip

    return [
        prompt("demo-plain", "In three sentences: why does an event log suit streaming LLM answers?"),
        prompt(
            "demo-tool",
            "What is the weather in Lisbon right now? Use get_weather.",
            tools=[_WEATHER_TOOL],
            tool_choice={"type": "auto"},
        ),
        prompt(
            "demo-thinking",
            "Is 1001 a prime number? Think it through, then answer in one sentence.",
            max_tokens=2048,
            thinking={"type": "adaptive"},  # current models refuse manual budgets
        ),
        prompt(
            "demo-loop",
            "Use the calculator: what do 17 boxes of 23 items plus 4 spare items make?",
            tools=[TOOL_SPECS["calculator"]],
            loop={"max_iterations": 4, "tool_timeout_seconds": 30},
        ),
        prompt("demo-batch", "Give one tip for writing good commit messages.", mode="batch"),
    ]


@dataclass(frozen=True, slots=True)
class DemoProgress:
    streamed: int  # stream-mode demo prompts with a final event
    streamed_total: int
    completed: int  # of those, completed (not errored)
    batch_final: bool

    @property
    def streams_done(self) -> bool:
        return self.streamed == self.streamed_total

    def describe(self, batch_status: str) -> str:
        return (
            f"demo: {self.completed}/{self.streamed_total} streamed prompts completed"
            f"{'' if self.completed == self.streamed else f', {self.streamed - self.completed} errored'}; "
            f"batch prompt: {batch_status}"
        )


def progress(board: Board, prompts: list[PromptEvent]) -> DemoProgress:
    streams = [p for p in prompts if p.mode.value == "stream"]
    batches = [p for p in prompts if p.mode.value == "batch"]
    final = [board.get(p.custom_id) for p in streams if board.get(p.custom_id).final]
    return DemoProgress(
        streamed=len(final),
        streamed_total=len(streams),
        completed=sum(r.status is Status.COMPLETED for r in final),
        batch_final=all(board.get(p.custom_id).final for p in batches),
    )
