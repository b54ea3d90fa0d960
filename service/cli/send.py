"""``claude-kafka send``: publish one PromptEvent; with ``--wait``, stream its answer back.

Exit codes: 0 completed (or sent, without ``--wait``), 1 an error event came back, 2 bad usage or
configuration (including an unreachable broker or an oversize prompt), 3 ``--timeout`` passed without
a final event, 130 Ctrl-C while waiting.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from schemas import ErrorEvent, PromptEvent, SourceRecord
from schemas.models import DEFAULT_MODEL
from service.cli import main
from service.cli.common import (
    EXIT_ERROR_EVENT,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    CliFailure,
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    settings_or_exit,
)
from service.settings import BatchSettings, PipelineSettings, Settings, env_name

if TYPE_CHECKING:
    from service.cli.bus import Event, OutputFollower

DEFAULT_MAX_TOKENS = 1024

STREAM_TIMEOUT = 120.0
# After the batch is submitted: most batches end within an hour (the API allows 24 h; --timeout).
BATCH_POLLING_BUDGET = 3600.0


def new_id(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def parse_attrs(values: tuple[str, ...]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise CliFailure(f"--attr wants KEY=VALUE, got {value!r}", hint="e.g. --attr tenant=acme")
        attrs[key] = text
    return attrs


def build_prompt(
    *,
    text: str | None,
    raw_json: str | None,
    model: str | None,
    max_tokens: int | None,
    system: str | None,
    mode: str | None,
    custom_id: str | None,
    attrs: dict[str, str],
    loop: dict[str, Any] | None = None,
    session: dict[str, Any] | None = None,
) -> PromptEvent:
    """The PromptEvent from a text or a JSON document (a PromptEvent or bare params); options win."""
    document: dict[str, Any] = {}
    if raw_json is not None:
        try:
            loaded = json.loads(raw_json)
        except ValueError as exc:
            raise CliFailure(f"--json is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise CliFailure("--json must be a JSON object (a PromptEvent or Messages API params)")
        document = loaded if "params" in loaded else {"params": loaded}
    params: dict[str, Any] = dict(document.get("params") or {})
    if text is not None:
        params["messages"] = [{"role": "user", "content": text}]
    params.setdefault("model", DEFAULT_MODEL)
    params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    overrides = {"model": model, "max_tokens": max_tokens, "system": system}
    params.update({k: v for k, v in overrides.items() if v is not None})
    document["params"] = params
    document["custom_id"] = custom_id or document.get("custom_id") or new_id()
    if mode is not None:
        document["mode"] = mode
    if attrs:
        document["attributes"] = {**(document.get("attributes") or {}), **attrs}
    if session is not None:
        document["session"] = session
    if loop is not None:
        document["loop"] = {**(document.get("loop") or {}), **loop}
        if not params.get("tools"):
            from service.agents.tools import TOOL_SPECS  # what `claude-kafka tool-worker` runs

            params["tools"] = list(TOOL_SPECS.values())
    try:
        return PromptEvent.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "prompt"
        raise CliFailure(
            f"invalid prompt: {where}: {first['msg']}",
            hint="see `claude-kafka send --help` and schemas/json/prompt_event.v1.json",
        ) from None


def read_text(prompt: str | None, file: Path | None) -> str | None:
    if prompt is not None and file is not None:
        raise CliFailure("give the prompt as an argument or with --file, not both")
    if file is not None:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    if prompt is not None:
        return sys.stdin.read() if prompt == "-" else prompt
    return None


@main.command()
@click.argument("prompt", required=False)
@click.option("--file", "-f", type=click.Path(dir_okay=False, path_type=Path), help="Read the prompt text.")
@click.option("--model", "-m", default=None, help=f"Model id (default {DEFAULT_MODEL}).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help=f"Default {DEFAULT_MAX_TOKENS}.")
@click.option("--system", default=None, help="System prompt.")
@click.option("--mode", type=click.Choice(["stream", "batch"]), default=None, help="Default stream.")
@click.option("--id", "custom_id", default=None, help="custom_id (default: a generated cli-... id).")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="Attribute. Repeatable.")
@click.option("--json", "raw_json", default=None, metavar="JSON|@FILE",
              help="A full PromptEvent or Messages API params as JSON (@path, @- = stdin).")  # fmt: skip
@click.option("--loop", "tool_loop", is_flag=True,
              help="Run a tool loop: tool calls go to `claude-kafka tool-worker` (its tools are offered "
              "unless the params name tools).")  # fmt: skip
@click.option("--max-iterations", type=click.IntRange(1, 100), default=None, help="With --loop: most turns.")
@click.option("--tool-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --loop: seconds a turn waits for its tool results.")  # fmt: skip
@click.option("--session", "session_id", default=None, metavar="ID",
              help="Continue session ID: the service sends its history, then keeps the answer.")  # fmt: skip
@click.option("--reset-session", is_flag=True, help="With --session: start the session afresh.")
@click.option("--wait", "-w", is_flag=True, help="Follow this prompt: stream its text, then usage and cost.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"Seconds --wait waits for the final event (default {STREAM_TIMEOUT:.0f}; batch mode: "
              f"BATCH_MAX_WAIT_SECONDS + {BATCH_POLLING_BUDGET:.0f}).")  # fmt: skip
@bootstrap_option
@env_file_option
def send(
    *,
    prompt: str | None,
    file: Path | None,
    model: str | None,
    max_tokens: int | None,
    system: str | None,
    mode: str | None,
    custom_id: str | None,
    attrs: tuple[str, ...],
    raw_json: str | None,
    tool_loop: bool,
    max_iterations: int | None,
    tool_timeout: float | None,
    session_id: str | None,
    reset_session: bool,
    wait: bool,
    timeout: float | None,
    bootstrap_servers: str | None,
    env_file: Path,
) -> None:
    """Send one prompt to the prompts topic; prints its custom_id (with --wait: the answer).

    The prompt comes from PROMPT, --file, stdin (when nothing else is given, or PROMPT is -), or
    --json. With --wait the answer streams to stdout; thinking, usage and cost go to stderr.
    A prompt larger than MAX_PROMPT_BYTES is refused here, before it is sent. In batch mode
    --wait says when the service submits the batch (after BATCH_MAX_WAIT_SECONDS at most) and
    shows a progress line while it polls. Ctrl-C stops waiting, not the prompt: follow it later
    with `claude-kafka tail --id CUSTOM_ID`.
    Exit codes: 0 completed, 1 error event, 2 bad usage or config, 3 timeout, 130 Ctrl-C.

    \b
    Examples:
      claude-kafka send "Write a haiku about Kafka" -b 127.0.0.1:9092 --wait
      echo "Summarise: ..." | claude-kafka send --attr tenant=acme --wait
      claude-kafka send --mode batch --wait "Half price, answered within the hour"
      claude-kafka send --loop --wait "Use the calculator: what is 17 * 23?"   # with a tool-worker
      claude-kafka send --session chat-7 --wait "And in French?"   # the service keeps the history
      claude-kafka send --json '{"custom_id":"q1","params":{"model":"claude-sonnet-5-5",
          "max_tokens":256,"messages":[{"role":"user","content":"Hi"}]}}'
    """
    if raw_json is not None and raw_json.startswith("@"):
        source = raw_json[1:]
        raw_json = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    text = read_text(prompt, file)
    if text is None and raw_json is None:
        if sys.stdin.isatty():
            hint = 'claude-kafka send "your prompt" (or --file, stdin, --json)'
            raise CliFailure("no prompt given", hint=hint)
        text = sys.stdin.read()
    event = build_prompt(
        text=text, raw_json=raw_json, model=model, max_tokens=max_tokens, system=system, mode=mode,
        custom_id=custom_id, attrs=parse_attrs(attrs),
        loop=loop_option(tool_loop, max_iterations, tool_timeout),
        session=session_option(session_id, reset_session),
    )  # fmt: skip
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    refuse_oversize(event, settings.pipeline.max_prompt_bytes)
    within = timeout if timeout is not None else default_timeout(event.mode, settings.batch)
    progress = Progress()
    try:
        code = asyncio.run(send_and_follow(settings, event, wait=wait, within=within, progress=progress))
    except KeyboardInterrupt:
        code = interrupted(event.custom_id, progress)
    sys.exit(code)


def loop_option(on: bool, max_iterations: int | None, tool_timeout: float | None) -> dict[str, Any] | None:
    """The prompt's ``loop`` from the flags; the limits alone imply --loop."""
    given = {"max_iterations": max_iterations, "tool_timeout_seconds": tool_timeout}
    loop = {k: v for k, v in given.items() if v is not None}
    return loop if on or loop else None


