"""The durable hand-off record of a submitted batch, and the fold that rebuilds open batches. Pure.

A batch is written to ``TOPIC_BATCHES`` as one or more chunk records keyed ``<batch id>/<chunk>``
(a 100,000-request batch with its params is far larger than Kafka's 1 MB default record size). Each
chunk carries the batch id, the chunk count and the submission time, so a reader can tell a complete
batch from one whose writer died half-way. A finished batch gets a tombstone per chunk key.

The topic is compacted on a real cluster, but readers must not rely on that (the embedded broker never
compacts): ``fold`` keeps the latest value per key and treats a tombstone as deletion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from schemas import Callback, SourceRecord
from service.cloudevents import TraceHeaders

CHUNK_BYTES = 512 * 1024
"""Target serialised size of one chunk record: well under Kafka's default ``message.max.bytes``."""

_ENTRY_OVERHEAD = 190  # JSON keys, source offsets, traceparent and punctuation around one entry's params


class Entry(BaseModel):
    """One request of a batch: enough to publish its outcome, and to submit it again."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    custom_id: str
    generation: int
    attempt: int
    source: SourceRecord
    timestamp_ms: int
    attributes: dict[str, str] = {}
    traceparent: str | None = None
    tracestate: str | None = None
    baggage: str | None = None
    callback: Callback | None = None
    params: str
    """Compact JSON of the Messages params, exactly as submitted (kept as text: a parsed dict per
    request would cost several times the memory)."""

    @property
    def version(self) -> tuple[int, int]:
        return (self.generation, self.attempt)

    @property
    def trace(self) -> TraceHeaders:
        """The prompt's trace headers, as its record carried them."""
        fields = {"traceparent": self.traceparent, "tracestate": self.tracestate, "baggage": self.baggage}
        return tuple((name, value.encode("latin-1")) for name, value in fields.items() if value is not None)

    def request_bytes(self) -> int:
        """Size of this request inside a create body: ``{"custom_id":"...","params":{...}},``."""
        return len(self.custom_id) + len(self.params.encode()) + 28

    def next_attempt(self) -> Entry:
        return self.model_copy(update={"attempt": self.attempt + 1})


class HandOffRecord(BaseModel):
    """One chunk of a batch's hand-off record (topic ``claude.batches``, key ``<batch id>/<chunk>``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    batch_id: str
    chunk: int
    chunks: int
    submitted_at: AwareDatetime
    instance: str
    entries: tuple[Entry, ...]

    @property
    def key(self) -> str:
        return record_key(self.batch_id, self.chunk)


@dataclass(frozen=True, slots=True)
class OpenBatch:
    """A submitted batch whose outcome has not been published yet."""

    batch_id: str
    submitted_at: datetime
    instance: str
    chunks: int
    entries: tuple[Entry, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(record_key(self.batch_id, i) for i in range(self.chunks))


@dataclass(frozen=True, slots=True)
class Folded:
    """What a read of the whole topic says: complete open batches, and keys of broken ones."""

    open: tuple[OpenBatch, ...]
    broken: tuple[str, ...]  # chunk keys of batches with chunks missing or unreadable


def record_key(batch_id: str, chunk: int) -> str:
    return f"{batch_id}/{chunk}"


def batch_of(key: str) -> str:
    return key.rpartition("/")[0] or key


def chunk_records(
    batch_id: str,
    entries: Sequence[Entry],
    submitted_at: datetime,
    instance: str,
    max_bytes: int = CHUNK_BYTES,
) -> list[HandOffRecord]:
    """Split a batch's entries into chunk records of about ``max_bytes`` each (at least one entry)."""
    groups: list[list[Entry]] = [[]]
    size = 0
    for entry in entries:
        cost = entry.request_bytes() + _ENTRY_OVERHEAD + 2 * len(json.dumps(entry.attributes))
        cost += len(entry.tracestate or "") + len(entry.baggage or "")  # baggage may run to kilobytes
        if groups[-1] and size + cost > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(entry)
        size += cost
    return [
        HandOffRecord(
            batch_id=batch_id,
            chunk=index,
            chunks=len(groups),
            submitted_at=submitted_at,
            instance=instance,
            entries=tuple(group),
        )
        for index, group in enumerate(groups)
    ]


def fold(records: Iterable[tuple[str, bytes | None]]) -> Folded:
    """Latest value per key wins, a tombstone deletes; group chunks into batches, oldest first."""
    state = HandOffState()
    state.apply(records)
    return Folded(tuple(state.open()), state.incomplete_keys())


def marker_key(batch_id: str) -> str:
    """Key of the marker a follower writes before it publishes a batch's results."""
    return f"{batch_id}/{PUBLISHING}"


PUBLISHING = "publishing"


