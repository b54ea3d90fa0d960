"""Batch results as JSONL bytes, produced lazily: one line per request, chunks of bounded size.

Pure: the message generator is passed in, so nothing here touches HTTP. A 100,000-line file never
exists in memory; at most one chunk of lines plus the message being generated does.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from service.emulator.batch_store import ResultEntry
from service.emulator.errors import DEFAULT_MESSAGES, api_error_body

#: Bytes per write. Large enough to keep per-write overhead low, small enough to stay lean.
CHUNK_BYTES = 64 * 1024

_ALPHABET = string.ascii_letters + string.digits

ERROR_MESSAGES: dict[str, str] = {
    **DEFAULT_MESSAGES,
    "invalid_request_error": "This request could not be processed (emulated batch error).",
}


class GenerateMessage(Protocol):
    def __call__(
        self, params: dict[str, Any], *, seed: int, request_key: str | None = None
    ) -> dict[str, Any]: ...


def result_object(
    entry: ResultEntry, *, batch_id: str, seed: int, generate: GenerateMessage
) -> dict[str, Any]:
    """The ``MessageBatchIndividualResponse`` for one request."""
    result: dict[str, Any]
    if entry.type == "succeeded":
        assert entry.params is not None  # the store attaches params to every succeeded entry
        message = generate(json.loads(entry.params), seed=seed, request_key=entry.custom_id)
        # Batch traffic is billed on the batch tier; the real API reports it in usage.
        message.setdefault("usage", {})["service_tier"] = "batch"
        result = {"type": "succeeded", "message": message}
    elif entry.type == "errored":
        error_type = entry.error_type or "api_error"
        envelope = api_error_body(
            error_type,
            entry.error_message or ERROR_MESSAGES.get(error_type, error_type),
            request_id(batch_id, entry.custom_id),
        )
        result = {"type": "errored", "error": envelope}
    else:
        result = {"type": entry.type}
    return {"custom_id": entry.custom_id, "result": result}


def result_lines(
    entries: Iterable[ResultEntry], *, batch_id: str, seed: int, generate: GenerateMessage
) -> Iterator[bytes]:
    """One ``\\n``-terminated JSON line per entry. Compact JSON never contains a raw newline,
    so no line is ever blank or split."""
    for entry in entries:
        obj = result_object(entry, batch_id=batch_id, seed=seed, generate=generate)
        yield json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


#: Results are shuffled within windows of this many, so the order differs while staying lazy.
SHUFFLE_WINDOW = 64


def out_of_order(
    entries: Iterable[ResultEntry], *, batch_id: str, window: int = SHUFFLE_WINDOW
) -> Iterator[ResultEntry]:
    """``entries`` in an order other than submission order, the same on every download.

    The real API does not keep submission order ("results ... may be in any order; use the
    ``custom_id`` field to match results to requests",
    https://platform.claude.com/docs/en/build-with-claude/batch-processing), so clients must match by
    ``custom_id``. A seeded shuffle per window keeps memory bounded for 100,000-line files.
    """
    rng = random.Random(batch_id)
    pending: list[ResultEntry] = []
    for entry in entries:
        pending.append(entry)
        if len(pending) >= window:
            rng.shuffle(pending)
            yield from pending
            pending = []
    if len(pending) > 1:
        # A short tail (or a small batch) is reversed at least, so it never keeps its order.
        rng.shuffle(pending)
        if [e.index for e in pending] == sorted(e.index for e in pending):
            pending.reverse()
    yield from pending


def chunked(lines: Iterable[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Join whole lines into chunks of about ``chunk_bytes`` (a single longer line is its own chunk)."""
    pending: list[bytes] = []
    size = 0
    for line in lines:
        pending.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def request_id(batch_id: str, custom_id: str) -> str:
    """A stable ``req_...`` id for an errored result, so repeated downloads are identical."""
    digest = int.from_bytes(hashlib.blake2b(f"{batch_id}/{custom_id}".encode(), digest_size=16).digest())
    tail = []
    for _ in range(22):
        digest, rem = divmod(digest, len(_ALPHABET))
        tail.append(_ALPHABET[rem])
    return "req_01" + "".join(tail)
