"""Event contract v1 of tool loops: the service asks for a tool run, a tool worker answers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Attempt, Attributes, CustomId, Generation

ToolUseId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="The `tool_use` block's id; the same on a call published again after a crash.",
        examples=["toolu_01A09q90qw90lq917835lq9"],
    ),
]


class ToolCallEvent(BaseModel):
    """One client tool call of a loop (topic ``claude.tool-calls``, key = custom_id).

    A tool worker runs ``name`` with ``input`` and answers with one ToolResultEvent carrying the same
    ``custom_id`` and ``tool_use_id``. A call may be delivered more than once (after a crash, with the
    same ``tool_use_id``): workers with side effects deduplicate on it.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "custom_id": "order-4711-total",
                    "generation": 3,
                    "attempt": 1,
                    "turn": 1,
                    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "calculator",
                    "input": {"expression": "17 * 23"},
                    "timeout_seconds": 30.0,
                    "attributes": {"tenant": "acme"},
                }
            ]
        },
    )

    custom_id: CustomId
    generation: Generation
    attempt: Attempt
    turn: int = Field(ge=1, description="1-based request of the loop whose answer asked for the call.")
    tool_use_id: ToolUseId
    name: str = Field(min_length=1, description="The tool's name, as offered in `params.tools`.")
    input: dict[str, Any] = Field(description="The tool's input, valid per its `input_schema`.")
    timeout_seconds: float = Field(
        description="How long the service waits for the result before telling Claude the call failed."
    )
    attributes: Attributes


class ToolResultEvent(BaseModel):
    """A tool worker's answer to one ToolCallEvent (topic ``claude.tool-results``, key = custom_id).

    ``content`` becomes the ``tool_result`` block's content in the next request, as the Messages API
    takes it: a string, or a list of content blocks (``text``, ``image``, ...).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "custom_id": "order-4711-total",
                    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                    "content": "391",
                    "is_error": False,
                }
            ]
        },
    )

    custom_id: CustomId
    tool_use_id: ToolUseId
    content: str | list[dict[str, Any]] = Field(
        default="", description="The result, as a `tool_result` block's content."
    )
    is_error: bool = Field(default=False, description="True when the tool failed; Claude is told so.")
