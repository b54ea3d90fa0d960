"""``claude-kafka batch submit FILE.jsonl`` and ``claude-kafka batch status``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from schemas import CompletionEvent, ErrorEvent, PromptEvent, SourceRecord
from service.cli import main
from service.cli.common import (
    EXIT_ERROR_EVENT,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    CliFailure,
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    require_credentials,
    settings_or_exit,
)
from service.settings import Settings

if TYPE_CHECKING:
    from service.cli.bus import OutputFollower


@main.group()
def batch() -> None:
    """Batch mode: prompts through the Message Batches API at half price."""


@batch.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-wait", is_flag=True, help="Return once the prompts are published.")
@click.option("--skip-bad-lines", is_flag=True, help="Publish the valid lines even if some are not.")
@click.option("--timeout", default=86_400.0, show_default=True, help="Seconds to wait for final events.")
@bootstrap_option
@env_file_option
def submit(file: Path, no_wait: bool, skip_bad_lines: bool, timeout: float, bootstrap_servers: str | None,
           env_file: Path) -> None:  # fmt: skip
    """Publish a Message Batches JSONL file ({"custom_id", "params"} per line) as batch-mode prompts.

    Every line is checked first: a bad one is reported with its line number and field, and
    nothing is published (exit 2) unless --skip-bad-lines. Then a progress bar runs until every
    custom_id of this run has a final event on the completions or errors topic (unless
    --no-wait); events from earlier runs of the same file are not counted.
    Exit codes: 0 all completed, 1 any request errored, 2 bad input or config, 3 timeout,
    130 Ctrl-C while waiting (the prompts are published either way).

    \b
    Example:
      claude-kafka batch submit requests.jsonl
    """
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    prompts, problems = read_jsonl(file, settings.pipeline.max_prompt_bytes)
    for line, problem in problems:
        click.echo(f"claude-kafka: {file}: line {line}: {problem}", err=True)
    if problems and not skip_bad_lines:
        raise CliFailure(
            f"{len(problems)} bad line{'s' if len(problems) > 1 else ''} in {file}; nothing was published",
            hint="fix them, or pass --skip-bad-lines to publish the others",
        )
    if not prompts:
        raise CliFailure(f"no requests in {file}", hint='one {"custom_id": ..., "params": {...}} per line')
    try:
        code = asyncio.run(_submit(settings, prompts, wait=not no_wait, within=timeout))
    except KeyboardInterrupt:
        click.echo(
            "claude-kafka: stopped waiting; the prompts are published and the service still answers them "
            "(follow them with `claude-kafka tail`)",
            err=True,
        )
        code = EXIT_INTERRUPTED
    sys.exit(code)


def read_jsonl(path: Path, max_prompt_bytes: int) -> tuple[list[PromptEvent], list[tuple[int, str]]]:
    """Batch-mode prompts, and ``(line number, problem)`` for lines that are not valid ones.

    A problem names the field (``params.max_tokens: Input should be a valid integer``); a repeated
    custom_id is one (the Batches API refuses it, and this run's results are matched by id), and so
    is a prompt the service would refuse as larger than MAX_PROMPT_BYTES.
    """
    from pydantic import ValidationError

    from service.cli.bus import oversize
    from service.errors import describe_validation

    prompts: list[PromptEvent] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError as exc:
                problems.append((number, f"not JSON: {exc}"))
                continue
            if not isinstance(data, dict):
                problems.append((number, "expected a JSON object"))
                continue
            try:
                prompt = PromptEvent.model_validate({**data, "mode": "batch"})
            except ValidationError as exc:
                problems.append((number, describe_validation(exc)))
                continue
            if (first := seen.get(prompt.custom_id)) is not None:
                problems.append((number, f"custom_id: {prompt.custom_id!r} repeats line {first}"))
                continue
            if too_big := oversize(prompt, max_prompt_bytes):
                problems.append((number, too_big))
                continue
            seen[prompt.custom_id] = number
            prompts.append(prompt)
    return prompts, problems


async def _submit(settings: Settings, prompts: list[PromptEvent], *, wait: bool, within: float) -> int:
    from service.cli.bus import OutputFollower, send_prompts

    # Positioned at the end before publishing: results of earlier runs of the same ids are not counted.
    follower = OutputFollower(settings) if wait else None
    if follower is not None:
        await follower.start()
    try:
        placed = await send_prompts(settings, prompts)
        click.echo(f"published {len(prompts)} batch prompts to {settings.topics.prompts}")
        if follower is None:
            return 0
        by_source = {
            SourceRecord(topic=settings.topics.prompts, partition=partition, offset=offset): prompt.custom_id
            for prompt, (partition, offset) in zip(prompts, placed, strict=True)
        }
        return await _wait(follower, Results(by_source), within)
    finally:
        if follower is not None:
            await follower.stop()


class Results:
    """The final outcome of each prompt of this run, by custom_id. Pure."""

    def __init__(self, by_source: dict[SourceRecord, str]) -> None:
        self._by_source = by_source
        self.ids = frozenset(by_source.values())
        self.done: dict[str, bool] = {}  # custom_id -> completed (False: errored)

    def record(self, event: CompletionEvent | ErrorEvent) -> None:
        """Count a final event of ours: by custom_id, or an error event naming our record."""
        custom_id = event.custom_id
        if custom_id is None and isinstance(event, ErrorEvent):
            custom_id = self._by_source.get(event.source)
        if custom_id in self.ids and custom_id not in self.done:
            self.done[custom_id] = isinstance(event, CompletionEvent)

    @property
    def errored(self) -> int:
        return sum(1 for ok in self.done.values() if not ok)

    @property
    def finished(self) -> bool:
        return len(self.done) == len(self.ids)


async def _wait(follower: OutputFollower, results: Results, within: float) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from service.cli.bus import decode_or_none

    loop = asyncio.get_running_loop()
    started = loop.time()
    errors_column = TextColumn("{task.fields[errors]} errors")
    columns = (TextColumn("batch"), BarColumn(), MofNCompleteColumn(), errors_column, TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("batch", total=len(results.ids), errors=0)
        while not results.finished and loop.time() - started < within:
            for record in await follower.poll(timeout_ms=500):
                event = decode_or_none(record)
                if isinstance(event, CompletionEvent | ErrorEvent):
                    results.record(event)
            progress.update(task, completed=len(results.done), errors=results.errored)
    elapsed = loop.time() - started
    completed = len(results.done) - results.errored
    click.echo(f"{completed} completed, {results.errored} errored in {elapsed:.0f} s")
    if not results.finished:
        raise CliFailure(
            f"{len(results.ids) - len(results.done)} prompts without a final event after {within:.0f} s",
            hint="the batch may still be open: `claude-kafka batch status`; raise --timeout",
            exit_code=EXIT_TIMEOUT,
        )
    return EXIT_ERROR_EVENT if results.errored else 0


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
    from rich.table import Table

    table = Table("batch id", "submitted", "requests", "status", "processing", "succeeded", "errored",
                  "canceled", "expired")  # fmt: skip
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console().print(table)


async def _status(settings: Settings) -> list[tuple[Any, ...]]:
    from service.batch.api import COUNT_NAMES, BatchApi
    from service.batch.records import fold
    from service.errors import ClaudeError
    from service.kafka.handoff_log import read_topic

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
