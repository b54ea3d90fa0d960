"""Message Batches as a pure state machine: no aiohttp, no background tasks, time from an injected clock.

A batch's whole life is decided when it is created, except for cancel, so its state at any instant is
a function of ``(created, cancel time, now)``; nothing has to tick in the background.

**Emulated time.** Each batch runs on its own emulated timeline that advances ``1 / time_scale`` times
faster than the wall clock from ``created_at``. Every timestamp the API shows (``ended_at``,
``expires_at``, ``cancel_initiated_at``, ``archived_at``) is on that timeline, so ``expires_at`` is
exactly ``created_at + 24h`` and ``ended_at - created_at`` is the emulated processing time, while
with ``time_scale=0.001`` a five-minute batch ends 0.3 s after creation in real time. The price: with
a scale below 1, ``ended_at`` lies in the wall clock's future; compare timestamps with each other,
not with the local clock.

**Timing rules** (emulated seconds, see :class:`BatchTiming`):

- processing takes ``base_s + per_request_s * n``; request ``i`` (0-based) finishes at
  ``duration * (i + 1) / n``, so requests complete in submission order, evenly spread;
- a request planned to expire never finishes; a batch with one ends at ``expiry_s`` (24 h) and every
  unfinished request is ``expired``; a batch whose duration exceeds 24 h is cut off the same way;
- cancel moves the batch to ``canceling``; it ends ``cancel_s`` later (or earlier, if processing
  finishes first); requests finished by then keep their outcome, the rest are ``canceled``;
- ``request_counts`` keeps every request in ``processing`` until the batch ends (as the real API does);
- results stay available for ``retention_s`` (29 days); then ``archived_at`` is set and they are gone.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from service.emulator.errors import ApiError, invalid_request

ProcessingStatus = Literal["in_progress", "canceling", "ended"]
ResultType = Literal["succeeded", "errored", "canceled", "expired"]

DAY_S = 86_400.0


class Plan(enum.IntEnum):
    """What a request will do if the batch runs long enough. Stored as one byte per request."""

    SUCCEED = 0
    ERROR = 1
    CANCEL = 2  # ends ``canceled`` on its own, as if it had been canceled upstream
    EXPIRE = 3  # never finishes: the batch runs until expiry and this request ends ``expired``


@dataclass(frozen=True, slots=True)
class BatchTiming:
    """Emulated durations in seconds; ``time_scale`` converts them to wall-clock seconds."""

    time_scale: float = 1.0
    base_s: float = 300.0
    per_request_s: float = 0.01
    cancel_s: float = 30.0
    expiry_s: float = DAY_S
    retention_s: float = 29 * DAY_S

    def duration_s(self, n_requests: int) -> float:
        return self.base_s + self.per_request_s * n_requests


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request of a create call after validation. ``params`` is compact JSON, kept as bytes
    because a bytes object is several times smaller than the parsed dict it came from."""

    custom_id: str
    params: bytes
    plan: Plan = Plan.SUCCEED
    error_type: str = "invalid_request_error"
    error_message: str | None = None  # None: a generic message for ``error_type``


@dataclass(frozen=True, slots=True)
class RequestCounts:
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "processing": self.processing,
            "succeeded": self.succeeded,
            "errored": self.errored,
            "canceled": self.canceled,
            "expired": self.expired,
        }


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch as seen at one instant. Times are epoch seconds on the batch's emulated timeline."""

    id: str
    processing_status: ProcessingStatus
    request_counts: RequestCounts
    created_at: float
    expires_at: float
    ended_at: float | None
    cancel_initiated_at: float | None
    archived_at: float | None

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"

    def to_api(self, results_url: str | None) -> dict[str, object]:
        """The wire ``MessageBatch``; ``results_url`` is passed in only once the batch has ended."""
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": self.request_counts.as_dict(),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
            "ended_at": _maybe_rfc3339(self.ended_at),
            "cancel_initiated_at": _maybe_rfc3339(self.cancel_initiated_at),
            "archived_at": _maybe_rfc3339(self.archived_at),
            "results_url": results_url if self.ended else None,
        }


@dataclass(frozen=True, slots=True)
class ResultEntry:
    """One line of a results file before a message is generated for it."""

    index: int
    custom_id: str
    type: ResultType
    params: bytes | None  # only for ``succeeded``: the message is generated from it lazily
    error_type: str | None = None  # only for ``errored``
    error_message: str | None = None  # only for ``errored``, when the request carried a specific one


