"""The pure batch state machine: transitions, counts, cancel, expiry and timing on a fake clock."""

from __future__ import annotations

import itertools
import re

import pytest

from service.emulator.batch_store import (
    DAY_S,
    BatchStore,
    BatchTiming,
    Packed,
    Plan,
    PlannedRequest,
    RequestCounts,
    rfc3339,
)
from service.emulator.errors import ApiError

T0 = 1_700_000_000.0
# Four requests finish at 25, 50, 75 and 100 emulated seconds; cancel takes 10.
TIMING = BatchTiming(time_scale=1.0, base_s=100.0, per_request_s=0.0, cancel_s=10.0)

S, E, C, X = Plan.SUCCEED, Plan.ERROR, Plan.CANCEL, Plan.EXPIRE


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_store(timing: BatchTiming = TIMING) -> tuple[BatchStore, FakeClock]:
    clock = FakeClock()
    counter = itertools.count()
    return BatchStore(timing, clock=clock, new_id=lambda: f"msgbatch_{next(counter):04d}"), clock


def requests(*plans: Plan) -> list[PlannedRequest]:
    return [PlannedRequest(f"r{i}", b'{"max_tokens":1}', plan) for i, plan in enumerate(plans)]


def counts(processing: int = 0, succeeded: int = 0, errored: int = 0, canceled: int = 0, expired: int = 0):
    return RequestCounts(processing, succeeded, errored, canceled, expired)


@pytest.mark.parametrize(
    ("plans", "elapsed", "status", "expected"),
    [
        ((S, S, S, S), 0.0, "in_progress", counts(processing=4)),
        ((S, S, S, S), 99.9, "in_progress", counts(processing=4)),
        ((S, S, S, S), 100.0, "ended", counts(succeeded=4)),
        ((S, E, S, E), 100.0, "ended", counts(succeeded=2, errored=2)),
        ((S, C, S, S), 100.0, "ended", counts(succeeded=3, canceled=1)),
        ((S, E, C, X), 100.0, "in_progress", counts(processing=4)),
        ((S, E, C, X), DAY_S - 1, "in_progress", counts(processing=4)),
        ((S, E, C, X), DAY_S, "ended", counts(succeeded=1, errored=1, canceled=1, expired=1)),
        ((X, X), DAY_S, "ended", counts(expired=2)),
    ],
)
def test_status_and_counts_follow_the_clock(plans, elapsed, status, expected):
    """Requests stay in processing until the whole batch ends, then tally by outcome."""
    store, clock = make_store()
    batch = store.create(requests(*plans))
    clock.now = T0 + elapsed
    view = store.get(batch.id)
    assert (view.processing_status, view.request_counts) == (status, expected)
    assert sum(view.request_counts.as_dict().values()) == len(plans)


@pytest.mark.parametrize(
    ("plans", "cancel_at", "ended_after", "expected"),
    [
        # Cancel at 30: only r0 (finished at 25) made it; cancel completes at 40.
        ((S, S, S, S), 30.0, 40.0, counts(succeeded=1, canceled=3)),
        # Cancel at 0: nothing has finished.
        ((S, S, S, S), 0.0, 10.0, counts(canceled=4)),
        # Cancel at 95: processing finishes (100) before cancel would (105).
        ((S, S, S, S), 95.0, 100.0, counts(succeeded=4)),
        # Requests in flight when cancel completes are canceled, even ones that would have expired.
        ((E, S, X, S), 60.0, 70.0, counts(errored=1, succeeded=1, canceled=2)),
    ],
)
def test_cancel_ends_the_batch_with_unfinished_requests_canceled(plans, cancel_at, ended_after, expected):
    """Cancel moves to canceling, then ends; finished requests keep their outcome."""
    store, clock = make_store()
    batch = store.create(requests(*plans))
    clock.now = T0 + cancel_at
    canceling = store.cancel(batch.id)
    assert canceling.processing_status == ("ended" if cancel_at >= ended_after else "canceling")
    assert canceling.cancel_initiated_at == T0 + cancel_at
    assert canceling.request_counts == counts(processing=len(plans))
    clock.now = T0 + ended_after - 0.001
    assert store.get(batch.id).processing_status == "canceling"
    clock.now = T0 + ended_after
    ended = store.get(batch.id)
    assert (ended.processing_status, ended.request_counts) == ("ended", expected)
    assert ended.ended_at == T0 + ended_after


