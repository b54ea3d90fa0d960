"""Event contract v1: one prompt in; deltas, one completion or one error out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from schemas.models import DEFAULT_MODEL

CUSTOM_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""The Message Batches API's rule for ``custom_id``, applied to every prompt so any prompt can be batched."""

CustomId = Annotated[
    str,
    Field(
        pattern=CUSTOM_ID_PATTERN,
        description="Correlation and idempotency key: 1 to 64 characters of [A-Za-z0-9_-].",
        examples=["order-4711-summary"],
    ),
]
Attributes = Annotated[
    dict[str, str],
    Field(
        default_factory=dict,
        description="String map copied from the prompt onto every output event.",
        examples=[{"tenant": "acme", "user": "u-17"}],
    ),
]
Generation = Annotated[
    int,
    Field(
        ge=0,
        description=(
            "Consumer-group generation under which the prompt was taken. It grows on every rebalance, "
            "so work redone after a crash or a partition move carries a higher value."
        ),
        examples=[3],
    ),
]
Attempt = Annotated[
    int,
    Field(
        ge=1,
        description=(
            "1-based attempt within the generation. Discard partial output of any lower "
            "(generation, attempt) pair for the same custom_id."
        ),
        examples=[1],
    ),
]


class Mode(StrEnum):
    """How the prompt is executed."""

    STREAM = "stream"
    BATCH = "batch"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PromptParams(BaseModel):
    """Messages API create parameters, passed through to the API as they are.

    Only the three keys every request needs are checked here; every other key (``system``, ``tools``,
    ``tool_choice``, ``thinking``, ``output_config``, ``stop_sequences``, ``metadata`` and any key a
    future API adds) is kept verbatim and forwarded. ``betas``, ``workspace_id`` and
    ``user_profile_id`` are sent as the headers the SDK sends them as (``anthropic-beta``, ...), never
    as body keys; ``stream`` is the service's own and refused at intake.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    model: StrictStr = Field(min_length=1, description="Claude model id.", examples=[DEFAULT_MODEL])
    max_tokens: StrictInt = Field(ge=1, description="Upper bound on output tokens.", examples=[1024])
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        description="Conversation turns, as the Messages API takes them.",
        examples=[[{"role": "user", "content": "Summarise the attached order in one line."}]],
    )


CallbackKind = Literal["completion", "error"]
CALLBACK_KINDS: tuple[CallbackKind, ...] = ("completion", "error")


class Callback(_Frozen):
    """Where to POST the prompt's final event, signed per Standard Webhooks (see the README, "Callbacks").

    Added in contract v1 as an optional field (a compatible change). Delivery is an extra: the Kafka
    outputs stay the source of truth.
    """

    url: StrictStr = Field(
        min_length=1,
        max_length=2048,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://",
        description="Receiver URL; must be HTTPS and on the operator's CALLBACK_ALLOWED_HOSTS list.",
        examples=["https://hooks.acme.example/claude"],
    )
    events: list[CallbackKind] = Field(
        default_factory=lambda: list(CALLBACK_KINDS),
        min_length=1,
        description="Which outcomes to send: `completion`, `error` (default both).",
        examples=[["completion", "error"]],
    )


CALLBACK_DESCRIPTION = "Optional HTTP callback for the final outcome, copied from the prompt (see Callback)."


class Loop(_Frozen):
    """Run client tools as Kafka round trips (see the README, "Tool loops").

    Added in contract v1 as an optional field (a compatible change). When an answer stops with
    ``tool_use``, each ``tool_use`` block becomes a ToolCallEvent; once every call of the turn has its
    ToolResultEvent (or timed out), the next request is sent with the results, until a final answer.
    """

    max_iterations: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Most requests (turns) of the loop; a turn still asking for tools at this count ends it.",
        examples=[5],
    )
    tool_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="How long a turn waits for its tool results; a late call gets an `is_error` result.",
        examples=[30],
    )


LOOP_DESCRIPTION = "Optional tool loop: client tools run by tool workers over Kafka (see Loop)."


class Session(_Frozen):
    """A conversation the service keeps (see the README, "Sessions").

    Added in contract v1 as an optional field (a compatible change). The prompt's ``params.messages``
    are the new turn only: the service sends the session's history before them, and adds the new turn
    and the answer to the history once the completion is published. Prompts of one session run one at
    a time, in their order: produce them with the session id as the record key.
    """

    id: CustomId = Field(description="The session's id: 1 to 64 characters of [A-Za-z0-9_-].")
    reset: bool = Field(default=False, description="Start the session afresh: its history so far is dropped.")


SESSION_DESCRIPTION = "Optional session: the service keeps the conversation's history (see Session)."


class PromptEvent(BaseModel):
    """A request for Claude (topic ``claude.prompts``).

    One line of a Message Batches JSONL file (``{"custom_id", "params"}``) is a valid PromptEvent.
    Unknown top-level fields are ignored so producers may be newer than the service.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "custom_id": "order-4711-summary",
                    "params": {
                        "model": DEFAULT_MODEL,
                        "max_tokens": 256,
                        "messages": [{"role": "user", "content": "Summarise order 4711 in one line."}],
                    },
                    "mode": "stream",
                    "attributes": {"tenant": "acme"},
                    "deadline": "2026-11-25T18:00:00Z",
                    "callback": {
                        "url": "https://hooks.acme.example/claude",
                        "events": ["completion", "error"],
                    },
                },
                {
                    "custom_id": "order-4711-total",
                    "params": {
                        "model": DEFAULT_MODEL,
                        "max_tokens": 512,
                        "tools": [
                            {
                                "name": "calculator",
                                "description": "Evaluate an arithmetic expression.",
                                "input_schema": {
                                    "type": "object",
                                    "properties": {"expression": {"type": "string"}},
                                    "required": ["expression"],
                                },
                            }
                        ],
                        "messages": [{"role": "user", "content": "Use the calculator: what is 17 * 23?"}],
                    },
                    "loop": {"max_iterations": 5, "tool_timeout_seconds": 30},
                },
            ]
        },
    )

    custom_id: CustomId
    params: PromptParams = Field(description="Messages API create parameters (see PromptParams).")
    mode: Mode = Field(
        default=Mode.STREAM,
        description="`stream` (default): SSE streaming with delta events; `batch`: Message Batches API.",
        examples=["stream"],
    )
    attributes: Attributes
    deadline: AwareDatetime | None = Field(
        default=None,
        description="RFC 3339 time; a prompt not started by then gets an `expired` error and no API call.",
        examples=["2026-11-25T18:00:00Z"],
    )
    callback: Callback | None = Field(default=None, description=CALLBACK_DESCRIPTION)
    loop: Loop | None = Field(default=None, description=LOOP_DESCRIPTION)
    session: Session | None = Field(default=None, description=SESSION_DESCRIPTION)


