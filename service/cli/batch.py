"""``claude-kafka batch submit FILE.jsonl`` and ``claude-kafka batch status``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from service.cli import main
from service.cli.common import (
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    require_credentials,
    settings_or_exit,
)
from service.settings import Settings


@main.group()
def batch() -> None:
    """Batch mode: prompts through the Message Batches API at half price."""


@batch.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-wait", is_flag=True, help="Return once the prompts are published.")
@click.option("--timeout", default=86_400.0, show_default=True, help="Seconds to wait for final events.")
@bootstrap_option
@env_file_option
def submit(file: Path, no_wait: bool, timeout: float, bootstrap_servers: str | None, env_file: Path) -> None:
    """Publish a Message Batches JSONL file ({"custom_id", "params"} per line) as batch-mode prompts.

    Bad lines are reported by line number and skipped. Then a progress bar runs until every
    custom_id has a final event on the completions or errors topic (unless --no-wait).

    \b
    Example:
      claude-kafka batch submit requests.jsonl
    """
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    records, problems = read_jsonl(file)
    for line, problem in problems:
        click.echo(f"{file}:{line}: {problem}", err=True)
    if not records:
        raise SystemExit(1)
    ids = asyncio.run(_publish(settings, records))
    click.echo(f"published {len(ids)} batch prompts to {settings.topics.prompts}")
    if not no_wait:
        asyncio.run(_wait(settings, set(ids), timeout))
    if problems:
        raise SystemExit(1)


def read_jsonl(path: Path) -> tuple[list[tuple[bytes, bytes]], list[tuple[int, str]]]:
    """``(key, value)`` prompt records, and ``(line number, problem)`` for lines that are not."""
    from pydantic import ValidationError

    from schemas import PromptEvent

    records: list[tuple[bytes, bytes]] = []
    problems: list[tuple[int, str]] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                data["mode"] = "batch"
                prompt = PromptEvent.model_validate(data)
            except (ValueError, ValidationError) as exc:
                problems.append((number, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
                continue
            records.append((prompt.custom_id.encode(), prompt.model_dump_json(exclude_none=True).encode()))
    return records, problems


async def _publish(settings: Settings, records: list[tuple[bytes, bytes]]) -> list[str]:
    from aiokafka import AIOKafkaProducer

    from service.kafka.config import producer_kwargs

    producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    await producer.start()
    try:
        futures = [await producer.send(settings.topics.prompts, v, key=k) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [k.decode() for k, _ in records]


async def _wait(settings: Settings, ids: set[str], wait_seconds: float) -> None:
    from aiokafka import AIOKafkaConsumer
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from service.kafka.config import common_kwargs

    topics = (settings.topics.completions, settings.topics.errors)
    consumer = AIOKafkaConsumer(
        *topics, **common_kwargs(settings.kafka), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    done: dict[str, str] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    errors_column = TextColumn("{task.fields[errors]} errors")
    columns = (TextColumn("batch"), BarColumn(), MofNCompleteColumn(), errors_column, TimeElapsedColumn())
    try:
        with Progress(*columns) as progress:
            task = progress.add_task("batch", total=len(ids), errors=0)
            while len(done) < len(ids) and loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for messages in batches.values():
                    for m in messages:
                        key = m.key.decode() if m.key else None
                        if key in ids and key not in done:
                            done[key] = m.topic
                errors = sum(1 for t in done.values() if t == settings.topics.errors)
                progress.update(task, completed=len(done), errors=errors)
    finally:
        await consumer.stop()
    if len(done) < len(ids):
        raise click.ClickException(
            f"{len(ids) - len(done)} prompts without a final event after {wait_seconds}s"
        )


@batch.command()
@bootstrap_option
@env_file_option
def status(bootstrap_servers: str | None, env_file: Path) -> None:
    """List open batches (from TOPIC_BATCHES) with their request counts from the API."""
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    require_credentials(settings)
    rows = asyncio.run(_status(settings))
    if not rows:
        click.echo("no open batches")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("batch id", "submitted", "requests", "status", "processing", "succeeded", "errored",
                  "canceled", "expired")  # fmt: skip
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console().print(table)


async def _status(settings: Settings) -> list[tuple[Any, ...]]:
    from service.batch.api import COUNT_NAMES, BatchApi
    from service.batch.handoff_log import read_topic
    from service.batch.records import fold
    from service.errors import ClaudeError

    folded = fold(await read_topic(settings.kafka, settings.topics.batches))
    api = BatchApi(settings.anthropic)
    rows: list[tuple[Any, ...]] = []
    try:
        for open_batch in folded.open:
            try:
                state = await api.retrieve(open_batch.batch_id)
                counts: list[object] = [state.counts[n] for n in COUNT_NAMES]
                shown = state.processing_status
            except ClaudeError as exc:
                counts, shown = ["?"] * len(COUNT_NAMES), f"unknown ({exc.type})"
            rows.append((open_batch.batch_id, open_batch.submitted_at.isoformat(timespec="seconds"),
                         len(open_batch.entries), shown, *counts))  # fmt: skip
    finally:
        await api.close()
    return rows