def test_cancel_is_idempotent_and_keeps_the_first_time():
    """A second cancel does not move cancel_initiated_at or the end."""
    store, clock = make_store()
    batch = store.create(requests(S, S, S, S))
    clock.now = T0 + 30
    store.cancel(batch.id)
    clock.now = T0 + 35
    again = store.cancel(batch.id)
    assert again.cancel_initiated_at == T0 + 30
    clock.now = T0 + 40
    assert store.get(batch.id).ended_at == T0 + 40


def test_cancel_after_the_batch_ended_changes_nothing():
    """Canceling an ended batch returns it unchanged, with no cancel_initiated_at."""
    store, clock = make_store()
    batch = store.create(requests(S, S))
    clock.now = T0 + 200
    view = store.cancel(batch.id)
    assert view.cancel_initiated_at is None
    assert view.request_counts == counts(succeeded=2)


def test_timestamps_are_on_the_emulated_timeline():
    """With time_scale 0.001, 0.1 s of wall time is 100 s of batch time, and timestamps show the latter."""
    store, clock = make_store(BatchTiming(time_scale=0.001, base_s=100.0, per_request_s=0.0))
    batch = store.create(requests(S, S))
    assert batch.expires_at == T0 + DAY_S
    clock.now = T0 + 0.0999
    assert store.get(batch.id).processing_status == "in_progress"
    clock.now = T0 + 0.1001  # a hair past 0.1: float epoch arithmetic is not exact
    view = store.get(batch.id)
    assert view.ended_at == pytest.approx(T0 + 100.0, abs=1e-3)
    api = view.to_api("http://emu/v1/messages/batches/x/results")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(api["created_at"]))
    assert api["results_url"] == "http://emu/v1/messages/batches/x/results"


@pytest.mark.parametrize(
    ("n_requests", "per_request_s", "duration"),
    [(1, 0.01, 300.01), (100_000, 0.01, 1300.0), (10, 0.0, 300.0)],
)
def test_duration_grows_with_request_count(n_requests, per_request_s, duration):
    """Processing time is base + per-request time, emulated seconds."""
    assert BatchTiming(per_request_s=per_request_s).duration_s(n_requests) == pytest.approx(duration)


def test_batch_longer_than_a_day_is_cut_off_at_expiry():
    """A batch that cannot finish in 24 h ends at expiry with unfinished requests expired."""
    store, clock = make_store(BatchTiming(base_s=2 * DAY_S, per_request_s=0.0))
    batch = store.create(requests(S, S, S, S))
    clock.now = T0 + DAY_S
    view = store.get(batch.id)
    # r0 would finish at 12 h and r1 at 24 h: both make it; r2 and r3 do not.
    assert view.request_counts == counts(succeeded=2, expired=2)
    assert view.ended_at == view.expires_at


def test_results_url_is_hidden_until_ended():
    """to_api drops the results URL while the batch is still processing."""
    store, _ = make_store()
    view = store.create(requests(S))
    api = view.to_api("http://emu/results")
    assert api["results_url"] is None
    assert set(api) == {
        "id",
        "type",
        "processing_status",
        "request_counts",
        "created_at",
        "expires_at",
        "ended_at",
        "cancel_initiated_at",
        "archived_at",
        "results_url",
    }


def test_results_are_refused_before_the_end_and_listed_after():
    """Results exist only once ended; then one entry per request, in submission order."""
    store, clock = make_store()
    batch = store.create(
        [
            PlannedRequest("a", b"{}", S),
            PlannedRequest("b", b"{}", E, "api_error"),
            PlannedRequest("c", b"{}", E),
            PlannedRequest("d", b"{}", C),
        ]
    )
    with pytest.raises(ApiError) as refused:
        store.results(batch.id)
    assert refused.value.status == 400
    clock.now = T0 + 100
    entries = list(store.results(batch.id))
    assert [(e.custom_id, e.type, e.error_type) for e in entries] == [
        ("a", "succeeded", None),
        ("b", "errored", "api_error"),
        ("c", "errored", "invalid_request_error"),
        ("d", "canceled", None),
    ]
    assert [e.params is not None for e in entries] == [True, False, False, False]