class DeltaEvent(_Frozen):
    """One Claude SSE event (topic ``claude.deltas``, key = custom_id).

    ``event`` is the Anthropic stream event verbatim (``message_start``, ``content_block_start``,
    ``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``; ``ping`` is
    dropped), so downstream code can ``match event["type"]`` exactly as SDK users do.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "custom_id": "order-4711-summary",
                    "generation": 3,
                    "attempt": 1,
                    "seq": 2,
                    "event": {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "Order 4711 ships"},
                    },
                    "attributes": {"tenant": "acme"},
                }
            ]
        },
    )

    custom_id: CustomId
    generation: Generation
    attempt: Attempt
    seq: int = Field(ge=0, description="0-based, gap-free within one (generation, attempt).", examples=[2])
    event: dict[str, Any] = Field(description="The Anthropic SSE event object, verbatim.")
    attributes: Attributes


class Timings(_Frozen):
    """Where the time went, in milliseconds."""

    queued_ms: float = Field(description="Prompt's Kafka timestamp to the API call.", examples=[12.5])
    ttft_ms: float | None = Field(
        description="API call to the first content delta (null in batch mode).", examples=[410.2]
    )
    duration_ms: float = Field(description="API call to the final event.", examples=[2875.0])


class CompletionEvent(_Frozen):
    """The final, successful outcome of one attempt (topic ``claude.completions``, key = custom_id)."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "custom_id": "order-4711-summary",
                    "generation": 3,
                    "attempt": 1,
                    "mode": "stream",
                    "message": {
                        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                        "type": "message",
                        "role": "assistant",
                        "model": DEFAULT_MODEL,
                        "content": [{"type": "text", "text": "Order 4711 ships Tuesday."}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": 21, "output_tokens": 7},
                    },
                    "timings": {"queued_ms": 12.5, "ttft_ms": 410.2, "duration_ms": 875.0},
                    "cost_usd": 0.000168,
                    "attributes": {"tenant": "acme"},
                }
            ]
        },
    )

    custom_id: CustomId
    generation: Generation
    attempt: Attempt
    mode: Mode = Field(examples=["stream"])
    message: dict[str, Any] = Field(
        description="The full Message object as the API returns it (content, stop_reason, usage)."
    )
    timings: Timings
    cost_usd: float | None = Field(
        description="Estimate from the configured price table (batch at half price); null if unpriced.",
        examples=[0.000168],
    )
    attributes: Attributes
    callback: Callback | None = Field(default=None, description=CALLBACK_DESCRIPTION)
    turns: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Requests a tool loop made (null for a prompt without `loop`). With a loop, `message` is the "
            "last turn's answer and its `usage` (and `cost_usd`) are summed over every turn. Added in "
            "contract v1 as an optional field (a compatible change)."
        ),
        examples=[3],
    )


