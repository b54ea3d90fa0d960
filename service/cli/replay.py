"""``claude-kafka replay``: send dead letters from the errors topic back to the prompts topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import ValidationError

from schemas import ErrorEvent
from service.cli import main
from service.cli.bus import start_or_unreachable
from service.cli.common import (
    CliFailure,
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    settings_or_exit,
)
from service.cli.replay_plan import Plan, Replay, Selection, parse_rate, parse_time, plan
from service.kafka.clients import TopicPartition, cli_producer, quiet_client_logs, reader
from service.settings import Settings

READ_LIMIT_SECONDS = 120.0
POLL_MS = 500

Dead = tuple[ErrorEvent, datetime, str]


async def read_dead_letters(settings: Settings) -> tuple[list[Dead], int]:
    """Every ErrorEvent in the errors topic up to where it ended when the read began; and the count of
    records that were not ErrorEvents.

    The end of each partition is the high watermark of the first fetch answer: the embedded broker's
    ``end_offsets()`` is the last batch's base offset + 1 (README, "Embedded broker"), so it only tells
    an empty partition (end = start) from one with records. Errors that replayed prompts produce while
    this runs land after that mark and are not read again.
    """
    topic = settings.topics.errors
    consumer = reader(settings.kafka)
    await start_or_unreachable(consumer, settings)
    events: list[Dead] = []
    foreign = 0
    try:
        if topic not in await consumer.topics():
            raise CliFailure(
                f"topic {topic} does not exist", hint="set TOPIC_ERRORS, or pass -b for the right cluster"
            )
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        await consumer.seek_to_beginning(*tps)
        marks: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + READ_LIMIT_SECONDS
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=POLL_MS, max_records=5000)
            for tp in list(pending):
                if tp not in marks and consumer.highwater(tp) is not None:
                    marks[tp] = consumer.highwater(tp) or 0
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= marks.get(tp, record.offset + 1):
                        continue
                    try:
                        event = ErrorEvent.model_validate_json(record.value or b"")
                    except ValidationError:
                        foreign += 1
                        continue
                    when = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                    events.append((event, when, f"{topic}/{record.partition}@{record.offset}"))
            for tp in list(pending):
                if tp in marks and await consumer.position(tp) >= marks[tp]:
                    pending.discard(tp)
        if pending:
            raise CliFailure(
                f"reading {topic} did not finish within {READ_LIMIT_SECONDS:g}s",
                hint="narrow the range with --since/--until, or check the broker",
            )
    finally:
        await consumer.stop()
    return events, foreign


async def resend(settings: Settings, replays: Sequence[Replay], rate: float | None) -> int:
    """Produce ``replays`` to the prompts topic at most ``rate`` per second; the count acknowledged."""
    producer = cli_producer(settings.kafka)
    await start_or_unreachable(producer, settings)
    try:
        futures = []
        started = time.monotonic()
        for index, replay in enumerate(replays):
            if rate is not None:
                # Paced from the start, not from the previous send: a slow send does not slow the rest.
                await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            futures.append(await producer.send(settings.topics.prompts, replay.value, key=replay.key))
        acked = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(acked)


def _summary(result: Plan, foreign: int) -> str:
    skipped = dict(result.skipped)
    if foreign:
        skipped["not ErrorEvents"] = foreign
    parts = [f"{count} {why}" for why, count in skipped.items()]
    return f"{result.read + foreign} records read" + (f"; skipped {', '.join(parts)}" if parts else "")


async def _replay(settings: Settings, selection: Selection, rate: float | None, dry_run: bool) -> None:
    quiet_client_logs()
    events, foreign = await read_dead_letters(settings)
    result = plan(events, selection)
    prompts = settings.topics.prompts
    for replay in result.replays:
        verb = "would replay" if dry_run else "replay"
        click.echo(f"{verb} {replay.custom_id or '(no custom_id)'}  {replay.error_type}  from {replay.where}")
    if dry_run:
        click.echo(
            f"dry run: {len(result.replays)} prompts would be sent to {prompts} ({_summary(result, foreign)})"
        )
        return
    sent = await resend(settings, result.replays, rate) if result.replays else 0
    click.echo(f"replayed {sent} prompts to {prompts} ({_summary(result, foreign)})")


@main.command()
@click.option(
    "--type", "types", multiple=True, help="Only this error type (repeatable), e.g. overloaded_error."
)
@click.option("--custom-id", "custom_ids", multiple=True, help="Only this custom_id (repeatable).")
@click.option(
    "--since", default=None, help="From this time: ISO 8601 (UTC if no zone) or back from now: 15m, 2h, 1d."
)
@click.option("--until", default=None, help="Before this time, same forms as --since.")
@click.option(
    "--rate", default=None, help="At most this many prompts per second, e.g. 20/s. Default: no limit."
)
@click.option("--dry-run", is_flag=True, help="List what would be replayed; send nothing.")
@bootstrap_option
@env_file_option
def replay(
    types: tuple[str, ...],
    custom_ids: tuple[str, ...],
    since: str | None,
    until: str | None,
    rate: str | None,
    dry_run: bool,
    bootstrap_servers: str | None,
    env_file: Path,
) -> None:
    """Send dead letters (ErrorEvents) back to the prompts topic, keeping each custom_id and key.

    Reads TOPIC_ERRORS from the beginning to where it ends when replay starts, picks the events that
    match every filter, and produces each one's `original` record to TOPIC_PROMPTS (the latest dead
    letter per custom_id; callback failures are never replayed). Fix the cause first.

    \b
    Examples:
      claude-kafka replay --type overloaded_error --since 2h --dry-run
      claude-kafka replay --custom-id order-4711-summary
      claude-kafka replay --since 2026-12-01T08:00Z --until 2026-12-01T09:00Z --rate 20/s
    """
    now = datetime.now(UTC)
    try:
        selection = Selection(
            types=frozenset(types),
            custom_ids=frozenset(custom_ids),
            since=parse_time(since, now) if since else None,
            until=parse_time(until, now) if until else None,
        )
        per_second = parse_rate(rate) if rate else None
    except ValueError as exc:
        raise CliFailure(str(exc), hint="see `claude-kafka replay --help`") from None
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    asyncio.run(_replay(settings, selection, per_second, dry_run))
