"""SSE frame encoding for a :class:`MessagePlan`. Pure; the hot path of the emulator.

Every frame is ``event: <type>\\ndata: <json>\\n\\n`` (the SDK drops data-only events and events
without a trailing blank line). Content deltas, the bulk of a stream, are assembled from
pre-encoded byte templates plus a cached JSON encoding of the piece, not from ``json.dumps`` of a
dict per event.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from service.emulator.generate import BlockPlan, MessagePlan


def frame(event: str, data: dict[str, Any]) -> bytes:
    return (
        b"event: " + event.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
    )


PING = frame("ping", {"type": "ping"})
MESSAGE_STOP = frame("message_stop", {"type": "message_stop"})

_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_KIND = {
    "text": b',"delta":{"type":"text_delta","text":',
    "thinking": b',"delta":{"type":"thinking_delta","thinking":',
    "tool_use": b',"delta":{"type":"input_json_delta","partial_json":',
    "server_tool_use": b',"delta":{"type":"input_json_delta","partial_json":',
}
_DELTA_TAIL = b"}}\n\n"


@lru_cache(maxsize=65536)
def _json_str(piece: str) -> bytes:
    # Pieces repeat a lot (one to three words from a small vocabulary), so caching pays.
    return json.dumps(piece).encode()


def error_frame(error_type: str, message: str, request_id: str | None = None) -> bytes:
    data: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        data["request_id"] = request_id
    return frame("error", data)


def stream_frames(plan: MessagePlan) -> list[tuple[bytes, int]]:
    """All frames of the stream, each with the output tokens it carries (0 for non-content)."""
    frames: list[tuple[bytes, int]] = [
        (frame("message_start", {"type": "message_start", "message": plan.to_message(content=False)}), 0),
        (PING, 0),
    ]
    for index, block in enumerate(plan.blocks):
        frames.extend(_block_frames(index, block))
    usage = plan.usage()
    del usage["cache_creation"], usage["service_tier"]  # MessageDeltaUsage has neither field
    body: dict[str, Any] = {
        "stop_reason": plan.stop_reason,
        "stop_sequence": plan.stop_sequence,
        "stop_details": plan.stop_details,
    }
    if plan.container is not None:
        body["container"] = plan.container
    delta = {"type": "message_delta", "delta": body, "usage": usage}
    frames.append((frame("message_delta", delta), 0))
    frames.append((MESSAGE_STOP, 0))
    return frames


def odd_shape(frames: list[tuple[bytes, int]], shape: str, plan: MessagePlan) -> list[tuple[bytes, int]]:
    """``frames`` bent into ``shape`` (see ``faults.SHAPES``)."""
    if shape == "orphan_delta":
        orphan = _DELTA_HEAD + str(len(plan.blocks)).encode() + _DELTA_KIND["text"] + _json_str("?")
        return [*frames[:2], (orphan + _DELTA_TAIL, 1), *frames[2:]]  # after message_start and ping
    raise ValueError(f"unknown stream shape {shape!r}")


def _block_frames(index: int, block: BlockPlan) -> list[tuple[bytes, int]]:
    skeleton: dict[str, Any]
    if block.kind == "text":
        skeleton = {"type": "text", "text": ""}
    elif block.kind == "thinking":
        skeleton = {"type": "thinking", "thinking": "", "signature": ""}
    elif block.kind == "result":
        skeleton = block.to_block()  # sent whole: result blocks have no deltas
    else:
        skeleton = {"type": block.kind, "id": block.tool_id, "name": block.tool_name, "input": {}}
    out = [
        (
            frame(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": skeleton},
            ),
            0,
        )
    ]
    head = _DELTA_HEAD + str(index).encode() + _DELTA_KIND.get(block.kind, b"")
    for piece, tokens in zip(block.pieces, block.piece_tokens, strict=True):
        # A zero-token piece (the leading "" of tool JSON) still paces like one token.
        out.append((head + _json_str(piece) + _DELTA_TAIL, max(tokens, 1)))
    if block.kind == "thinking":
        signature = {"type": "signature_delta", "signature": block.signature}
        out.append(
            (
                frame(
                    "content_block_delta", {"type": "content_block_delta", "index": index, "delta": signature}
                ),
                0,
            )
        )
    out.append((frame("content_block_stop", {"type": "content_block_stop", "index": index}), 0))
    return out