class ErrorDetail(_Frozen):
    type: str = Field(
        description=(
            "Machine-readable cause: `invalid_encoding`, `invalid_json`, `invalid_prompt`, "
            "`prompt_too_large`, `model_not_allowed`, `max_tokens_exceeded`, `expired`, "
            "`attempts_exhausted`, `callback_failed`, `callback_refused`, `loop_failed`, or the API's own "
            "error type (`invalid_request_error`, `overloaded_error`, ...)."
        ),
        examples=["invalid_prompt"],
    )
    message: str = Field(description="Human-readable explanation.", examples=["custom_id: Field required"])
    code: str | None = Field(
        default=None,
        description=(
            "The API's finer cause, `error.details.error_code`, when it gave one (for example "
            "`enforced_spend_limit_reached`, `organization_on_hold`); null otherwise. Added in "
            "contract v1 as an optional field (a compatible change)."
        ),
        examples=["enforced_spend_limit_reached"],
    )


class SourceRecord(_Frozen):
    """Where the prompt came from, so it can be found and replayed."""

    topic: str = Field(examples=["claude.prompts"])
    partition: int = Field(examples=[4])
    offset: int = Field(examples=[1187])


class ErrorEvent(_Frozen):
    """The final, failed outcome (topic ``claude.errors``, also the dead-letter topic)."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "custom_id": None,
                    "generation": 3,
                    "attempt": 1,
                    "error": {
                        "type": "invalid_json",
                        "message": "Expecting value: line 1 column 1 (char 0)",
                        "code": None,
                    },
                    "retryable": False,
                    "source": {"topic": "claude.prompts", "partition": 4, "offset": 1187},
                    "original": "not json at all",
                    "original_encoding": "utf-8",
                    "attributes": {},
                }
            ]
        },
    )

    custom_id: CustomId | None = Field(
        description=(
            "The prompt's custom_id; also read from a record that is not a valid prompt when its top-level "
            "custom_id is valid. Null only when the record has no readable, valid custom_id."
        )
    )
    generation: Generation
    attempt: Attempt
    mode: Mode | None = Field(default=None, description="Null when the input could not be parsed.")
    error: ErrorDetail
    retryable: bool = Field(
        description="True when sending the same prompt again may succeed (e.g. attempts exhausted)."
    )
    source: SourceRecord
    original: str | None = Field(
        description="The raw input value, for replay: UTF-8 text, or base64 when it was not UTF-8."
    )
    original_encoding: str = Field(
        default="utf-8", description="`utf-8` or `base64`: how `original` is encoded.", examples=["utf-8"]
    )
    attributes: Attributes
    occurred_at: datetime | None = Field(default=None, description="When the failure was decided.")
    callback: Callback | None = Field(default=None, description=CALLBACK_DESCRIPTION)
    origin: Literal["callback"] | None = Field(
        default=None,
        description=(
            "Null for pipeline outcomes; `callback` when the callback dispatcher could not deliver the "
            "outcome in `original` (error types `callback_failed`, `callback_refused`)."
        ),
        examples=[None],
    )