def session_option(session_id: str | None, reset: bool) -> dict[str, Any] | None:
    if session_id is None:
        if reset:
            raise CliFailure("--reset-session needs --session ID")
        return None
    return {"id": session_id, "reset": reset}


def default_timeout(mode: str, batch: BatchSettings) -> float:
    """How long --wait waits without --timeout: a batch prompt first waits to be submitted."""
    return batch.max_wait_seconds + BATCH_POLLING_BUDGET if mode == "batch" else STREAM_TIMEOUT


def refuse_oversize(event: PromptEvent, limit: int) -> None:
    """Refuse what the service would dead-letter as ``prompt_too_large`` (it measures the record)."""
    from service.cli.bus import oversize

    if problem := oversize(event, limit):
        raise CliFailure(
            problem,
            hint=f"shorten it, or raise {env_name(PipelineSettings, 'max_prompt_bytes')} "
            "for the service and here alike",
        )


@dataclass
class Progress:
    """Where the prompt got to, for the Ctrl-C message."""

    source: SourceRecord | None = None


def interrupted(custom_id: str, progress: Progress) -> int:
    if progress.source is None:
        click.echo("claude-kafka: interrupted before the prompt was sent", err=True)
    else:
        click.echo(
            f"claude-kafka: stopped waiting; {custom_id} is still being answered "
            f"(follow it with `claude-kafka tail --id {custom_id}`)",
            err=True,
        )
    return EXIT_INTERRUPTED


