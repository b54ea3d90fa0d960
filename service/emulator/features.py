"""Today's API features the emulator plans beside plain prose. Pure (the cache is passed in).

- Server tools (``web_search_*``, ``web_fetch_*``, ``code_execution_*`` tool types, as in the SDK's
  ``ToolUnionParam``): a server tool named in the last user message is run by "the server": a
  ``server_tool_use`` block (input streamed as ``input_json_delta``) then its result block
  (``web_search_tool_result``, ...), counted in ``usage.server_tool_use``; code execution also sets
  ``container``. Directive ``tool_error=CODE`` makes every result an error object with that code.
- ``pause_turn``: directive ``pause_turns=N`` pauses the first N turns of a server-tool loop. A paused
  turn holds one server call; its continuation (the paused content sent back as the final assistant
  turn, as Anthropic documents) is counted by the ``server_tool_use`` blocks already in that turn.
- ``refusal=CATEGORY`` (``none`` for a null category): a few words, then ``stop_reason: refusal`` with
  ``stop_details`` (the SDK's ``RefusalStopDetails``).
- ``context_window=N`` (default :data:`CONTEXT_WINDOW`): output that would run past the window stops
  with ``model_context_window_exceeded``.
- Structured output (``output_config.format`` ``json_schema``): the text is JSON valid for the schema.
- Prompt caching: :class:`PromptCache` turns ``cache_control`` breakpoints into cache writes (split
  5m/1h by ``ttl``) and, on a repeat of the same prefix, cache reads.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.emulator.schema_sample import sample
from service.emulator.tokens import content_tokens, text_tokens

#: Tokens of context a request may fill; the real windows are per model (200k and up).
CONTEXT_WINDOW = 200_000
#: Below this many prefix tokens a breakpoint caches nothing, as on the real API (the minimum
#: cacheable prompt length, 1024 tokens for most models; see
#: https://platform.claude.com/docs/en/build-with-claude/prompt-caching#cache-limitations).
MIN_CACHEABLE_TOKENS = 1024
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_CONTAINER_LIFETIME = timedelta(hours=1)

#: Server tool name -> (result block type, error object type, error codes the SDK allows).
SERVER_TOOLS: dict[str, tuple[str, str, frozenset[str]]] = {
    "web_search": (
        "web_search_tool_result",
        "web_search_tool_result_error",
        frozenset(
            {"invalid_tool_input", "unavailable", "max_uses_exceeded", "too_many_requests", "query_too_long"}
        ),
    ),
    "web_fetch": (
        "web_fetch_tool_result",
        "web_fetch_tool_result_error",
        frozenset(
            {
                "invalid_tool_input",
                "url_not_accessible",
                "unavailable",
                "max_uses_exceeded",
                "too_many_requests",
            }
        ),
    ),
    "code_execution": (
        "code_execution_tool_result",
        "code_execution_tool_result_error",
        frozenset({"invalid_tool_input", "unavailable", "too_many_requests", "execution_time_exceeded"}),
    ),
}
_SERVER_TYPE_PREFIXES = tuple(f"{name}_" for name in SERVER_TOOLS)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the API decides for one request, from a directive (see :mod:`service.emulator.faults`)."""

    pause_turns: int = 0
    refusal: str | None = None  # category, or "none"
    context_window: int = CONTEXT_WINDOW
    tool_error: str | None = None
    tool_rounds: int = 1  # client-tool rounds before a plain answer (a deterministic tool loop)


NORMAL = Behaviour()


def is_server_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and str(tool.get("type", "")).startswith(_SERVER_TYPE_PREFIXES)


def server_tools(params: dict[str, Any]) -> list[str]:
    """Names of the server tools the request offers (``web_search``, ...), in order."""
    tools = params.get("tools")
    if not isinstance(tools, list):
        return []
    return [str(t["type"]).rsplit("_", 1)[0] for t in tools if is_server_tool(t)]


def paused_calls(params: dict[str, Any]) -> int:
    """``server_tool_use`` blocks in a final assistant turn: how far a paused loop has come."""
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        return 0
    last = messages[-1]
    if (
        not isinstance(last, dict)
        or last.get("role") != "assistant"
        or not isinstance(last.get("content"), list)
    ):
        return 0
    return sum(1 for b in last["content"] if isinstance(b, dict) and b.get("type") == "server_tool_use")


def server_input(name: str, user_text: str) -> dict[str, Any]:
    """The input the model would send to a server tool for ``user_text``."""
    words = " ".join(user_text.split()[:8]) or "query"
    if name == "web_fetch":
        return {"url": "https://example.com/" + hashlib.sha256(words.encode()).hexdigest()[:8]}
    if name == "code_execution":
        return {"code": f"print(len({words!r}))"}
    return {"query": words}