def test_results_are_archived_after_retention():
    """After 29 days archived_at is set and results are gone (404)."""
    store, clock = make_store()
    batch = store.create(requests(S))
    clock.now = T0 + 29 * DAY_S
    assert store.get(batch.id).archived_at == T0 + 29 * DAY_S
    with pytest.raises(ApiError) as gone:
        store.results(batch.id)
    assert gone.value.status == 404


def test_delete_only_after_the_batch_ended():
    """Delete is refused while processing and removes the batch once ended."""
    store, clock = make_store()
    batch = store.create(requests(S))
    with pytest.raises(ApiError) as refused:
        store.delete(batch.id)
    assert (refused.value.status, refused.value.type) == (400, "invalid_request_error")
    clock.now = T0 + 100
    assert store.delete(batch.id) == batch.id
    with pytest.raises(ApiError) as missing:
        store.get(batch.id)
    assert (missing.value.status, missing.value.type) == (404, "not_found_error")


@pytest.mark.parametrize("call", ["get", "cancel", "delete", "results"])
def test_unknown_ids_are_not_found(call):
    """Every id-taking operation answers 404 for an unknown batch."""
    store, _ = make_store()
    with pytest.raises(ApiError) as missing:
        getattr(store, call)("msgbatch_nope")
    assert missing.value.status == 404


def test_empty_batch_is_rejected():
    """A create call needs at least one request."""
    store, _ = make_store()
    with pytest.raises(ApiError) as refused:
        store.create([])
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("kwargs", "ids", "has_more"),
    [
        ({}, ["4", "3", "2", "1", "0"], False),
        ({"limit": 2}, ["4", "3"], True),
        ({"limit": 2, "after_id": "3"}, ["2", "1"], True),
        ({"limit": 2, "after_id": "1"}, ["0"], False),
        ({"limit": 2, "after_id": "0"}, [], False),
        ({"limit": 2, "before_id": "1"}, ["3", "2"], True),
        ({"limit": 2, "before_id": "2"}, ["4", "3"], False),
        ({"limit": 5, "before_id": "4"}, [], False),
    ],
)
def test_list_is_newest_first_with_cursors(kwargs, ids, has_more):
    """after_id pages to older batches, before_id to newer ones; has_more says if the walk continues."""
    store, clock = make_store()
    for _ in range(5):
        store.create(requests(S))
        clock.now += 1
    kwargs = {k: f"msgbatch_000{v}" if k.endswith("_id") else v for k, v in kwargs.items()}
    page = store.list(**kwargs)
    assert [v.id[-1] for v in page.data] == ids
    assert page.has_more is has_more
    assert page.first_id == (f"msgbatch_000{ids[0]}" if ids else None)


def test_list_with_an_unknown_cursor_is_a_bad_request():
    """A cursor that names no batch is a 400, not a silently empty page."""
    store, _ = make_store()
    with pytest.raises(ApiError) as refused:
        store.list(after_id="msgbatch_gone")
    assert refused.value.status == 400


def test_timestamps_are_rfc3339_with_microseconds_and_z():
    """Times render as RFC 3339 in UTC with microseconds and a Z suffix."""
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500000Z"


@pytest.mark.parametrize("items", [[], [b""], [b"a", b"", b"bc"], [b'{"k":"\xc3\xa9"}'] * 3])
def test_packed_returns_each_item_unchanged(items):
    """Packed storage gives back exactly what was appended, empty items included."""
    packed = Packed()
    for item in items:
        packed.append(item)
    assert [packed[i] for i in range(len(packed))] == items
    assert packed.nbytes == sum(map(len, items)) + 8 * len(items)