def ours(event: Event, custom_id: str, source: SourceRecord | None) -> bool:
    """This prompt's event: by custom_id, or an error event without one that names our record.

    The service cannot always read a custom_id (a record it cannot parse); its error event still
    names the record's topic, partition and offset.
    """
    if event.custom_id == custom_id:
        return True
    return isinstance(event, ErrorEvent) and event.custom_id is None and event.source == source


async def send_and_follow(
    settings: Settings, event: PromptEvent, *, wait: bool, within: float, progress: Progress | None = None
) -> int:
    from service.cli.bus import OutputFollower, send_prompts

    progress = progress or Progress()
    batch = event.mode == "batch"
    follower = OutputFollower(settings) if wait else None
    if follower is not None:
        await follower.start()  # positioned at the end before sending, so nothing is missed
    try:
        [(partition, offset)] = await send_prompts(settings, [event])
        progress.source = SourceRecord(topic=settings.topics.prompts, partition=partition, offset=offset)
        click.echo(
            f"sent {event.custom_id} to {settings.topics.prompts} partition {partition} offset {offset}",
            err=True,
        )
        if follower is None:
            click.echo(event.custom_id)
            return 0
        watch = BatchWatch(settings.batch, within) if batch else None
        return await stream_answer(follower, event.custom_id, within, progress.source, watch)
    finally:
        if follower is not None:
            await follower.stop()


class BatchWatch:
    """The progress lines of a batch-mode ``--wait``, from the batch settings: the service submits a
    batch once its oldest prompt waited BATCH_MAX_WAIT_SECONDS, then polls it every BATCH_POLL_SECONDS
    (backing off) until it ends."""

    def __init__(self, batch: BatchSettings, within: float) -> None:
        self._batch = batch
        self._started = time.monotonic()
        self._every = min(max(batch.poll_seconds, 1.0), 60.0)
        self._next = self._started + self._every
        click.echo(
            f"batch mode: the service submits a batch within {batch.max_wait_seconds:g} s "
            f"(BATCH_MAX_WAIT_SECONDS), then polls it every {batch.poll_seconds:g} s or more; "
            f"waiting up to {within:.0f} s (--timeout)",
            err=True,
        )

    @property
    def submitted(self) -> bool:
        """True once the longest a prompt waits for its batch to be submitted has passed."""
        return time.monotonic() - self._started >= self._batch.max_wait_seconds

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every
        elapsed = now - self._started
        if self.submitted:
            line = f"waiting for the batch's results ({_duration(elapsed)}; polled every "
            line += f"{self._batch.poll_seconds:g} s or more)"
        else:
            line = f"waiting for the batch to be submitted ({_duration(elapsed)} of at most "
            line += f"{self._batch.max_wait_seconds:g} s)"
        click.echo(line, err=True)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


async def stream_answer(
    follower: OutputFollower,
    custom_id: str,
    within: float,
    source: SourceRecord | None = None,
    watch: BatchWatch | None = None,
) -> int:
    """Print this request's text as it streams; return the exit code for its final event."""
    from service.cli.bus import decode_or_none
    from service.cli.reassemble import Board, Finished, Restarted, Status, TextAppended, ToolCalled, summary
    from service.cli.render import tool_line

    board = Board()
    colour = sys.stderr.isatty()
    last_kind = "text"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for record in await follower.poll():
            event = decode_or_none(record)
            if event is None or not ours(event, custom_id, source):
                continue
            if event.custom_id is None:  # an error event that names our record, not our id
                event = event.model_copy(update={"custom_id": custom_id})
            for update in board.apply(event):
                match update:
                    case TextAppended(_, "thinking", piece):
                        click.secho(piece, err=True, nl=False, dim=True, italic=True, color=colour)
                        last_kind = "thinking"
                    case TextAppended(_, _, piece):
                        if last_kind == "thinking":
                            click.echo("\n", err=True)  # thinking (stderr) ends; the answer starts
                            last_kind = "text"
                        click.echo(piece, nl=False)
                    case ToolCalled(_, name, value):
                        click.echo(f"\n[{tool_line(name, value)}]")
                    case Restarted(_, generation, attempt):
                        click.secho(
                            f"\n-- restarted (generation {generation}, attempt {attempt}); "
                            "discard the partial text above --",
                            err=True, fg="yellow", color=colour,
                        )  # fmt: skip
                    case Finished(request):
                        click.echo("")
                        ok = request.status is Status.COMPLETED
                        click.secho(summary(request), err=True, fg="green" if ok else "red", color=colour)
                        return 0 if ok else EXIT_ERROR_EVENT
        if watch is not None:
            watch.tick()
    unsubmitted = watch is not None and not watch.submitted
    waiting_for = "the batch to be submitted" if unsubmitted else "a final event"
    hint = (
        "the batch may still be open; "
        if watch is not None and watch.submitted
        else "is the service running? "
    )
    click.secho(
        f"claude-kafka: no final event for {custom_id} within {within:.0f} s (waited for {waiting_for}; "
        f"hint: {hint}follow it later with `claude-kafka tail --id {custom_id}`)",
        err=True, fg="red", color=colour,
    )  # fmt: skip
    return EXIT_TIMEOUT
