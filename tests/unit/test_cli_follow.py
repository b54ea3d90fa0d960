"""Pure decisions of the CLI's followers: which events are a prompt's, what a run counts, what tail says."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import CompletionEvent, ErrorEvent, SourceRecord
from service.cli.batch import Results
from service.cli.send import default_timeout, ours
from service.cli.tail import broker_note
from service.settings import BatchSettings

OURS = SourceRecord(topic="claude.prompts", partition=1, offset=7)
OTHER = SourceRecord(topic="claude.prompts", partition=1, offset=8)


def error(custom_id: str | None, source: SourceRecord = OURS) -> ErrorEvent:
    return ErrorEvent.model_validate(
        {"custom_id": custom_id, "generation": 0, "attempt": 1, "retryable": False,
         "error": {"type": "invalid_json", "message": "x"}, "source": source.model_dump(),
         "original": None, "attributes": {}}
    )  # fmt: skip


def completion(custom_id: str) -> CompletionEvent:
    example: dict[str, Any] = CompletionEvent.model_json_schema()["examples"][0]
    return CompletionEvent.model_validate({**example, "custom_id": custom_id})


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (error("p1"), True),
        (error(None), True),  # no readable custom_id: the record's coordinates say it is ours
        (error(None, OTHER), False),
        (error("p2"), False),
        (error("p2", OURS), False),  # an id that is not ours wins over coordinates
    ],
)
def test_an_error_event_is_ours_by_custom_id_or_by_our_record(event: ErrorEvent, expected: bool) -> None:
    """send --wait matches an error event by custom_id, or by topic/partition/offset when it has none."""
    assert ours(event, "p1", OURS) is expected


def test_a_run_counts_only_its_own_ids_once_each() -> None:
    """Results of other ids are ignored, a repeat is counted once, an id-less error finds its record."""
    results = Results({OURS: "a", OTHER: "b"})
    for event in (completion("zz"), completion("a"), error("a"), error(None, OTHER)):
        results.record(event)
    assert results.done == {"a": True, "b": False}
    assert results.finished and results.errored == 1


@pytest.mark.parametrize(
    ("mode", "batch", "expected"),
    [
        ("stream", {}, 120.0),
        ("batch", {}, 60.0 + 3600.0),
        ("batch", {"max_wait_seconds": 5}, 5.0 + 3600.0),
    ],
)
def test_send_wait_timeout_fits_the_mode(mode: str, batch: dict[str, Any], expected: float) -> None:
    """A batch prompt first waits to be submitted (BATCH_MAX_WAIT_SECONDS), then an hour of polling."""
    assert default_timeout(mode, BatchSettings(**batch)) == expected


@pytest.mark.parametrize(
    ("was_up", "up", "expected"),
    [
        (True, True, None),
        (True, False, "broker b:1 unreachable; still trying (tail resumes when it is back)"),
        (False, False, None),
        (False, True, "broker b:1 is back; following again"),
    ],
)
def test_tail_reports_each_change_of_reachability_once(was_up: bool, up: bool, expected: str | None) -> None:
    """Only a change of the broker's reachability is a line; staying up or down prints nothing."""
    assert broker_note(was_up, up, "b:1") == expected
