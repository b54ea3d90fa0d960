"""SSE event -> DeltaEvent bytes: the hot path, so it splices bytes instead of building models.

The value is byte-for-byte a valid ``DeltaEvent`` (a test parses it with the pydantic model). The
``event`` field is the API's own JSON text, copied verbatim; only the envelope is ours.
"""

from __future__ import annotations

import json
from typing import Any

from service.cloudevents import Headers, TraceHeaders, event_type, rfc3339_now

DELTA_TYPE = event_type("delta")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class DeltaEncoder:
    """Encodes one (custom_id, generation, attempt)'s events with a gap-free ``seq`` from 0."""

    __slots__ = (
        "_id_prefix",
        "_prefix",
        "_source",
        "_static_headers",
        "custom_id",
        "key",
        "partition",
        "seq",
    )

    def __init__(
        self,
        custom_id: str,
        generation: int,
        attempt: int,
        attributes: dict[str, str],
        source: bytes,
        trace: TraceHeaders,
    ) -> None:
        self.custom_id = custom_id
        self.key = custom_id.encode()
        self.partition: int | None = None  # where the attempt's deltas go (``Outputs.partition``)
        self.seq = 0
        self._prefix = (
            b'{"custom_id":' + dumps(custom_id) + b',"generation":' + str(generation).encode()
            + b',"attempt":' + str(attempt).encode() + b',"attributes":' + dumps(attributes) + b',"seq":'
        )  # fmt: skip
        self._id_prefix = f"{custom_id}:{generation}:{attempt}:"
        self._source = source
        self._static_headers: Headers = [("ce_subject", self.key), *trace]

    def encode(self, event_json: bytes) -> tuple[bytes, Headers]:
        """The next delta's value and CloudEvents headers for one SSE event's JSON text."""
        seq = self.seq
        self.seq = seq + 1
        value = b"".join((self._prefix, str(seq).encode(), b',"event":', event_json, b"}"))
        headers: Headers = [
            ("ce_specversion", b"1.0"),
            ("ce_type", DELTA_TYPE),
            ("ce_source", self._source),
            ("ce_id", (self._id_prefix + str(seq)).encode()),
            ("ce_time", rfc3339_now()),
            ("content-type", b"application/json"),
            *self._static_headers,
        ]
        return value, headers