@dataclass(frozen=True, slots=True)
class Changes:
    """What one ``HandOffState.apply`` changed: batches complete now (new or re-recorded), batches gone."""

    completed: tuple[OpenBatch, ...]
    closed: tuple[OpenBatch, ...]


class HandOffState:
    """The hand-off topic folded record by record, as a reader follows it (``fold`` is one read).

    Values stay raw bytes until every chunk of a batch is present; a batch is then parsed once and
    its bytes dropped. A tombstone deletes its key; a batch whose keys are all deleted is closed.
    Publishing markers (``<batch id>/publishing``) are kept apart from the chunks.
    """

    def __init__(self) -> None:
        self._chunks: dict[str, dict[str, bytes]] = {}  # batch id -> chunk key -> latest value
        self._publishing: set[str] = set()
        self._open: dict[str, OpenBatch] = {}

    def apply(self, records: Iterable[tuple[str, bytes | None]]) -> Changes:
        touched: set[str] = set()
        for key, value in records:
            batch_id = batch_of(key)
            touched.add(batch_id)
            if key.endswith("/" + PUBLISHING):
                if value is None:
                    self._publishing.discard(batch_id)
                else:
                    self._publishing.add(batch_id)
                continue
            chunks = self._chunks.setdefault(batch_id, {})
            if value is None:
                chunks.pop(key, None)
                if not chunks:
                    del self._chunks[batch_id]
            else:
                chunks[key] = value
        completed: list[OpenBatch] = []
        closed: list[OpenBatch] = []
        for batch_id in sorted(touched):
            values = self._chunks.get(batch_id)
            if values is None:
                if batch_id in self._open:
                    closed.append(self._open.pop(batch_id))
                continue
            batch = _assemble(batch_id, list(values.values())) if _all_there(values) else None
            if batch is not None:
                self._open[batch_id] = batch
                completed.append(batch)
                # Parsed: drop the bytes, keep the keys (for the tombstones that close it). A batch
                # re-recorded later is parsed again once every key has a new value.
                self._chunks[batch_id] = dict.fromkeys(values, b"")
        return Changes(tuple(completed), tuple(closed))

    def open(self) -> list[OpenBatch]:
        """Complete batches not yet tombstoned, oldest first."""
        return sorted(self._open.values(), key=lambda b: b.submitted_at)

    def publishing(self, batch_id: str) -> bool:
        """Whether a follower may have published some of this batch's results already."""
        return batch_id in self._publishing

    def incomplete_keys(self) -> tuple[str, ...]:
        """Chunk keys of batches with chunks missing or unreadable (a writer died mid-write)."""
        return tuple(
            key for batch_id, chunks in self._chunks.items() if batch_id not in self._open for key in chunks
        )


_CHUNKS = re.compile(rb'"chunks":(\d+)')


def _all_there(values: dict[str, bytes]) -> bool:
    """Cheap completeness check before a full parse: every chunk key of the announced count is there.

    ``chunks`` is the third field a ``HandOffRecord`` serialises, so it sits in the first bytes; a
    large batch arrives in many reads, and parsing it whole on each would cost quadratic time.
    """
    if not all(values.values()):
        return False  # parsed before (its bytes dropped) and not wholly re-recorded since
    counts = {m.group(1) for v in values.values() if (m := _CHUNKS.search(v, 0, 400)) is not None}
    if len(counts) != 1:
        return len(counts) == 0  # unreadable: let the full parse say so
    expected = int(counts.pop())
    return len(values) == expected


def _assemble(batch_id: str, values: list[bytes]) -> OpenBatch | None:
    try:
        chunks = sorted((HandOffRecord.model_validate_json(v) for v in values), key=lambda r: r.chunk)
    except ValidationError:
        return None
    expected = chunks[0].chunks
    if [c.chunk for c in chunks] != list(range(expected)) or any(c.chunks != expected for c in chunks):
        return None
    first = chunks[0]
    return OpenBatch(
        batch_id=batch_id,
        submitted_at=first.submitted_at,
        instance=first.instance,
        chunks=expected,
        entries=tuple(e for c in chunks for e in c.entries),
    )


def superseded(batches: Iterable[OpenBatch]) -> dict[str, frozenset[str]]:
    """Per batch, the custom_ids another open batch holds at a higher (generation, attempt).

    After a crash between recording a resubmission and tombstoning the batch it came from, both are
    open; the older one must then neither publish nor resubmit those requests again.
    """
    batches = list(batches)
    best: dict[str, tuple[int, int]] = {}
    for batch in batches:
        for entry in batch.entries:
            if entry.version > best.get(entry.custom_id, (-1, -1)):
                best[entry.custom_id] = entry.version
    return {
        batch.batch_id: frozenset(e.custom_id for e in batch.entries if e.version < best[e.custom_id])
        for batch in batches
    }