def server_result(
    name: str, tool_use_id: str, tool_input: dict[str, Any], rng: random.Random, error: str | None
) -> dict[str, Any]:
    """The result block of one server call, shaped as the SDK's ``*ToolResultBlock`` types."""
    result_type, error_type, codes = SERVER_TOOLS[name]
    content: Any
    if error is not None:
        content = {"type": error_type, "error_code": error if error in codes else "unavailable"}
    elif name == "web_search":
        content = [
            {
                "type": "web_search_result",
                "title": f"Result {i + 1} for {tool_input.get('query', '')}"[:80],
                "url": f"https://example.com/search/{rng.randrange(10**6)}",
                "encrypted_content": hashlib.sha256(f"{tool_use_id}:{i}".encode()).hexdigest(),
                "page_age": "November 30, 2026",
            }
            for i in range(3)
        ]
    elif name == "web_fetch":
        content = {
            "type": "web_fetch_result",
            "url": tool_input["url"],
            "retrieved_at": "2026-12-01T00:00:00Z",
            "content": {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "Emulated page text."},
                "title": "Emulated page",
            },
        }
    else:
        content = {
            "type": "code_execution_result",
            "stdout": f"{rng.randint(1, 99)}\n",
            "stderr": "",
            "return_code": 0,
            "content": [],
        }
    return {"type": result_type, "tool_use_id": tool_use_id, "content": content}


def server_usage(names: list[str]) -> dict[str, int]:
    """``usage.server_tool_use`` (the SDK's ``ServerToolUsage``) for the calls made."""
    return {"web_search_requests": names.count("web_search"), "web_fetch_requests": names.count("web_fetch")}


def container(base: str, now: float) -> dict[str, Any]:
    """The ``container`` a code-execution turn runs in (the SDK's ``Container``)."""
    expires = datetime.fromtimestamp(int(now), UTC) + _CONTAINER_LIFETIME
    return {
        "id": "container_01" + hashlib.sha256(base.encode()).hexdigest()[:22],
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
    }


def stop_details(category: str) -> dict[str, Any]:
    named = category if category != "none" else None
    explanation = "This request was declined by the emulated safety classifier." if named else None
    return {"type": "refusal", "category": named, "explanation": explanation}


def json_schema(params: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of ``output_config.format`` when structured output is asked for."""
    config = params.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return dict(fmt["schema"])
    return None


def structured_text(schema: dict[str, Any], rng: random.Random) -> str:
    return json.dumps(sample(schema, rng))


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """The cache part of ``usage``: reads, and writes split by TTL."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h


NO_CACHE = CacheUsage()


@dataclass(frozen=True, slots=True)
class _Breakpoint:
    digest: str
    tokens: int  # prefix tokens up to and including this breakpoint
    ttl: str


def breakpoints(params: dict[str, Any]) -> list[_Breakpoint]:
    """The prompt's cache breakpoints in prefix order (tools, system, messages), each with the hash
    and token count of the prefix it ends. A top-level ``cache_control`` marks the last block."""
    chain = hashlib.sha256(str(params.get("model", "")).encode())
    tokens = 0
    marks: list[_Breakpoint] = []
    blocks: list[Any] = []
    tools = params.get("tools")
    if isinstance(tools, list):
        blocks.extend(tools)
    system = params.get("system")
    if isinstance(system, list):
        blocks.extend(system)
    elif isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    for message in params.get("messages") or []:
        if isinstance(message, dict):
            content = message.get("content")
            blocks.extend(content if isinstance(content, list) else [{"type": "text", "text": str(content)}])
    automatic = params.get("cache_control")
    for i, item in enumerate(blocks):
        chain.update(json.dumps(item, sort_keys=True, default=str).encode())
        tokens += (
            content_tokens([item])
            if isinstance(item, dict) and "type" in item
            else text_tokens(json.dumps(item))
        )
        control = item.get("cache_control") if isinstance(item, dict) else None
        if control is None and i == len(blocks) - 1 and isinstance(automatic, dict):
            control = automatic
        if isinstance(control, dict):
            marks.append(_Breakpoint(chain.hexdigest(), tokens, str(control.get("ttl", "5m"))))
    return marks


class PromptCache:
    """The emulator's prompt cache: prefix hash -> expiry, shared by all requests of one emulator."""

    def __init__(self) -> None:
        self._entries: dict[str, float] = {}
        self._lock = threading.Lock()

    def use(self, params: dict[str, Any], now: float) -> CacheUsage:
        """Read the longest cached prefix, write the rest up to the last breakpoint, refresh both."""
        marks = [m for m in breakpoints(params) if m.tokens >= MIN_CACHEABLE_TOKENS]
        if not marks:
            return NO_CACHE
        with self._lock:
            hit = next((m for m in reversed(marks) if self._entries.get(m.digest, 0.0) > now), None)
            read = hit.tokens if hit else 0
            write = {"5m": 0, "1h": 0}
            done = read
            for mark in marks:
                if mark.tokens > done:
                    write["1h" if mark.ttl == "1h" else "5m"] += mark.tokens - done
                    done = mark.tokens
                expiry = now + _TTL_SECONDS.get(mark.ttl, 300.0)
                self._entries[mark.digest] = max(self._entries.get(mark.digest, 0.0), expiry)
        return CacheUsage(read=read, write_5m=write["5m"], write_1h=write["1h"])
