"""The tool-loop contract: the prompt's optional loop, tool calls and results, the turn count."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import CompletionEvent, Loop, PromptEvent, ToolCallEvent, ToolResultEvent

PROMPT = {
    "custom_id": "p-1",
    "params": {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
}


def test_a_prompt_without_loop_is_unchanged() -> None:
    """`loop` is optional: a v1 prompt from before tool loops parses with no loop."""
    assert PromptEvent.model_validate(PROMPT).loop is None


def test_a_loop_takes_its_defaults() -> None:
    """An empty loop object asks for a loop with the default limits."""
    prompt = PromptEvent.model_validate({**PROMPT, "loop": {}})
    assert prompt.loop == Loop(max_iterations=10, tool_timeout_seconds=60.0)


@pytest.mark.parametrize(
    "loop",
    [{"max_iterations": 0}, {"max_iterations": 101}, {"tool_timeout_seconds": 0}, {"max_iterations": "x"}],
)
def test_a_loop_out_of_bounds_is_refused(loop: dict[str, object]) -> None:
    """Limits outside their bounds make the prompt invalid (an error event, no API call)."""
    with pytest.raises(ValidationError):
        PromptEvent.model_validate({**PROMPT, "loop": loop})


def test_tool_events_round_trip_and_default_their_result() -> None:
    """A call and a result survive JSON; a result without content is an empty, successful one."""
    call = ToolCallEvent(
        custom_id="p-1", generation=0, attempt=1, turn=1, tool_use_id="toolu_1", name="calculator",
        input={"expression": "1+1"}, timeout_seconds=5.0,
    )  # fmt: skip
    assert ToolCallEvent.model_validate_json(call.model_dump_json()) == call
    result = ToolResultEvent.model_validate({"custom_id": "p-1", "tool_use_id": "toolu_1"})
    assert (result.content, result.is_error) == ("", False)
    blocks = ToolResultEvent.model_validate(
        {"custom_id": "p-1", "tool_use_id": "t", "content": [{"type": "text", "text": "2"}]}
    )
    assert blocks.content == [{"type": "text", "text": "2"}]


def test_a_completion_without_turns_is_still_valid() -> None:
    """`turns` is optional on CompletionEvent: events from before tool loops still parse."""
    example = CompletionEvent.model_json_schema()["examples"][0]
    assert CompletionEvent.model_validate(example).turns is None
