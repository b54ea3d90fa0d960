"""The emulator's client-tool loop, witnessed by the SDK's own stream accumulator."""

from __future__ import annotations

import ast
import operator
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, TextBlock, ToolResultBlockParam, ToolUseBlock

from tests.emulator.conftest import params

CALCULATOR: dict[str, Any] = {
    "name": "calculator",
    "description": "Evaluate an arithmetic expression.",
    "input_schema": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}
_OPS = {ast.Add: operator.add, ast.Mult: operator.mul}


def evaluate(expression: str) -> int:
    """The emulator's expressions use only + and * on integers."""

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.BinOp):
            return int(_OPS[type(node.op)](walk(node.left), walk(node.right)))
        assert isinstance(node, ast.Constant) and isinstance(node.value, int)
        return node.value

    return walk(ast.parse(expression, mode="eval").body)


async def run_loop(client: anthropic.AsyncAnthropic, rounds: int | None) -> list[anthropic.types.Message]:
    """Stream turns until a final answer, answering each tool_use with the calculator's result."""
    history: list[MessageParam] = [{"role": "user", "content": "Use the calculator to add up my order."}]
    metadata = {"user_id": f"emu:tool_rounds={rounds}"} if rounds else None
    turns = []
    for _ in range(6):
        body = params(tools=[CALCULATOR], messages=history)
        if metadata:
            body["metadata"] = metadata
        async with client.messages.stream(**body) as stream:
            final = await stream.get_final_message()
        turns.append(final)
        if final.stop_reason != "tool_use":
            return turns
        history.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]}
        )  # type: ignore[misc]
        results: list[ToolResultBlockParam] = [
            {"type": "tool_result", "tool_use_id": b.id, "content": str(evaluate(b.input["expression"]))}  # type: ignore[index]
            for b in final.content
            if isinstance(b, ToolUseBlock)
        ]
        history.append({"role": "user", "content": results})
    raise AssertionError("the loop did not end")


@pytest.mark.parametrize(("rounds", "turns"), [(None, 2), (1, 2), (2, 3), (3, 4)])
async def test_tool_rounds_directive_makes_a_loop_of_that_many_turns(
    aclient: anthropic.AsyncAnthropic, rounds: int | None, turns: int
) -> None:
    """`tool_rounds=N` keeps calling the named tool until N rounds of results, then answers in text."""
    messages = await run_loop(aclient, rounds)
    assert len(messages) == turns
    for message in messages[:-1]:
        calls = [b for b in message.content if isinstance(b, ToolUseBlock)]
        assert message.stop_reason == "tool_use" and [c.name for c in calls] == ["calculator"]
        assert isinstance(calls[0].input, dict)
        evaluate(calls[0].input["expression"])  # an arithmetic expression, as the schema's name implies
    assert messages[-1].stop_reason == "end_turn" and isinstance(messages[-1].content[0], TextBlock)
    ids = [b.id for m in messages for b in m.content if isinstance(b, ToolUseBlock)]
    assert len(set(ids)) == len(ids)  # every round's call has its own id
