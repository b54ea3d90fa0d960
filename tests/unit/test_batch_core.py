"""Batch mode's pure core: assembly decisions, result mapping, hand-off records and their fold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import CompletionEvent, ErrorEvent, Mode, SourceRecord
from service.batch.assembly import Assembler, blame
from service.batch.following import poll_delay
from service.batch.records import (
    CHUNK_BYTES,
    Entry,
    HandOffState,
    chunk_records,
    fold,
    marker_key,
    record_key,
    superseded,
)
from service.batch.results import Publish, Resubmit, outcome
from service.pricing import PriceTable

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PARAMS = json.dumps(
    {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
)


def entry(custom_id: str = "a", attempt: int = 1, generation: int = 1, offset: int = 0) -> Entry:
    return Entry(
        custom_id=custom_id,
        generation=generation,
        attempt=attempt,
        source=SourceRecord(topic="p", partition=0, offset=offset),
        timestamp_ms=int(T0.timestamp() * 1000),
        attributes={"tenant": "acme"},
        params=PARAMS,
    )


# -- assembly ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ids", "max_requests", "max_bytes", "now", "expected"),
    [
        (["a", "b"], 3, 10_000, 0.0, []),  # no bound reached
        (["a", "b", "c"], 3, 10_000, 0.0, ["a", "b", "c"]),  # count bound
        (["a", "b", "c", "d"], 3, 10_000, 0.0, ["a", "b", "c"]),  # count bound, the rest waits
        (["a", "b"], 100, 10_000, 60.0, ["a", "b"]),  # the oldest waited max_wait
        (["a", "a", "b"], 3, 10_000, 0.0, ["a", "b"]),  # duplicate deferred to the next batch
        (["a", "b", "c"], 100, 2 * entry().request_bytes() - 1, 0.0, ["a"]),  # byte bound: only what fits
    ],
)
def test_assembler_submits_at_the_first_bound_reached(
    ids: list[str], max_requests: int, max_bytes: int, now: float, expected: list[str]
) -> None:
    """A batch is due at the request, byte or wait bound; duplicates and overflow wait their turn."""
    assembler = Assembler(max_requests, max_bytes, max_wait=60.0)
    for i, custom_id in enumerate(ids):
        assembler.add(entry(custom_id, offset=i), 0.0)
    taken = [w.entry.custom_id for w in assembler.take(now)]
    assert taken == expected
    assert len(assembler) == len(ids) - len(expected)


def test_deferred_duplicate_goes_into_the_next_batch() -> None:
    """The second prompt with a custom_id waits for the batch after the first one."""
    assembler = Assembler(2, 10_000, 60.0)
    for i, custom_id in enumerate(["a", "a", "b"]):
        assembler.add(entry(custom_id, offset=i), 0.0)
    assert [w.entry.source.offset for w in assembler.take(0.0)] == [0, 2]
    assert [w.entry.source.offset for w in assembler.take(0.0, force=True)] == [1]


def test_withdrawn_request_is_not_submitted() -> None:
    """A request discarded before it was taken (a cancelled hand-off) never reaches a batch."""
    assembler = Assembler(10, 10_000, 1.0)
    first = assembler.add(entry("a"), 0.0)
    assembler.add(entry("b", offset=1), 0.5)
    assert assembler.discard(first)
    assert assembler.deadline() == 1.5
    assert [w.entry.custom_id for w in assembler.take(2.0)] == ["b"]
    assert not assembler.discard(first)


@pytest.mark.parametrize(
    ("message", "index"),
    [
        ("requests.3.params.max_tokens: Input should be greater than or equal to 1", 3),
        ("requests.0.custom_id: String should have at most 64 characters", 0),
        ("requests: List should have at most 4 items after validation, not 5", None),
        ("Request exceeds the maximum allowed number of bytes", None),
    ],
)
def test_create_refusal_is_blamed_on_the_request_it_names(message: str, index: int | None) -> None:
    """A 400 naming ``requests.N`` is pinned on request N; anything else on the whole batch."""
    assert blame(message) == index


@pytest.mark.parametrize(("polls", "delay"), [(0, 2.0), (1, 3.0), (2, 4.5), (10, 16.0)])
def test_poll_interval_backs_off_to_a_cap(polls: int, delay: float) -> None:
    """Polls start at BATCH_POLL_SECONDS and grow by half each time, up to eight times it."""
    assert poll_delay(polls, 2.0) == pytest.approx(delay)


# -- results ----------------------------------------------------------------------------------------
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1_000_000, "output_tokens": 0, "service_tier": "batch"},
}


@pytest.mark.parametrize(
    ("result", "attempt", "kind", "detail"),
    [
        ({"type": "succeeded", "message": MESSAGE}, 1, "completion", None),
        (
            {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            },
            1,
            "error",
            ("overloaded_error", "busy", True),
        ),
        (
            {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
            },
            1,
            "error",
            ("invalid_request_error", "bad", False),
        ),
        ({"type": "expired"}, 1, "resubmit", None),
        ({"type": "canceled"}, 2, "resubmit", None),
        (None, 1, "resubmit", None),
        (
            {"type": "expired"},
            3,
            "error",
            ("attempts_exhausted", "3 batch attempts did not finish; last: expired", True),
        ),
        (
            {"type": "canceled"},
            3,
            "error",
            ("attempts_exhausted", "3 batch attempts did not finish; last: canceled", True),
        ),
    ],
)
def test_result_line_maps_to_event_or_resubmission(
    result: dict[str, Any] | None, attempt: int, kind: str, detail: tuple[str, str, bool] | None
) -> None:
    """succeeded -> completion, errored -> the API's error, expired/canceled -> retry up to MAX_ATTEMPTS."""
    decided = outcome(
        result, entry(attempt=attempt), prices=PriceTable(), max_attempts=3,
        submitted_at=T0, now=T0 + timedelta(seconds=90),
    )  # fmt: skip
    if kind == "resubmit":
        assert isinstance(decided, Resubmit)
        assert decided.entry.attempt == attempt + 1
        return
    assert isinstance(decided, Publish)
    event = decided.event
    assert event.custom_id == "a" and event.attempt == attempt and event.mode is Mode.BATCH
    if kind == "completion":
        assert isinstance(event, CompletionEvent)
        assert event.message == MESSAGE
        assert event.cost_usd == pytest.approx(0.5)  # 1M input tokens of haiku-4-5 at half of $1
        assert event.timings.ttft_ms is None
        assert event.timings.duration_ms == 90_000.0
        assert event.attributes == {"tenant": "acme"}
    else:
        assert isinstance(event, ErrorEvent)
        assert detail is not None
        assert (event.error.type, event.error.message, event.retryable) == detail
        assert json.loads(event.original or "")["custom_id"] == "a"


