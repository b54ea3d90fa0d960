"""``claude-kafka tool-worker``: the reference tool worker for tool loops (calculator, clock)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import click

from schemas import ToolCallEvent, ToolResultEvent
from service.cli import main
from service.cli.common import (
    CliFailure,
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    settings_or_exit,
)


@main.command("tool-worker")
@click.option(
    "--tools",
    default="calculator,clock",
    show_default=True,
    help="Comma-separated tools to run (of: calculator, clock).",
)
@click.option("--group", default=None, help="Consumer group (default: KAFKA_GROUP_ID + '.tools').")
@click.option("--answer-unknown", is_flag=True, help="Answer calls for other tools with an is_error result.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print a line per call.")
@bootstrap_option
@env_file_option
def tool_worker(
    tools: str,
    group: str | None,
    answer_unknown: bool,
    quiet: bool,
    bootstrap_servers: str | None,
    env_file: Path,
) -> None:
    """Run tool calls of tool loops: ToolCallEvents in, ToolResultEvents out.

    Reads TOPIC_TOOL_CALLS in its own consumer group and answers each call for one of its tools on
    TOPIC_TOOL_RESULTS. Calls for other tools are left to other workers (each in its own group),
    unless --answer-unknown. The calculator evaluates arithmetic without eval; the clock tells the
    time in an IANA zone. Ctrl-C stops it.

    \b
    Example:
      claude-kafka tool-worker &
      claude-kafka send --loop --wait "Use the calculator: what is 17 * 23 + 4?"
    """
    from service.agents.tools import TOOL_SPECS
    from service.agents.worker import ToolWorker

    names = [n.strip() for n in tools.split(",") if n.strip()]
    unknown = [n for n in names if n not in TOOL_SPECS]
    if unknown or not names:
        raise CliFailure(
            f"--tools: unknown tool {', '.join(unknown) or '(none given)'}",
            hint=f"choose from: {', '.join(TOOL_SPECS)}",
        )
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))

    def show(call: ToolCallEvent, result: ToolResultEvent) -> None:
        if not quiet:
            flag = " [error]" if result.is_error else ""
            click.echo(f"{call.custom_id} {call.name}({json.dumps(call.input)}) -> {result.content}{flag}")

    async def serve() -> None:
        worker = ToolWorker(
            settings, group or f"{settings.kafka.group_id}.tools", names, answer_unknown, on_answer=show
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.request_stop)
        click.echo(f"tool worker: {', '.join(names)} on {settings.topics.tool_calls}", err=True)
        await worker.run()
        click.echo(f"tool worker: stopped after {worker.answered} calls", err=True)

    asyncio.run(serve())
