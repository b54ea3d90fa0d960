"""Hostile input: PromptEvent decoding never raises, and every bad record ends on the errors topic."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import ErrorEvent, PromptEvent, SourceRecord
from service import events
from service.events import original_text
from service.kafka.topics import create_topics
from service.pipeline.intake import Rejection, decode_prompt
from service.settings import PipelineSettings
from tests.kafkautil import Collector, produce
from tests.reconcile import last_offsets, tally, wait_committed
from tests.reliability.harness import Row
from tests.services import MODEL, prompt

RULES = PipelineSettings(max_prompt_bytes=64 * 1024, allowed_models=(MODEL,), max_tokens_cap=1000)
NOW = datetime(2026, 11, 25, tzinfo=UTC)
REJECTIONS = {
    "invalid_prompt",
    "invalid_json",
    "invalid_encoding",
    "prompt_too_large",
    "model_not_allowed",
    "max_tokens_exceeded",
    "expired",
}
HOSTILE = settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None), max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Code points JSON and UTF-8 handle unevenly: lone surrogates, NUL, BOM, bidi overrides, noncharacters.
edge_chars = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\ufeff", "\u202e", "\uffff", "\U0010ffff", "e\u0301", "\u2028", "😀"]
)
edge_text = st.lists(edge_chars | st.characters(codec=None), max_size=40).map("".join)


def valid_document() -> dict[str, Any]:
    return json.loads(prompt("fuzz-1")[1])


@st.composite
def wrong_types(draw: st.DrawFn) -> bytes:
    """A valid prompt with one field, at any depth of the known shape, replaced by a random JSON value."""
    document = valid_document()
    path = draw(
        st.sampled_from(
            [
                ("custom_id",),
                ("params",),
                ("params", "model"),
                ("params", "max_tokens"),
                ("params", "messages"),
                ("params", "messages", 0),
                ("params", "messages", 0, "content"),
                ("mode",),
                ("attributes",),
                ("deadline",),
                ("callback",),
            ]
        )
    )
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = draw(json_values)
    return json.dumps(document).encode()


@st.composite
def unicode_edges(draw: st.DrawFn) -> bytes:
    """A prompt whose id, text, attributes or model carry edge-case code points, escaped or raw."""
    document = valid_document()
    text = draw(edge_text)
    where = draw(st.sampled_from(["content", "custom_id", "attribute", "model", "key"]))
    if where == "content":
        document["params"]["messages"][0]["content"] = text
    elif where == "custom_id":
        document["custom_id"] = text
    elif where == "attribute":
        document["attributes"] = {"k": text}
    elif where == "model":
        document["params"]["model"] = text
    else:
        document["params"][text] = 1
    escaped = draw(st.booleans())
    # ensure_ascii=False leaves lone surrogates raw: encode them leniently, as a sloppy producer would.
    dumped = json.dumps(document, ensure_ascii=escaped)
    return dumped.encode("utf-8", "surrogatepass")


deep_json = st.tuples(st.integers(1, 200_000), st.sampled_from(["[", '{"a":'])).map(
    lambda t: (t[1] * t[0] + "1" + ("]" if t[1] == "[" else "}") * t[0]).encode()
)
deep_prompt = st.integers(1, 50_000).map(
    lambda n: json.dumps(valid_document()).replace('"Hello"', "[" * n + '"x"' + "]" * n).encode()
)
huge_strings = st.sampled_from([1_000, 65_000, 66_000, 1_000_000]).map(
    lambda n: json.dumps({**valid_document(), "custom_id": "x" * n}).encode()
)
hostile_records = st.one_of(
    st.binary(max_size=512),
    st.text(st.characters(codec=None), max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    wrong_types(),
    unicode_edges(),
    deep_json,
    deep_prompt,
    huge_strings,
)


def assert_handled(value: bytes | None) -> None:
    """``decode_prompt`` returns a prompt the SDK can encode, or a rejection whose event serialises."""
    decoded = decode_prompt(value, RULES, NOW)
    if isinstance(decoded, PromptEvent):
        decoded.model_dump_json()
        json.dumps(decoded.params.model_dump(), ensure_ascii=False).encode("utf-8")
        return
    assert isinstance(decoded, Rejection)
    assert decoded.error.type in REJECTIONS, decoded.error
    source = SourceRecord(topic="t", partition=0, offset=1)
    event = events.error(
        error=decoded.error,
        source=source,
        generation=1,
        attempt=1,
        retryable=False,
        prompt=decoded.prompt,
        raw=value,
    )
    document = ErrorEvent.model_validate_json(event.model_dump_json())
    assert document.original == original_text(value)[0]


@HOSTILE
@given(hostile_records)
def test_decoding_hostile_records_never_raises(value: bytes) -> None:
    """Any bytes decode to a prompt that can be sent on, or to a rejection whose ErrorEvent serialises."""
    assert_handled(value)


def hostile_batch(seed: int) -> list[tuple[bytes, bytes, str]]:
    """(key, value, expected error type) for a seeded set of bad records of every kind."""
    rng = random.Random(seed)
    out: list[tuple[bytes, bytes, str]] = []
    for i in range(8):
        out.append(
            (
                f"bin{i}".encode(),
                bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 64))),
                "invalid_encoding",
            )
        )
        out.append((f"txt{i}".encode(), f"not json {rng.random()}".encode(), "invalid_json"))
    out.append((b"deep", b"[" * 100_000 + b"]" * 100_000, "prompt_too_large"))
    out.append((b"deep-small", b"[" * 30_000 + b"]" * 30_000, "invalid_json"))
    out.append(
        (
            b"nested-prompt",
            json.dumps(valid_document()).replace('"Hello"', "[" * 300 + "1" + "]" * 300).encode(),
            "invalid_prompt",
        )
    )
    out.append(
        (b"surrogate", json.dumps(valid_document()).replace("Hello", "\\ud800").encode(), "invalid_encoding")
    )
    out.append((b"wrong-type", json.dumps({**valid_document(), "params": [1, 2]}).encode(), "invalid_prompt"))
    out.append(
        (b"bad-id", json.dumps({**valid_document(), "custom_id": "\u202eevil"}).encode(), "invalid_prompt")
    )
    out.append(
        (b"oversize", json.dumps({**valid_document(), "pad": "x" * 70_000}).encode(), "prompt_too_large")
    )
    for i in range(4):
        key, value = prompt(
            f"model{i}", model=["claude-opus-4-1", "gpt-4", "claude-haiku-4-5 ", "CLAUDE-HAIKU-4-5"][i]
        )
        out.append((key, value, "model_not_allowed"))
        key, value = prompt(f"cap{i}", max_tokens=rng.randint(1001, 10**9))
        out.append((key, value, "max_tokens_exceeded"))
    out.append((b"tombstone-like", b"null", "invalid_prompt"))
    return out  # fmt: skip


@pytest.mark.integration
async def test_hostile_records_end_on_the_errors_topic_with_their_bytes(
    make_settings: Any, emulator_url: str, fleet_factory: Any, results_table: list[Row]
) -> None:
    """A seeded batch of bad records among good prompts: each bad one is an ErrorEvent with its original
    bytes, the good ones complete, every offset is committed and the consumer stays up."""
    settings = make_settings(
        anthropic={"base_url": emulator_url},
        pipeline={"max_prompt_bytes": 64 * 1024, "allowed_models": MODEL, "max_tokens_cap": 1000},
    )
    await create_topics(settings)
    bad = hostile_batch(seed=20261125)
    good = [prompt(f"good{i:02d}") for i in range(30)]
    records: list[tuple[bytes | None, bytes]] = []
    for i, (key, value, _) in enumerate(bad):
        records.append((key, value))
        if i < len(good):
            records.append(good[i])
    records += good[len(bad) :]
    topics = settings.topics
    fleet = fleet_factory(settings)
    service = fleet.start("hostile")
    placed = await produce(settings, topics.prompts, records)
    async with Collector(settings, [topics.completions, topics.errors]) as collector:
        await collector.until(lambda r: len(r) >= len(records), within=60)
        await wait_committed(settings, last_offsets(placed))
        await collector.drain()
    assert service.get("/healthz")[0] == 200
    assert service.process is not None and service.process.poll() is None
    errors = [r.json() for r in collector.on(topics.errors)]
    assert len(errors) == len(bad)
    for key, value, expected in bad:
        original, encoding = original_text(value)
        match = [e for e in errors if (e["original"], e["original_encoding"]) == (original, encoding)]
        assert len(match) == 1, key
        assert match[0]["error"]["type"] == expected, (key, match[0]["error"])
        assert match[0]["retryable"] is False
    good_ids = {f"good{i:02d}" for i in range(30)}
    result = tally(collector.records, topics, good_ids)
    assert result.completed == len(good_ids) and not result.lost
    results_table.append(
        Row("Hostile input (bad records among good)", len(records), result.completed, len(errors), 0, 0,
            "every bad record, original bytes kept")
    )  # fmt: skip
    assert "Traceback" not in service.log()