# -- records ----------------------------------------------------------------------------------------
def test_large_batch_is_split_into_chunks_that_fold_back_whole() -> None:
    """Chunk records stay under the size bound and fold back into one open batch, in order."""
    entries = [entry(f"id-{i}", offset=i) for i in range(300)]
    records = chunk_records("msgbatch_1", entries, T0, "host-a", max_bytes=8_000)
    assert len(records) > 1
    assert all(len(r.model_dump_json()) < 8_000 + 1_000 for r in records)
    folded = fold((r.key, r.model_dump_json().encode()) for r in records)
    assert folded.broken == ()
    (batch,) = folded.open
    assert batch.batch_id == "msgbatch_1" and batch.entries == tuple(entries)
    assert batch.keys == tuple(r.key for r in records)


def _value(batch_id: str, entries: list[Entry], at: datetime = T0) -> list[tuple[str, bytes | None]]:
    return [(r.key, r.model_dump_json().encode()) for r in chunk_records(batch_id, entries, at, "h")]


@pytest.mark.parametrize(
    ("log", "open_ids", "broken"),
    [
        ([], [], 0),
        (_value("b1", [entry()]), ["b1"], 0),
        ([*_value("b1", [entry()]), (record_key("b1", 0), None)], [], 0),  # tombstone deletes
        ([*_value("b1", [entry()]), (record_key("b1", 0), None), *_value("b1", [entry()])], ["b1"], 0),
        (
            [*_value("b2", [entry()], T0 + timedelta(1)), *_value("b1", [entry("x")])],
            ["b1", "b2"],  # oldest first
            0,
        ),
        ([(record_key("b3", 0), b"{not json")], [], 1),
    ],
)
def test_fold_keeps_latest_value_per_key_and_drops_tombstoned_batches(
    log: list[tuple[str, bytes | None]], open_ids: list[str], broken: int
) -> None:
    """Reading every version of the topic yields exactly the batches without a tombstone."""
    folded = fold(log)
    assert [b.batch_id for b in folded.open] == open_ids
    assert len(folded.broken) == broken


