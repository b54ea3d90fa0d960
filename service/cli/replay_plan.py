"""What ``claude-kafka replay`` re-sends: the selection rules over dead letters, and its option values. Pure.

An ErrorEvent carries the prompt record's value in ``original`` (UTF-8 text, or base64 when it was not
UTF-8: ``original_encoding``); replay sends those bytes back to the prompts topic, keyed by the
custom_id, so the prompt runs again under the same custom_id.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas import ErrorEvent

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(?:/s)?$")


def parse_time(text: str, now: datetime) -> datetime:
    """``2026-12-01T10:00:00Z`` (naive = UTC), or a duration back from ``now``: ``15m``, ``2h``, ``1d``."""
    if match := _DURATION.match(text.strip()):
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor a duration like 15m, 2h, 1d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_rate(text: str) -> float:
    """``20/s`` or ``20``: records per second, above zero."""
    match = _RATE.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate like 20/s")
    return float(match.group(1))


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters to replay; an empty set or ``None`` means no restriction on that field."""

    types: frozenset[str] = frozenset()
    custom_ids: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """One prompt record to send again."""

    key: bytes | None
    value: bytes
    custom_id: str | None
    error_type: str
    where: str  # errors topic/partition@offset of the dead letter, for the dry-run listing


@dataclass(frozen=True, slots=True)
class Plan:
    replays: tuple[Replay, ...]
    read: int  # error events read
    skipped: dict[str, int] = field(default_factory=dict)  # why not replayed -> count


def prompt_value(event: ErrorEvent) -> bytes | None:
    """The original record value, decoded from ``original`` / ``original_encoding``."""
    if event.original is None:
        return None
    if event.original_encoding == "base64":
        try:
            return base64.b64decode(event.original, validate=True)
        except (binascii.Error, ValueError):
            return None
    return event.original.encode("utf-8")


def selected(event: ErrorEvent, selection: Selection, timestamp: datetime) -> bool:
    """Whether ``event`` passes the filters; the time is ``occurred_at``, else the record's timestamp."""
    at = event.occurred_at or timestamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (
        (not selection.types or event.error.type in selection.types)
        and (not selection.custom_ids or event.custom_id in selection.custom_ids)
        and (selection.since is None or at >= selection.since)
        and (selection.until is None or at < selection.until)
    )


def plan(events: Iterable[tuple[ErrorEvent, datetime, str]], selection: Selection) -> Plan:
    """The records to replay from ``(event, record time, where)`` in read order.

    Callback failures are not prompts (their ``original`` is the outcome event) and are never replayed.
    A custom_id replayed before and failed again has several dead letters: only its latest one is sent,
    so one replay run re-sends each prompt once.
    """
    skipped: dict[str, int] = {}
    chosen: dict[str, Replay] = {}
    read = 0

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for event, timestamp, where in events:
        read += 1
        if event.origin == "callback":
            skip("callback failures")
            continue
        if not selected(event, selection, timestamp):
            skip("filtered out")
            continue
        value = prompt_value(event)
        if value is None:
            skip("no original")
            continue
        key = event.custom_id.encode() if event.custom_id else None
        slot = event.custom_id or where
        if slot in chosen:
            skip("older dead letters of the same custom_id")
        chosen[slot] = Replay(key, value, event.custom_id, event.error.type, where)
    return Plan(tuple(chosen.values()), read, skipped)
