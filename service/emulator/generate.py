"""The emulator's "model": a pure plan of the answer, rendered as a Message dict or as SSE.

Seam for other route modules (batches)::

    generate_message(params, *, seed, request_key=None, output_tokens=None,
                     tokens_per_delta=None, message_id=None) -> dict

returns the full non-streaming ``Message`` for a validated messages body. The stream for the same
``params`` and ``seed`` carries exactly the same content, stop reason and usage, because both are
rendered from one :class:`MessagePlan` (see :func:`plan_message`).

Determinism: content depends on ``seed``, ``request_key`` and the body *minus* the keys that do not
change what a model would sample (``stream``, ``metadata``, ``max_tokens``, ``stop_sequences``).
So a smaller ``max_tokens`` or a stop sequence yields a prefix of the same text, and a retried
request (same body) gets the same answer.

Behaviour:
- ``thinking: {type: enabled, budget_tokens}`` → a thinking block first (≤ budget tokens);
  ``{type: adaptive}`` likewise (≤ 1024 tokens), since 5-series models refuse ``enabled``.
- Tools: ``tool_choice`` ``none`` → no tool; ``tool`` → that tool; ``any`` → a tool named in the
  last user message, else one drawn from the seed; ``auto`` (default) → every tool whose name
  appears in the last user message text (only the first when ``disable_parallel_tool_use``), after
  a one-sentence preamble. A last user turn carrying ``tool_result`` blocks gets a plain answer,
  unless directive ``tool_rounds=N`` asks for more rounds: the tools named in the last user text
  are called again until N user turns of tool results are in the history (a loop of N+1 turns). A
  string property ``expression`` gets an arithmetic expression (a ``calculator`` tool can run it).
- Answer length: ``output_tokens`` tokens if given, else 20..300 drawn from the seed; cut at
  ``max_tokens`` (stop_reason ``max_tokens``) or before the first stop sequence (``stop_sequence``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any, Literal

from service.emulator import features
from service.emulator.features import NO_CACHE, NORMAL, Behaviour, CacheUsage
from service.emulator.prose import cut_at_stop_sequence, group_tokens, prose_tokens
from service.emulator.schema_sample import sample
from service.emulator.tokens import count_input_tokens, text_tokens

_NON_SAMPLING_KEYS = frozenset({"stream", "metadata", "max_tokens", "stop_sequences"})
_ID_ALPHABET = string.ascii_letters + string.digits

#: ``result`` is a block sent whole at ``content_block_start`` (server tool results), no deltas.
BlockKind = Literal["text", "thinking", "tool_use", "server_tool_use", "result"]


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One content block: its delta ``pieces`` (text, thinking or partial JSON) and their tokens."""

    kind: BlockKind
    pieces: tuple[str, ...]
    piece_tokens: tuple[int, ...]
    signature: str = ""  # thinking
    tool_id: str = ""  # tool_use
    tool_name: str = ""
    tool_input: Any = None  # tool_use / server_tool_use: the input; result: the whole block

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def to_block(self) -> dict[str, Any]:
        if self.kind == "text":
            return {"type": "text", "text": self.text}
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        if self.kind == "result":
            return dict(self.tool_input)
        return {"type": self.kind, "id": self.tool_id, "name": self.tool_name, "input": self.tool_input}


@dataclass(frozen=True, slots=True)
class MessagePlan:
    message_id: str
    model: str
    blocks: tuple[BlockPlan, ...]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    usage_extra: dict[str, Any] = field(default_factory=dict)
    cache: CacheUsage = NO_CACHE
    stop_details: dict[str, Any] | None = None
    container: dict[str, Any] | None = None

    def usage(self, output_tokens: int | None = None) -> dict[str, Any]:
        """Full ``Usage``; ``output_tokens`` overrides the total (the stream's start placeholder)."""
        cache = self.cache
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": cache.write,
            "cache_read_input_tokens": cache.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache.write_5m,
                "ephemeral_1h_input_tokens": cache.write_1h,
            },
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": "standard",
            **self.usage_extra,
        }

    def to_message(self, *, content: bool = True) -> dict[str, Any]:
        """The ``Message`` dict; ``content=False`` gives the ``message_start`` skeleton."""
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [b.to_block() for b in self.blocks] if content else [],
            "stop_reason": self.stop_reason if content else None,
            "stop_sequence": self.stop_sequence if content else None,
            "stop_details": self.stop_details if content else None,
            "container": self.container if content else None,
            "usage": self.usage() if content else self.usage(output_tokens=1),
        }


