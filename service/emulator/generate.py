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
  a one-sentence preamble. A last user turn carrying ``tool_result`` blocks gets a plain answer.
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

from service.emulator.prose import cut_at_stop_sequence, group_tokens, prose_tokens
from service.emulator.schema_sample import sample
from service.emulator.tokens import count_input_tokens, text_tokens

_NON_SAMPLING_KEYS = frozenset({"stream", "metadata", "max_tokens", "stop_sequences"})
_ID_ALPHABET = string.ascii_letters + string.digits

BlockKind = Literal["text", "thinking", "tool_use"]


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One content block: its delta ``pieces`` (text, thinking or partial JSON) and their tokens."""

    kind: BlockKind
    pieces: tuple[str, ...]
    piece_tokens: tuple[int, ...]
    signature: str = ""  # thinking
    tool_id: str = ""  # tool_use
    tool_name: str = ""
    tool_input: Any = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def to_block(self) -> dict[str, Any]:
        if self.kind == "text":
            return {"type": "text", "text": self.text}
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        return {"type": "tool_use", "id": self.tool_id, "name": self.tool_name, "input": self.tool_input}


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

    def usage(self, output_tokens: int | None = None) -> dict[str, Any]:
        """Full ``Usage``; ``output_tokens`` overrides the total (the stream's start placeholder)."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": "standard",
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
) -> MessagePlan:
    """The answer to ``params`` as blocks of delta pieces, with stop reason and usage. Pure."""
    base = _content_key(params, seed, request_key)
    budget = max(0, int(params.get("max_tokens", 0)))
    blocks: list[BlockPlan] = []
    stop_reason = "end_turn"
    stop_sequence: str | None = None

    thinking = params.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive") and budget > 0:
        rng = random.Random(f"{base}:thinking")
        wanted = min(int(thinking.get("budget_tokens", 1024)), rng.randint(30, 150))
        tokens = prose_tokens(rng, min(wanted, budget))
        pieces, counts = group_tokens(tokens, rng, tokens_per_delta)
        signature = _signature(base, "".join(tokens))
        blocks.append(BlockPlan("thinking", tuple(pieces), tuple(counts), signature=signature))
        budget -= len(tokens)
        if wanted > len(tokens):
            stop_reason = "max_tokens"

    tool_names = _tools_to_call(params, base) if stop_reason == "end_turn" else []
    if stop_reason == "end_turn" and budget > 0:
        rng = random.Random(f"{base}:text")
        if tool_names:
            tokens = _preamble(tool_names) if _choice_type(params) == "auto" else []
        else:
            tokens = prose_tokens(rng, output_tokens if output_tokens is not None else rng.randint(20, 300))
        if len(tokens) > budget:
            tokens, stop_reason, tool_names = tokens[:budget], "max_tokens", []
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
    elif budget == 0 and stop_reason == "end_turn":
        stop_reason, tool_names = "max_tokens", []

    schemas = _tool_schemas(params)
    for name in tool_names:
        rng = random.Random(f"{base}:tool:{name}:{len(blocks)}")
        value = sample(schemas.get(name, {}), rng)
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
        input_tokens=count_input_tokens(params),
        output_tokens=sum(sum(b.piece_tokens) for b in blocks),
    )


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
    return {str(t["name"]): t.get("input_schema", {}) for t in tools if isinstance(t, dict) and "name" in t}


def _tools_to_call(params: dict[str, Any], base: str) -> list[str]:
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
    if has_tool_result or not mentioned:
        return []
    return mentioned[:1] if choice.get("disable_parallel_tool_use") else mentioned


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