def test_fold_reports_a_batch_with_a_missing_chunk_as_broken() -> None:
    """A batch whose writer died between chunks is not resumed."""
    records = chunk_records("b1", [entry(f"i{i}", offset=i) for i in range(50)], T0, "h", max_bytes=2_000)
    log = [(r.key, r.model_dump_json().encode()) for r in records[:-1]]
    folded = fold(log)
    assert folded.open == () and len(folded.broken) == len(records) - 1


def test_resubmitted_requests_are_owned_by_the_newer_batch() -> None:
    """When both batches are open after a crash, the older one skips requests the newer one holds."""
    old = fold(_value("old", [entry("a"), entry("b", offset=1)])).open[0]
    new = fold(_value("new", [entry("a", attempt=2)], T0 + timedelta(1))).open[0]
    assert superseded([old, new]) == {"old": frozenset({"a"}), "new": frozenset()}


def _chunks(batch_id: str, entries: list[Entry], max_bytes: int) -> list[tuple[str, bytes | None]]:
    records = chunk_records(batch_id, entries, T0, "i", max_bytes=max_bytes)
    return [(r.key, r.model_dump_json().encode()) for r in records]


def test_handoff_state_opens_a_batch_once_its_last_chunk_is_read() -> None:
    """Chunks read over several polls make one open batch only when every chunk is there."""
    log = _chunks("b1", [entry(f"c{i}", offset=i) for i in range(40)], max_bytes=2_000)
    assert len(log) > 2
    state = HandOffState()
    assert state.apply(log[:-1]).completed == ()
    assert state.incomplete_keys() == tuple(k for k, _ in log[:-1])
    (batch,) = state.apply(log[-1:]).completed
    assert [e.custom_id for e in batch.entries] == [f"c{i}" for i in range(40)]
    assert state.open() == [batch] and state.incomplete_keys() == ()


def test_handoff_state_keeps_publishing_markers_apart_and_closes_on_tombstones() -> None:
    """A marker neither breaks the batch nor keeps it open; the last chunk tombstone closes it."""
    log = _chunks("b1", [entry("a"), entry("b", offset=1)], max_bytes=CHUNK_BYTES)
    state = HandOffState()
    state.apply([*log, (marker_key("b1"), b"{}")])
    assert state.publishing("b1") and [b.batch_id for b in state.open()] == ["b1"]
    assert state.apply([(k, None) for k, _ in log]).closed[0].batch_id == "b1"
    assert state.open() == [] and state.publishing("b1")
    state.apply([(marker_key("b1"), None)])
    assert not state.publishing("b1") and state.incomplete_keys() == ()


def test_handoff_state_reports_a_re_recorded_batch_with_its_new_entries() -> None:
    """A batch re-recorded one attempt higher completes again, with the higher attempt."""
    state = HandOffState()
    state.apply(_chunks("b1", [entry("a")], max_bytes=CHUNK_BYTES))
    (again,) = state.apply(_chunks("b1", [entry("a", attempt=2)], max_bytes=CHUNK_BYTES)).completed
    assert again.entries[0].attempt == 2 and state.open() == [again]


def test_handoff_state_keeps_the_parsed_batch_until_a_re_record_is_whole() -> None:
    """Bytes are dropped once parsed; a half-read re-record neither reopens nor breaks the batch."""
    state = HandOffState()
    state.apply(_chunks("b1", [entry(f"c{i}", offset=i) for i in range(40)], max_bytes=2_000))
    higher = _chunks("b1", [entry(f"c{i}", attempt=2, offset=i) for i in range(40)], max_bytes=2_000)
    assert state.apply(higher[:1]).completed == ()
    assert {e.attempt for e in state.open()[0].entries} == {1} and state.incomplete_keys() == ()
    (again,) = state.apply(higher[1:]).completed
    assert {e.attempt for e in again.entries} == {2}
