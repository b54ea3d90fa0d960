"""``claude-kafka tail``: follow the delta, completion and error topics, one readable request per id.

It starts at the end of each topic, as kcat and rpk do (``--from-beginning`` replays what is
retained); ``--id`` reads that prompt's retained events too and ends once it has a final event. A
lost broker is one line, and its return another; the consumer keeps retrying in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import click

from service.cli import main
from service.cli.common import (
    EXIT_ERROR_EVENT,
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    settings_or_exit,
)
from service.settings import Settings

# How often tail asks the broker for metadata: the consumer's fetcher retries a lost broker silently.
PROBE_SECONDS = 2.0


@main.command()
@bootstrap_option
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Raw events, one JSON object per line (for jq).")
@click.option("--id", "ids", multiple=True, metavar="CUSTOM_ID",
              help="Only these custom_ids, from their first retained event; ends when all are final. "
              "Repeatable.")  # fmt: skip
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained event, not the end.")
def tail(bootstrap_servers: str | None, env_file: Path, as_json: bool, ids: tuple[str, ...],
         from_beginning: bool) -> None:  # fmt: skip
    """Follow responses as they stream: text reassembled per custom_id, tool calls, errors.

    Starts at the end: only events produced after tail starts are shown, unless --from-beginning.
    With --id it shows those prompts from their first retained event and exits once each has a
    final event (0 all completed, 1 any errored), so it picks up a `send --wait` that was stopped.
    On a terminal each request in flight is a live panel and finished ones scroll above; piped,
    every line is prefixed with its [custom_id]. --json prints every event as it arrives, with
    "topic" and "kind" (delta, completion, error) added. A broker that goes away and comes back
    is reported in one line each. Ctrl-C stops.

    \b
    Examples:
      claude-kafka tail -b 127.0.0.1:9092
      claude-kafka tail --id cli-3f2a9c1b7d4e
      claude-kafka tail --json | jq -r 'select(.kind=="completion") | .message.usage'
    """
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    code = 0
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or `| head` closed the pipe
        code = asyncio.run(
            follow(settings, as_json=as_json, ids=frozenset(ids), from_beginning=from_beginning or bool(ids))
        )
    sys.exit(code)


def broker_note(was_up: bool, up: bool, where: str) -> str | None:
    """The line to print when the broker's reachability changes, else ``None``."""
    if was_up and not up:
        return f"broker {where} unreachable; still trying (tail resumes when it is back)"
    if up and not was_up:
        return f"broker {where} is back; following again"
    return None


async def follow(settings: Settings, *, as_json: bool, ids: frozenset[str], from_beginning: bool) -> int:
    """Print events until Ctrl-C, or with ``ids`` until each has a final event; the exit code."""
    from service.cli.bus import OutputFollower, decode_or_none
    from service.cli.reassemble import Board, Status
    from service.cli.render import make_view

    where = settings.kafka.bootstrap_servers
    follower = OutputFollower(settings, from_beginning=from_beginning)
    await follower.start()
    board = Board()
    view = None if as_json else make_view(board)

    def note(text: str, style: str = "") -> None:
        if view is not None:
            view.note(text, style)
        else:
            click.echo(f"claude-kafka: {text}", err=True)  # stdout stays one JSON object per line

    start = "their first retained event" if ids else "the beginning" if from_beginning else "the end"
    note(f"following {', '.join(settings.topics.outputs())} on {where} from {start}")
    if view is not None:
        view.start()
    up, next_probe = True, time.monotonic() + PROBE_SECONDS
    try:
        while True:
            for record in await follower.poll():
                event = decode_or_none(record)
                if ids and (event is None or event.custom_id not in ids):
                    continue
                if as_json:
                    sys.stdout.write(record.json_line() + "\n")
                    sys.stdout.flush()
                    if event is not None:
                        board.apply(event)
                elif event is not None and view is not None:
                    view.show(board.apply(event))
            if ids and all(i in board.requests and board.requests[i].final for i in ids):
                errored = any(board.requests[i].status is Status.ERRORED for i in ids)
                return EXIT_ERROR_EVENT if errored else 0
            if time.monotonic() >= next_probe:
                now_up = await follower.reachable()
                if line := broker_note(up, now_up, where):
                    note(line, "yellow" if not now_up else "green")
                up, next_probe = now_up, time.monotonic() + PROBE_SECONDS
    finally:
        if view is not None:
            view.stop()
        await follower.stop()
