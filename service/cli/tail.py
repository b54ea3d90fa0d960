"""``claude-kafka tail``: follow the delta, completion and error topics, one readable request per id."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import click

from service.cli import main
from service.cli.common import bootstrap_option, env_file_option, kafka_overrides, settings_or_exit
from service.settings import Settings


@main.command()
@bootstrap_option
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Raw events, one JSON object per line (for jq).")
@click.option("--id", "ids", multiple=True, metavar="CUSTOM_ID", help="Only these custom_ids. Repeatable.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained event, not the end.")
def tail(bootstrap_servers: str | None, env_file: Path, as_json: bool, ids: tuple[str, ...],
         from_beginning: bool) -> None:  # fmt: skip
    """Follow responses as they stream: text reassembled per custom_id, tool calls, errors.

    On a terminal each request in flight is a live panel and finished ones scroll above; piped,
    every line is prefixed with its [custom_id]. --json prints every event as it arrives, with
    "topic" and "kind" (delta, completion, error) added. Ctrl-C stops.

    \b
    Examples:
      claude-kafka tail -b 127.0.0.1:9092
      claude-kafka tail --json | jq -r 'select(.kind=="completion") | .message.usage'
    """
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or `| head` closed the pipe
        asyncio.run(follow(settings, as_json=as_json, ids=frozenset(ids), from_beginning=from_beginning))


async def follow(settings: Settings, *, as_json: bool, ids: frozenset[str], from_beginning: bool) -> None:
    from service.cli.bus import OutputFollower, decode_or_none
    from service.cli.reassemble import Board
    from service.cli.render import make_view

    follower = OutputFollower(settings, from_beginning=from_beginning)
    await follower.start()
    board = Board()
    view = None if as_json else make_view(board)
    if view is not None:
        view.note(f"following {', '.join(settings.topics.outputs())} on {settings.kafka.bootstrap_servers}")
        view.start()
    try:
        while True:
            for record in await follower.poll():
                event = decode_or_none(record)
                if ids and (event is None or event.custom_id not in ids):
                    continue
                if as_json:
                    sys.stdout.write(record.json_line() + "\n")
                    sys.stdout.flush()
                elif event is not None and view is not None:
                    view.show(board.apply(event))
    finally:
        if view is not None:
            view.stop()
        await follower.stop()