def generate_message(
    params: dict[str, Any],
    *,
    seed: int,
    request_key: str | None = None,
    output_tokens: int | None = None,
    tokens_per_delta: int | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """Full non-streaming ``Message`` dict for validated ``params``. Pure; see the module docstring."""
    return plan_message(
        params,
        seed=seed,
        request_key=request_key,
        output_tokens=output_tokens,
        tokens_per_delta=tokens_per_delta,
        message_id=message_id,
    ).to_message()


def plan_message(
    params: dict[str, Any],
    *,
    seed: int,
    request_key: str | None = None,
    output_tokens: int | None = None,
    tokens_per_delta: int | None = None,
    message_id: str | None = None,
    behaviour: Behaviour = NORMAL,
    cache: CacheUsage = NO_CACHE,
    now: float = 0.0,
) -> MessagePlan:
    """The answer to ``params`` as blocks of delta pieces, with stop reason and usage. Pure.

    ``behaviour`` is what the API decides (directives), ``cache`` the prompt cache's verdict and
    ``now`` the epoch time a code-execution container's expiry counts from.
    """
    base = _content_key(params, seed, request_key)
    input_tokens = count_input_tokens(params)
    max_tokens = max(0, int(params.get("max_tokens", 0)))
    # Output that would run past the context window stops there (stop_reason below).
    budget = min(max_tokens, max(0, behaviour.context_window - input_tokens))
    # Which limit ends an answer that runs out of budget: the window only when it is the tighter one
    # (thinking or server tools spending part of max_tokens does not make it the window's doing).
    cut_by = "model_context_window_exceeded" if budget < max_tokens else "max_tokens"
    blocks: list[BlockPlan] = []
    stop_reason = "end_turn"
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None
    usage_extra: dict[str, Any] = {}
    container: dict[str, Any] | None = None

    thinking = params.get("thinking")
    thinking_type = thinking.get("type") if isinstance(thinking, dict) else None
    if thinking_type in ("enabled", "adaptive") and budget > 0:
        assert isinstance(thinking, dict)
        rng = random.Random(f"{base}:thinking")
        # Adaptive thinking has no budget: the model decides (here at most 1024 tokens).
        wanted = min(int(thinking.get("budget_tokens", 1024)), rng.randint(30, 150))
        tokens = prose_tokens(rng, min(wanted, budget))
        pieces, counts = group_tokens(tokens, rng, tokens_per_delta)
        signature = _signature(base, "".join(tokens))
        blocks.append(BlockPlan("thinking", tuple(pieces), tuple(counts), signature=signature))
        budget -= len(tokens)
        if wanted > len(tokens):
            stop_reason = cut_by

    if stop_reason == "end_turn" and budget > 0 and behaviour.refusal is None:
        budget, stop_reason, usage_extra, container = _server_calls(
            params, base, blocks, budget, behaviour, tokens_per_delta, now
        )

    tool_names = _tools_to_call(params, base, behaviour.tool_rounds) if stop_reason == "end_turn" else []
    schema = features.json_schema(params)
    if stop_reason == "end_turn" and budget > 0:
        rng = random.Random(f"{base}:text")
        if behaviour.refusal is not None:
            # A streaming classifier stops the answer a few words in.
            tokens, tool_names = prose_tokens(rng, 6), []
        elif schema is not None and not tool_names:
            tokens = list(_json_pieces(features.structured_text(schema, rng), rng)[0][1:])
        elif tool_names:
            tokens = _preamble(tool_names) if _choice_type(params) == "auto" else []
        else:
            tokens = prose_tokens(rng, output_tokens if output_tokens is not None else rng.randint(20, 300))
        if len(tokens) > budget:
            tokens, stop_reason, tool_names = tokens[:budget], cut_by, []
        stops = params.get("stop_sequences")
        if isinstance(stops, list) and stops:
            tokens, stop_sequence = cut_at_stop_sequence(tokens, [s for s in stops if isinstance(s, str)])
            if stop_sequence is not None:
                stop_reason, tool_names = "stop_sequence", []
        if tokens:
            pieces, counts = group_tokens(tokens, rng, tokens_per_delta)
            blocks.append(BlockPlan("text", tuple(pieces), tuple(counts)))
            # A token cut by a stop sequence was still generated, so it is still counted.
            budget -= sum(counts)
        if behaviour.refusal is not None:
            stop_reason, stop_details = "refusal", features.stop_details(behaviour.refusal)
    elif budget == 0 and stop_reason == "end_turn":
        stop_reason, tool_names = cut_by, []

    schemas = _tool_schemas(params)
    for name in tool_names:
        rng = random.Random(f"{base}:tool:{name}:{len(blocks)}")
        value = _with_expression(sample(schemas.get(name, {}), rng), schemas.get(name, {}), rng)
        json_pieces, json_counts = _json_pieces(json.dumps(value), rng)
        if sum(json_counts) > budget:
            stop_reason = "max_tokens"
            break
        tool_id = "toolu_01" + "".join(rng.choice(_ID_ALPHABET) for _ in range(22))
        blocks.append(
            BlockPlan("tool_use", json_pieces, json_counts, tool_id=tool_id, tool_name=name, tool_input=value)
        )
        budget -= sum(json_counts)
        stop_reason = "tool_use"

    if message_id is None:
        id_rng = random.Random(f"{base}:id")
        message_id = "msg_01" + "".join(id_rng.choice(_ID_ALPHABET) for _ in range(22))
    return MessagePlan(
        message_id=message_id,
        model=str(params.get("model", "")),
        blocks=tuple(blocks),
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        input_tokens=max(0, input_tokens - cache.read - cache.write),
        output_tokens=sum(sum(b.piece_tokens) for b in blocks),
        usage_extra=usage_extra,
        cache=cache,
        stop_details=stop_details,
        container=container,
    )


def _server_calls(
    params: dict[str, Any],
    base: str,
    blocks: list[BlockPlan],
    budget: int,
    behaviour: Behaviour,
    tokens_per_delta: int | None,
    now: float,
) -> tuple[int, str, dict[str, Any], dict[str, Any] | None]:
    """Append the server tool calls of this turn to ``blocks``; see :mod:`service.emulator.features`.

    Returns the remaining budget, the stop reason so far, usage extras and the container.
    """
    offered = features.server_tools(params)
    if not offered:
        return budget, "end_turn", {}, None
    done = features.paused_calls(params)
    text, has_tool_result = _last_user_turn(params)
    if done < behaviour.pause_turns:
        names, stop_reason = offered[:1], "pause_turn"  # one call per paused turn
    elif done or has_tool_result:
        return budget, "end_turn", {"server_tool_use": features.server_usage([])}, None
    else:
        # Named as ``web_search`` or "web search" in the user's words.
        names = [n for n in offered if n in text.lower() or n.replace("_", " ") in text.lower()]
        stop_reason = "end_turn"
    for name in names:
        rng = random.Random(f"{base}:server:{name}:{len(blocks)}")
        tool_input = features.server_input(name, text)
        pieces, counts = _json_pieces(json.dumps(tool_input), rng)
        if sum(counts) > budget:
            return budget, "max_tokens", {"server_tool_use": features.server_usage(names)}, None
        tool_id = "srvtoolu_01" + "".join(rng.choice(_ID_ALPHABET) for _ in range(22))
        blocks.append(
            BlockPlan(
                "server_tool_use", pieces, counts, tool_id=tool_id, tool_name=name, tool_input=tool_input
            )
        )
        budget -= sum(counts)
        result = features.server_result(name, tool_id, tool_input, rng, behaviour.tool_error)
        blocks.append(BlockPlan("result", (), (), tool_input=result))
    box = features.container(base, now) if "code_execution" in names else None
    return budget, stop_reason, {"server_tool_use": features.server_usage(names)}, box


def _content_key(params: dict[str, Any], seed: int, request_key: str | None) -> str:
    sampled = {k: v for k, v in params.items() if k not in _NON_SAMPLING_KEYS}
    blob = json.dumps(sampled, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{seed}\x00{request_key or ''}\x00{blob}".encode()).hexdigest()
    return digest[:32]


def _signature(base: str, thinking: str) -> str:
    raw = b"".join(hashlib.sha256(f"{base}:{i}:{thinking}".encode()).digest() for i in range(6))
    return base64.b64encode(raw).decode()


def _choice_type(params: dict[str, Any]) -> str:
    choice = params.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("type"), str):
        return str(choice["type"])
    return "auto"


def _tool_schemas(params: dict[str, Any]) -> dict[str, Any]:
    tools = params.get("tools")
    if not isinstance(tools, list):
        return {}
    return {
        str(t["name"]): t.get("input_schema", {})
        for t in tools
        if isinstance(t, dict) and "name" in t and not features.is_server_tool(t)
    }


def _with_expression(value: Any, schema: Any, rng: random.Random) -> Any:
    """``value`` with a string ``expression`` property replaced by arithmetic a calculator can run."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    wanted = properties.get("expression") if isinstance(properties, dict) else None
    if not isinstance(value, dict) or not isinstance(wanted, dict) or wanted.get("type") != "string":
        return value
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(1, 999)
    return {**value, "expression": f"{a} * {b} + {c}"}


def _tools_to_call(params: dict[str, Any], base: str, rounds: int = 1) -> list[str]:
    names = list(_tool_schemas(params))
    choice = params.get("tool_choice") if isinstance(params.get("tool_choice"), dict) else {}
    assert isinstance(choice, dict)
    kind = _choice_type(params)
    if not names or kind == "none":
        return []
    if kind == "tool":
        return [str(choice.get("name"))] if choice.get("name") in names else []
    text, has_tool_result = _last_user_turn(params)
    mentioned = [n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text, re.IGNORECASE)]
    if kind == "any":
        return mentioned[:1] or [random.Random(f"{base}:choice").choice(names)]
    if has_tool_result:
        if _tool_result_turns(params) >= rounds:
            return []
        mentioned = [
            n
            for n in names
            if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", _last_user_text(params), re.I)
        ]
    if not mentioned:
        return []
    return mentioned[:1] if choice.get("disable_parallel_tool_use") else mentioned


def _user_blocks(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Each user turn's content as blocks, in order (a string is one text block)."""
    messages = params.get("messages")
    out: list[list[dict[str, Any]]] = []
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                out.append([{"type": "text", "text": content}])
            elif isinstance(content, list):
                out.append([b for b in content if isinstance(b, dict)])
    return out


def _tool_result_turns(params: dict[str, Any]) -> int:
    """User turns carrying ``tool_result`` blocks: how many tool rounds the loop has done."""
    return sum(1 for blocks in _user_blocks(params) if any(b.get("type") == "tool_result" for b in blocks))


def _last_user_text(params: dict[str, Any]) -> str:
    """The text of the latest user turn that has any: what the tools were asked for."""
    for blocks in reversed(_user_blocks(params)):
        text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if text.strip():
            return text
    return ""


def _last_user_turn(params: dict[str, Any]) -> tuple[str, bool]:
    messages = params.get("messages")
    if not isinstance(messages, list):
        return "", False
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content, False
            if isinstance(content, list):
                blocks = [b for b in content if isinstance(b, dict)]
                text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
                return text, any(b.get("type") == "tool_result" for b in blocks)
            return "", False
    return "", False


def _preamble(tool_names: list[str]) -> list[str]:
    words = ["I'll", "use", "the", *[f"{n}" for n in tool_names[:1]], "tool", "to", "help", "with", "that."]
    return [words[0], *(" " + w for w in words[1:])]


def _json_pieces(text: str, rng: random.Random) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Split JSON text into ``input_json_delta`` fragments; the first is ``""`` like the real API."""
    pieces = [""]
    i = 0
    while i < len(text):
        n = rng.randint(4, 16)
        pieces.append(text[i : i + n])
        i += n
    return tuple(pieces), tuple(text_tokens(p) for p in pieces)
