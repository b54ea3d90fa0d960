"""Request-body validation with the real API's wording (``messages: Field required``). Pure.

Seam for other route modules (batches)::

    validate_message_params(params, config, *, count_tokens=False, batch=False) -> ApiError | None

returns the first problem as an :class:`ApiError` (400 ``invalid_request_error``; 404
``not_found_error`` for a model outside a configured allow-list, as the real API does), or ``None``.
``count_tokens=True`` drops the ``max_tokens`` requirement; ``batch=True`` requires ``max_tokens >= 1``
and rejects ``stream: true``. A key the API does not know is refused as the real API refuses it
("<key>: Extra inputs are not permitted"): the known keys are the SDK's own ``MessageCreateParams``
TypedDicts (plain and beta) less the params the SDK sends as headers. Then the per-model rules of
Anthropic's model pages (:data:`MODEL_RULES`) and each model's output limit (:data:`MAX_OUTPUT_TOKENS`).
"""

from __future__ import annotations

import re
import typing
from typing import Any

from anthropic.types import message_create_params as _plain
from anthropic.types.beta import message_create_params as _beta

from service.emulator.config import EmulatorConfig
from service.emulator.errors import ApiError, invalid_request
from service.headers import HEADER_PARAMS

# SDK 2.15 no longer types the sampling params at all (no model it recommends takes them), but the
# API still takes them on older models and refuses non-default values on the 5-series (MODEL_RULES).
_UNTYPED_BODY_KEYS = frozenset({"temperature", "top_p", "top_k"})
BODY_KEYS: frozenset[str] = frozenset(
    (
        set(typing.get_type_hints(_plain.MessageCreateParamsStreaming))
        | set(typing.get_type_hints(_beta.MessageCreateParamsStreaming))
        | _UNTYPED_BODY_KEYS
    )
    - HEADER_PARAMS.keys()
)
"""Every key a messages body may carry."""
# A batch request may name a user profile in its body; the create's header must then agree
# (SDK 2.15 ``BatchCreateParams.user_profile_id``).
_BATCH_BODY_KEYS = BODY_KEYS | {"user_profile_id"}

MAX_OUTPUT_TOKENS: dict[str, int] = {
    # 64K: https://platform.claude.com/docs/en/models/haiku-4-5/overview and .../opus-4-5/overview.
    "claude-haiku-4-5": 64_000,
    "claude-haiku-4-5-20251001": 64_000,
    "claude-opus-4-5": 64_000,
    "claude-opus-4-5-20251101": 64_000,
}
"""Output limits that differ from :data:`DEFAULT_MAX_OUTPUT_TOKENS`."""
DEFAULT_MAX_OUTPUT_TOKENS = 128_000
"""128K: every 5-series model (the lineup table of https://platform.claude.com/docs/en/models/opus-5/overview),
Opus 4.6-4.8 and Sonnet 4.6 (their model pages)."""

SAMPLING = "sampling"  # temperature/top_p/top_k at non-default values
THINKING_ENABLED = "thinking_enabled"  # manual extended thinking with budget_tokens
THINKING_DISABLED = "thinking_disabled"
FORCED_TOOL = "forced_tool"  # tool_choice any/tool
PREFILL = "prefill"  # a final assistant message

MODEL_RULES: dict[str, frozenset[str]] = {
    # https://platform.claude.com/docs/en/models/sonnet-5/migration-guide: "manual extended thinking
    # (thinking: {type: "enabled", budget_tokens: N}) returns a 400 error" and "sampling parameters
    # (temperature, top_p, top_k) set to non-default values return a 400 error".
    "claude-sonnet-5": frozenset({SAMPLING, THINKING_ENABLED}),
    # https://platform.claude.com/docs/en/models/sonnet-5-5/migration-guide: a request "leaves out five
    # settings that return a 400 error: thinking budgets, sampling parameters, assistant prefill,
    # forced tool choice, and thinking: {"type": "disabled"}" (also .../whats-new-sonnet-5-5).
    "claude-sonnet-5-5": frozenset({SAMPLING, THINKING_ENABLED, PREFILL, FORCED_TOOL, THINKING_DISABLED}),
    # https://platform.claude.com/docs/en/models/opus-5-5/overview: thinking "Adaptive (always on)";
    # forced tool use is refused as on Sonnet 5.5.
    "claude-opus-5-5": frozenset({FORCED_TOOL, THINKING_DISABLED}),
}
"""Documented per-model refusals (400 ``invalid_request_error``)."""

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_ROLES = ("user", "assistant")
_CHOICES = ("auto", "any", "tool", "none")
_THINKING = ("enabled", "disabled", "adaptive", "between_tools")
_SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0}  # top_k has no default: any value is one


