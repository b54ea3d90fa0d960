"""What ``claude-kafka replay`` selects from the dead letters, and how it reads its options."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import ErrorEvent
from service.cli.replay_plan import Selection, parse_rate, parse_time, plan

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def dead(
    custom_id: str | None, error_type: str = "overloaded_error", minutes_ago: float = 5, **extra: Any
) -> ErrorEvent:
    body = {
        "custom_id": custom_id,
        "generation": 1,
        "attempt": 1,
        "error": {"type": error_type, "message": "m"},
        "retryable": True,
        "source": {"topic": "claude.prompts", "partition": 0, "offset": 1},
        "original": f'{{"custom_id": "{custom_id}"}}',
        "attributes": {},
        "occurred_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        **extra,
    }
    return ErrorEvent.model_validate(body)


def run(events: list[ErrorEvent], selection: Selection) -> list[str | None]:
    dated = [(event, NOW, f"claude.errors/0@{i}") for i, event in enumerate(events)]
    return [replay.custom_id for replay in plan(dated, selection).replays]


EVENTS = [
    dead("a"),
    dead("b", "invalid_prompt", minutes_ago=90),
    dead("c", minutes_ago=300),
    dead(None, "invalid_json"),
    dead("d", "callback_failed", origin="callback"),
    dead("e", original=None),
]


@pytest.mark.parametrize(
    ("selection", "ids"),
    [
        (Selection(), ["a", "b", "c", None]),
        (Selection(types=frozenset({"overloaded_error"})), ["a", "c"]),
        (Selection(custom_ids=frozenset({"b", "zz"})), ["b"]),
        (Selection(since=NOW - timedelta(hours=2)), ["a", "b", None]),
        (Selection(until=NOW - timedelta(hours=1)), ["b", "c"]),
        (Selection(types=frozenset({"overloaded_error"}), since=NOW - timedelta(hours=1)), ["a"]),
        (Selection(types=frozenset({"callback_failed"})), []),
    ],
)
def test_filters_combine_and_callback_failures_never_replay(
    selection: Selection, ids: list[str | None]
) -> None:
    """Type, custom_id and time filters all apply; callback failures and events without original never."""
    assert run(EVENTS, selection) == ids


def test_a_custom_id_is_replayed_once_from_its_latest_dead_letter() -> None:
    """Two dead letters of one custom_id (it failed, was replayed, failed again) give one replay."""
    result = plan(
        [(dead("a", minutes_ago=9), NOW, "e/0@1"), (dead("a", minutes_ago=1), NOW, "e/0@7")], Selection()
    )
    assert [(r.custom_id, r.where, r.key) for r in result.replays] == [("a", "e/0@7", b"a")]
    assert result.skipped == {"older dead letters of the same custom_id": 1} and result.read == 2


def test_base64_originals_are_sent_as_their_bytes() -> None:
    """An original that was not UTF-8 (base64 in the event) is replayed byte for byte, with no key."""
    raw = b"\xff\xfe prompt"
    event = dead(
        None, "invalid_encoding", original=base64.b64encode(raw).decode(), original_encoding="base64"
    )
    (replay,) = plan([(event, NOW, "e/0@0")], Selection()).replays
    assert (replay.value, replay.key) == (raw, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("2026-12-01T08:00:00Z", datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01T08:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01T09:00:00+01:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
    ],
)
def test_times_are_iso_or_durations_back_from_now(text: str, expected: datetime) -> None:
    """--since/--until take an ISO 8601 time (naive = UTC) or a duration like 15m before now."""
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(("text", "expected"), [("20/s", 20.0), ("5", 5.0), ("0.5/s", 0.5)])
def test_rates_are_per_second(text: str, expected: float) -> None:
    """--rate takes N/s or N."""
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "15 minutes", "0/s", "-3", "20/m"])
def test_bad_times_and_rates_are_refused(text: str) -> None:
    """Anything else is a ValueError naming the input (shown as one CLI line)."""
    with pytest.raises(ValueError, match="is n"):
        parse_rate(text) if "/" in text or text.lstrip("-").isdigit() else parse_time(text, NOW)
