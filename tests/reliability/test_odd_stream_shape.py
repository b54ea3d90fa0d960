"""An odd stream shape that breaks the pipeline's fold: each costs one internal_error, no partition stalls."""

from __future__ import annotations

from typing import Any

import pytest

from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.reconcile import check_outputs, final_ids, last_offsets, tally, wait_committed
from tests.reliability.harness import Row, by_label, log_lines, metrics
from tests.services import prompt

pytestmark = pytest.mark.integration

PROMPTS = 300
ODD_EVERY = 15  # 20 of 300, spread over every partition and through the whole run


async def test_odd_stream_shapes_error_once_each_and_every_partition_keeps_flowing(
    make_settings: Any, emulator_url: str, fleet_factory: Any, results_table: list[Row]
) -> None:
    """emu:shape=orphan_delta prompts among good ones: each an internal_error with its bytes, the rest complete."""
    settings = make_settings(anthropic={"base_url": emulator_url}, pipeline={"max_in_flight": 32})
    await create_topics(settings)
    ids = [f"odd{i:03d}" for i in range(PROMPTS)]
    odd = {i for n, i in enumerate(ids) if n % ODD_EVERY == 7}
    shape = {"metadata": {"user_id": "emu:shape=orphan_delta"}}
    records = [prompt(i, f"Question {i}", **(shape if i in odd else {})) for i in ids]
    sent = dict(records)
    expected = set(ids)
    topics = settings.topics
    service = fleet_factory(settings).start("odd")
    placed = await produce(settings, topics.prompts, records)
    async with Collector(settings, [topics.deltas, topics.completions, topics.errors]) as collector:
        await collector.until(lambda r: final_ids(topics)(r) >= expected, within=90)
        await wait_committed(settings, last_offsets(placed))
        await collector.drain()
    assert {p for p, _ in placed} == set(range(settings.topics.partitions))
    last = check_outputs(collector.records, topics, expected)
    result = tally(collector.records, topics, expected)
    assert not result.lost and result.duplicates == 0 and result.same_version_repeats == 0
    assert {i for i, d in last.items() if d["_topic"] == topics.completions} == expected - odd
    assert result.errored == {"internal_error": len(odd)}
    for custom_id in odd:
        error = last[custom_id]
        assert error["retryable"] is True and error["error"]["message"].startswith("IndexError: ")
        assert error["original"].encode() == sent[custom_id.encode()]
    assert by_label(metrics(service), "claude_kafka_internal_errors_total", "unit") == {"prompt": len(odd)}
    crashes = [line for line in log_lines(service) if line["msg"].startswith("unexpected error in a prompt")]
    assert sorted(line["custom_id"] for line in crashes) == sorted(odd)  # logged once each
    assert service.process is not None and service.process.poll() is None
    results_table.append(
        Row.of("Odd stream shape (emu:shape=orphan_delta breaks the fold)", result,
               f"{len(odd)} internal_error, original bytes kept; every partition kept flowing")
    )  # fmt: skip