def validate_message_params(
    params: Any, config: EmulatorConfig, *, count_tokens: bool = False, batch: bool = False
) -> ApiError | None:
    """First validation problem of a messages (or count_tokens) body, or ``None``."""
    if not isinstance(params, dict):
        return invalid_request("Input should be a valid dictionary")
    for check in (_keys, _model, _max_tokens, _messages, _system, _options, _tools, _thinking, _model_rules):
        problem = check(params, config, count_tokens, batch)
        if problem is not None:
            return problem
    return None


def _keys(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    known = _BATCH_BODY_KEYS if batch else BODY_KEYS
    for key in p:
        if key not in known:
            return invalid_request(f"{key}: Extra inputs are not permitted")
    return None


def _model(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    if "model" not in p:
        return invalid_request("model: Field required")
    if not isinstance(p["model"], str):
        return invalid_request("model: Input should be a valid string")
    if not config.accepts_model(p["model"]):
        return ApiError("not_found_error", f"model: {p['model']}")
    return None


def _max_tokens(
    p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool
) -> ApiError | None:
    if count_tokens:
        return None
    if "max_tokens" not in p:
        return invalid_request("max_tokens: Field required")
    value = p["max_tokens"]
    if not isinstance(value, int) or isinstance(value, bool):
        return invalid_request("max_tokens: Input should be a valid integer")
    floor = 1 if batch else 0
    if value < floor:
        return invalid_request(f"max_tokens: Input should be greater than or equal to {floor}")
    limit = MAX_OUTPUT_TOKENS.get(str(p.get("model")), DEFAULT_MAX_OUTPUT_TOKENS)
    if value > limit:
        return invalid_request(
            f"max_tokens: {value} > {limit}, which is the maximum allowed number of output "
            f"tokens for {p.get('model')}"
        )
    return None


def _messages(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    if "messages" not in p:
        return invalid_request("messages: Field required")
    messages = p["messages"]
    if not isinstance(messages, list):
        return invalid_request("messages: Input should be a valid list")
    if not messages:
        return invalid_request("messages: at least one message is required")
    previous: str | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return invalid_request(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if "role" not in message:
            return invalid_request(f"messages.{i}.role: Field required")
        if role not in _ROLES:
            return invalid_request(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            return invalid_request('messages: first message must use the "user" role')
        if role == previous:
            return invalid_request(
                f'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        previous = role
        problem = _content(
            message, f"messages.{i}", final_assistant=i == len(messages) - 1 and role == "assistant"
        )
        if problem is not None:
            return problem
    return None


def _content(message: dict[str, Any], where: str, *, final_assistant: bool) -> ApiError | None:
    if "content" not in message:
        return invalid_request(f"{where}.content: Field required")
    content = message["content"]
    if isinstance(content, str):
        empty = content == ""
    elif isinstance(content, list):
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                return invalid_request(f"{where}.content.{j}: Input should be a valid dictionary")
            if not isinstance(block.get("type"), str):
                return invalid_request(f"{where}.content.{j}.type: Field required")
            if block["type"] == "text" and not isinstance(block.get("text"), str):
                return invalid_request(f"{where}.content.{j}.text: Field required")
        empty = not content
    else:
        return invalid_request(f"{where}.content: Input should be a valid list")
    if empty and not final_assistant:
        return invalid_request(
            f"{where}: all messages must have non-empty content except for the optional final "
            "assistant message"
        )
    return None


def _system(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    system = p.get("system")
    if system is None or isinstance(system, str):
        return None
    if not isinstance(system, list):
        return invalid_request("system: Input should be a valid list")
    for j, block in enumerate(system):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            return invalid_request(f"system.{j}: Input should be a valid text block")
    return None


def _options(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    stream = p.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return invalid_request("stream: Input should be a valid boolean")
    if batch and stream:
        return invalid_request("stream: Input should be False")
    stops = p.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            return invalid_request("stop_sequences: Input should be a valid list")
        if any(not s.strip() for s in stops):
            return invalid_request("stop_sequences: each stop sequence must contain non-whitespace")
    metadata = p.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return invalid_request("metadata: Input should be a valid dictionary")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            return invalid_request("metadata.user_id: Input should be a valid string")
        if isinstance(user_id, str) and len(user_id) > 256:
            return invalid_request("metadata.user_id: String should have at most 256 characters")
    return None


def _tools(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    tools = p.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            return invalid_request("tools: Input should be a valid list")
        for j, tool in enumerate(tools):
            if not isinstance(tool, dict):
                return invalid_request(f"tools.{j}: Input should be a valid dictionary")
            name = tool.get("name")
            if not isinstance(name, str):
                return invalid_request(f"tools.{j}.name: Field required")
            if not _TOOL_NAME.match(name):
                return invalid_request(
                    f"tools.{j}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
                )
            is_custom = tool.get("type") in (None, "custom")
            if is_custom and not isinstance(tool.get("input_schema"), dict):
                return invalid_request(f"tools.{j}.custom.input_schema: Field required")
            names.append(name)
        if len(set(names)) != len(names):
            return invalid_request("tools: Tool names must be unique.")
    choice = p.get("tool_choice")
    if choice is None:
        return None
    if not isinstance(choice, dict) or choice.get("type") not in _CHOICES:
        return invalid_request(
            "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
        )
    if choice["type"] in ("any", "tool") and not names:
        return invalid_request("tool_choice: tool_choice may only be specified while providing tools.")
    if choice["type"] == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            return invalid_request("tool_choice.tool.name: Field required")
        if name not in names:
            return invalid_request(f"tool_choice: Tool '{name}' not found in tools.")
    return None


def _thinking(p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool) -> ApiError | None:
    thinking = p.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in _THINKING:
        return invalid_request(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'"
        )
    if thinking["type"] != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return invalid_request("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        return invalid_request(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    max_tokens = p.get("max_tokens")
    if not count_tokens and isinstance(max_tokens, int) and max_tokens <= budget:
        return invalid_request(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
        )
    choice = p.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return invalid_request("Thinking may not be enabled when tool_choice forces tool use.")
    return None


def _model_rules(
    p: dict[str, Any], config: EmulatorConfig, count_tokens: bool, batch: bool
) -> ApiError | None:
    model = str(p.get("model"))
    rules = MODEL_RULES.get(model, frozenset())
    if not rules:
        return None
    if SAMPLING in rules:
        for name in ("temperature", "top_p", "top_k"):
            if name in p and p[name] != _SAMPLING_DEFAULTS.get(name, object()):
                return invalid_request(
                    f"{name}: sampling parameters are not supported on {model}; leave {name} unset "
                    "and use output_config.effort to steer the response"
                )
    thinking = p.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if THINKING_ENABLED in rules and kind == "enabled":
        return invalid_request(
            f'thinking.type: "enabled" is not supported on {model}; use thinking.type "adaptive" '
            "and output_config.effort to control thinking depth"
        )
    if THINKING_DISABLED in rules and kind == "disabled":
        return invalid_request(
            f'thinking.type: "disabled" is not supported on {model}; thinking is adaptive and always on '
            '(use thinking.type "between_tools" to turn off up-front thinking)'
        )
    choice = p.get("tool_choice")
    if FORCED_TOOL in rules and isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return invalid_request(
            f"tool_choice: forced tool use (type '{choice['type']}') is not supported on {model}; "
            "use tool_choice 'auto' or 'none'"
        )
    messages = p.get("messages")
    if PREFILL in rules and not count_tokens and isinstance(messages, list) and len(messages) > 1:
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") == "assistant" and _is_prefill(last.get("content")):
            return invalid_request(
                f"messages: assistant message prefill is not supported on {model}; "
                "the conversation must end with a user message"
            )
    return None


def _is_prefill(content: object) -> bool:
    # Text the model is to continue. A paused turn sent back to be continued (pause_turn) ends in
    # server-tool blocks, which is not a prefill.
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(block, dict) and block.get("type") == "text" for block in content
    )
