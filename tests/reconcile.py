"""Reconcile a run's output topics against the custom_ids that were sent, for end-to-end tests.

``check_outputs`` asserts the output contract (one final event per (generation, attempt), repeats only
under a higher pair, deltas that add up to the completion); ``tally`` counts outcomes without asserting,
for the reliability table: completed, errored by reason, duplicates, lost.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from schemas import CompletionEvent, DeltaEvent, ErrorEvent
from tests.kafkautil import Record, committed_offsets
from tests.waiting import until


def finals(records: list[Record], topics: Any) -> list[Record]:
    return [r for r in records if r.topic in (topics.completions, topics.errors)]


def final_ids(topics: Any) -> Any:
    return lambda records: {r.json()["custom_id"] for r in finals(records, topics)}


def check_outputs(records: list[Record], topics: Any, expected_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Per custom_id: the final event of the highest (generation, attempt), deltas checked against it."""
    deltas: dict[tuple[str, int, int], list[DeltaEvent]] = defaultdict(list)
    for r in records:
        if r.topic == topics.deltas:
            event = DeltaEvent.model_validate_json(r.value or b"")
            assert r.key == event.custom_id.encode()
            deltas[(event.custom_id, event.generation, event.attempt)].append(event)
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in finals(records, topics):
        document = r.json()
        (CompletionEvent if r.topic == topics.completions else ErrorEvent).model_validate(document)
        document["_topic"] = r.topic
        by_id[document["custom_id"]].append(document)
    assert set(by_id) == expected_ids
    last: dict[str, dict[str, Any]] = {}
    for custom_id, outcomes in by_id.items():
        ranked = sorted(outcomes, key=lambda d: (d["generation"], d["attempt"]))
        # Exactly one final event per (generation, attempt); repeats only under a higher pair.
        assert len({(d["generation"], d["attempt"]) for d in ranked}) == len(ranked), custom_id
        final = ranked[-1]
        last[custom_id] = final
        if final["_topic"] != topics.completions or final.get("mode") == "batch":
            continue  # batch-mode completions have no deltas
        events = sorted(deltas[(custom_id, final["generation"], final["attempt"])], key=lambda e: e.seq)
        assert [e.seq for e in events] == list(range(len(events))), f"{custom_id}: seq has gaps"
        assert events[0].event["type"] == "message_start" and events[-1].event["type"] == "message_stop"
        text = "".join(
            e.event["delta"].get("text", "") for e in events if e.event["type"] == "content_block_delta"
        )
        message = final["message"]
        assert text == "".join(b.get("text", "") for b in message["content"] if b["type"] == "text")
        for index, block in enumerate(message["content"]):
            if block["type"] == "tool_use":
                partial = "".join(
                    e.event["delta"].get("partial_json", "")
                    for e in events
                    if e.event["type"] == "content_block_delta" and e.event["index"] == index
                )
                assert json.loads(partial) == block["input"]
    return last


@dataclass
class Tally:
    """Outcomes of one run by custom_id: the final event of each id's highest (generation, attempt)."""

    sent: int
    completed: int = 0
    errored: Counter[str] = field(default_factory=Counter)  # error type -> count
    duplicates: int = 0  # extra final events, each under a higher (generation, attempt)
    same_version_repeats: int = 0  # extra final events under an equal pair: a contract breach
    lost: set[str] = field(default_factory=set)
    unexpected: set[str] = field(default_factory=set)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def errored_total(self) -> int:
        return sum(self.errored.values())


def tally(records: list[Record], topics: Any, expected_ids: set[str]) -> Tally:
    """Count outcomes per custom_id; an id without a final event is lost."""
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in finals(records, topics):
        document = r.json()
        document["_topic"] = r.topic
        by_id[document["custom_id"]].append(document)
    result = Tally(sent=len(expected_ids))
    result.lost = expected_ids - set(by_id)
    result.unexpected = set(by_id) - expected_ids
    for custom_id, outcomes in by_id.items():
        versions = [(d["generation"], d["attempt"]) for d in outcomes]
        result.same_version_repeats += len(versions) - len(set(versions))
        result.duplicates += len(set(versions)) - 1
        final = max(outcomes, key=lambda d: (d["generation"], d["attempt"]))
        result.last[custom_id] = final
        if custom_id not in expected_ids:
            continue
        if final["_topic"] == topics.completions:
            result.completed += 1
        else:
            result.errored[final["error"]["type"]] += 1
    return result


async def wait_committed(settings: Any, positions: dict[int, int], within: float = 30.0) -> None:
    """Wait until the group's committed offset of each partition reaches one past its last prompt."""
    committed: dict[int, int | None] = {}

    async def reached() -> bool:
        committed.update(
            await committed_offsets(settings, settings.topics.prompts, settings.topics.partitions)
        )
        return all(committed.get(p) == o for p, o in positions.items())

    await until(reached, within, lambda: f"committed {committed}, expected {positions}", every=0.2)


def last_offsets(placed: list[tuple[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for partition, offset in placed:
        out[partition] = max(out.get(partition, 0), offset + 1)
    return out