@dataclass(frozen=True, slots=True)
class Page:
    data: list[BatchView]
    has_more: bool

    @property
    def first_id(self) -> str | None:
        return self.data[0].id if self.data else None

    @property
    def last_id(self) -> str | None:
        return self.data[-1].id if self.data else None


class Packed:
    """Many byte strings in one growing buffer plus an array of end offsets.

    For 100,000 requests this is two allocations instead of 200,000 small objects: ~8 bytes of
    overhead per item instead of ~50, and nothing long-lived is left interleaved with the parser's
    freed dicts, so the allocator can hand that memory back after a create.
    """

    __slots__ = ("_blob", "_ends")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("Q")

    def append(self, item: bytes) -> None:
        self._blob += item
        self._ends.append(len(self._blob))

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> bytes:
        start = self._ends[index - 1] if index else 0
        # Through a memoryview: one copy, and the view is gone before the next append could clash.
        with memoryview(self._blob) as view:
            return bytes(view[start : self._ends[index]])

    @property
    def nbytes(self) -> int:
        return len(self._blob) + self._ends.itemsize * len(self._ends)


@dataclass(slots=True)
class _Batch:
    """Stored state. Requests are parallel sequences, which is leaner than one object per request."""

    id: str
    created_at: float  # wall clock
    custom_ids: Packed
    params: Packed
    plans: bytes
    errors: dict[int, tuple[str, str | None]]  # sparse: ``ERROR`` requests with a non-default error
    duration_s: float
    cancel_at_s: float | None = None  # emulated offset from ``created_at``
    counts: RequestCounts | None = field(default=None)  # cached once the batch has ended


class BatchStore:
    """All batches of one emulator. Single-threaded: call it from the event loop only."""

    def __init__(
        self,
        timing: BatchTiming,
        *,
        clock: Callable[[], float],
        new_id: Callable[[], str],
    ) -> None:
        self.timing = timing
        self._clock = clock
        self._new_id = new_id
        self._batches: dict[str, _Batch] = {}  # insertion order = creation order, oldest first

    def __len__(self) -> int:
        return len(self._batches)

    def create(self, requests: Iterable[PlannedRequest]) -> BatchView:
        custom_ids = Packed()
        params = Packed()
        plans = bytearray()
        errors: dict[int, tuple[str, str | None]] = {}
        for index, request in enumerate(requests):
            custom_ids.append(request.custom_id.encode())
            # Only a request that may succeed needs its params: the others never generate a message.
            params.append(request.params if request.plan is Plan.SUCCEED else b"")
            plans.append(request.plan)
            default = request.error_type == "invalid_request_error" and request.error_message is None
            if request.plan is Plan.ERROR and not default:
                errors[index] = (request.error_type, request.error_message)
        if not custom_ids:
            raise invalid_request("requests: List should have at least 1 item after validation, not 0")
        batch = _Batch(
            id=self._new_id(),
            created_at=self._clock(),
            custom_ids=custom_ids,
            params=params,
            plans=bytes(plans),
            errors=errors,
            duration_s=self.timing.duration_s(len(custom_ids)),
        )
        self._batches[batch.id] = batch
        return self._view(batch)

    def get(self, batch_id: str) -> BatchView:
        return self._view(self._find(batch_id))

    def cancel(self, batch_id: str) -> BatchView:
        """Start canceling. Idempotent; a batch that has already ended is returned unchanged."""
        batch = self._find(batch_id)
        now_s = self._offset(batch)
        if batch.cancel_at_s is None and now_s < self._end_s(batch):
            batch.cancel_at_s = now_s
        return self._view(batch)

    def delete(self, batch_id: str) -> str:
        batch = self._find(batch_id)
        view = self._view(batch)
        if not view.ended:
            raise invalid_request(
                f"Message batch {batch_id} cannot be deleted while it is {view.processing_status}; "
                "cancel it and wait for processing to end first."
            )
        del self._batches[batch_id]
        return batch_id

    def list(self, *, limit: int = 20, after_id: str | None = None, before_id: str | None = None) -> Page:
        """Newest first. ``after_id`` pages towards older batches, ``before_id`` towards newer ones."""
        newest_first = list(reversed(self._batches))
        if after_id is not None:
            start = self._cursor(newest_first, after_id, "after_id") + 1
            ids = newest_first[start : start + limit]
            has_more = start + limit < len(newest_first)
        elif before_id is not None:
            end = self._cursor(newest_first, before_id, "before_id")
            ids = newest_first[max(0, end - limit) : end]
            has_more = end - limit > 0
        else:
            ids = newest_first[:limit]
            has_more = limit < len(newest_first)
        return Page([self._view(self._batches[i]) for i in ids], has_more)

    def results(self, batch_id: str) -> Iterator[ResultEntry]:
        """Result entries in submission order. Checked eagerly, then lazy: nothing is built up front."""
        batch = self._find(batch_id)
        view = self._view(batch)
        if not view.ended:
            raise invalid_request(
                f"Message batch {batch_id} is still {view.processing_status}; "
                "results are available once processing has ended."
            )
        if view.archived_at is not None:
            raise ApiError("not_found_error", f"Results for message batch {batch_id} have been archived.")
        return self._entries(batch)

    def request_count(self, batch_id: str) -> int:
        return len(self._find(batch_id).custom_ids)

    # -- internals -----------------------------------------------------------------------------

    def _find(self, batch_id: str) -> _Batch:
        try:
            return self._batches[batch_id]
        except KeyError:
            raise ApiError("not_found_error", f"Message batch {batch_id} not found.") from None

    def _cursor(self, ids: Sequence[str], cursor: str, name: str) -> int:
        try:
            return ids.index(cursor)
        except ValueError:
            raise invalid_request(f"{name}: no message batch with id {cursor}") from None

    def _offset(self, batch: _Batch) -> float:
        """Emulated seconds since the batch was created."""
        return (self._clock() - batch.created_at) / self.timing.time_scale

    def _end_s(self, batch: _Batch) -> float:
        """Emulated offset at which the batch ends, given what is known now."""
        timing = self.timing
        natural = timing.expiry_s if Plan.EXPIRE in batch.plans else min(batch.duration_s, timing.expiry_s)
        if batch.cancel_at_s is not None:
            return min(natural, batch.cancel_at_s + timing.cancel_s)
        return natural

    def _finish_s(self, batch: _Batch, index: int) -> float:
        return batch.duration_s * (index + 1) / len(batch.custom_ids)

    def _result_type(self, batch: _Batch, index: int, end_s: float) -> ResultType:
        plan = batch.plans[index]
        if plan != Plan.EXPIRE and self._finish_s(batch, index) <= end_s:
            return _FINISHED[plan]
        canceled = batch.cancel_at_s is not None and end_s < self.timing.expiry_s
        return "canceled" if canceled else "expired"

    def _entries(self, batch: _Batch) -> Iterator[ResultEntry]:
        end_s = self._end_s(batch)
        for index in range(len(batch.custom_ids)):
            custom_id = batch.custom_ids[index].decode()
            kind = self._result_type(batch, index, end_s)
            if kind == "errored":
                error_type, message = batch.errors.get(index, ("invalid_request_error", None))
                yield ResultEntry(index, custom_id, kind, None, error_type, message)
            else:
                yield ResultEntry(
                    index, custom_id, kind, batch.params[index] if kind == "succeeded" else None
                )

    def _counts(self, batch: _Batch) -> RequestCounts:
        if batch.counts is None:
            end_s = self._end_s(batch)
            tally = dict.fromkeys(("succeeded", "errored", "canceled", "expired"), 0)
            for index in range(len(batch.custom_ids)):
                tally[self._result_type(batch, index, end_s)] += 1
            # Safe to cache: once ended, nothing (not even cancel) changes the outcome.
            batch.counts = RequestCounts(**tally)
        return batch.counts

    def _view(self, batch: _Batch) -> BatchView:
        timing = self.timing
        now_s = self._offset(batch)
        end_s = self._end_s(batch)
        created = batch.created_at
        if now_s >= end_s:
            status: ProcessingStatus = "ended"
            counts = self._counts(batch)
        else:
            status = "canceling" if batch.cancel_at_s is not None else "in_progress"
            counts = RequestCounts(processing=len(batch.custom_ids))
        return BatchView(
            id=batch.id,
            processing_status=status,
            request_counts=counts,
            created_at=created,
            expires_at=created + timing.expiry_s,
            ended_at=created + end_s if status == "ended" else None,
            cancel_initiated_at=None if batch.cancel_at_s is None else created + batch.cancel_at_s,
            archived_at=created + timing.retention_s if now_s >= timing.retention_s else None,
        )


_FINISHED: dict[int, ResultType] = {Plan.SUCCEED: "succeeded", Plan.ERROR: "errored", Plan.CANCEL: "canceled"}


def rfc3339(epoch_s: float) -> str:
    """``2024-08-20T18:37:24.100435Z``: microseconds and a ``Z``, the shape the API returns."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _maybe_rfc3339(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else rfc3339(epoch_s)
