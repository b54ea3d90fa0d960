"""``claude-kafka dev``: the whole stack on embedded defaults, with an optional live demo."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli import main
from service.cli.common import EXIT_ERROR_EVENT, CliFailure, env_file_option

if TYPE_CHECKING:
    from service.devstack import DevOptions, DevStack

READY_TIMEOUT_SECONDS = 30.0


@main.command()
@click.option("--demo", is_flag=True, help="Send a few prompts (text, tool, thinking, batch) and show them.")
@click.option("--exit-after-demo", is_flag=True, help="Stop once the demo prompts are done (tests, CI).")
@click.option("--real", is_flag=True, help="Use the real Claude API (needs ANTHROPIC_API_KEY).")
@click.option("--port", type=int, default=None, help="Broker port [default: 9092 if free; 0 = any].")
@click.option("--metrics-port", type=int, default=None, help="Metrics port [default: 9464 if free; 0 = any].")
@click.option("--ttft-ms", default=300.0, show_default=True, help="Emulator: delay to the first token.")
@click.option("--tokens-per-second", default=60.0, show_default=True, help="Emulator: output pace.")
@click.option("--partitions", default=3, show_default=True, help="Partitions per topic.")
@click.option(
    "--batch-wait", default=30.0, show_default=True, help="Seconds the demo waits for its batch prompt."
)
@click.option("--plain", is_flag=True, help="Plain lines even on a terminal (no live panels).")
@env_file_option
def dev(*, demo: bool, exit_after_demo: bool, real: bool, port: int | None, metrics_port: int | None,
        ttft_ms: float, tokens_per_second: float, partitions: int, batch_wait: float, plain: bool,
        env_file: Path) -> None:  # fmt: skip
    """Run broker, topics, Claude API emulator and the service together; Ctrl-C stops them all.

    Nothing to install or configure: the Kafka broker is embedded (in memory) and the Claude API
    is emulated unless --real is given. Prints where everything listens and commands to try from
    another terminal, then shows every response streaming through Kafka.

    \b
    Examples:
      claude-kafka dev --demo
      ANTHROPIC_API_KEY=sk-ant-... claude-kafka dev --real --port 9092
    """
    from service.devstack import DevOptions
    from service.errors import ConfigError

    options = DevOptions(
        broker_port=port,
        metrics_port=metrics_port,
        real_api=real,
        ttft_ms=ttft_ms,
        tokens_per_second=tokens_per_second,
        partitions=partitions,
    )
    try:
        flow = _dev(options, env_file, demo=demo or exit_after_demo, exit_after_demo=exit_after_demo,
                    batch_wait=batch_wait, plain=plain)  # fmt: skip
        code = asyncio.run(flow)
    except ConfigError as exc:
        raise CliFailure("; ".join(exc.problems), hint="see `claude-kafka config`") from None
    sys.exit(code)


def command_prefix() -> str:
    """How the user can call us from another terminal: ``claude-kafka`` if on PATH, else the path."""
    argv0 = Path(sys.argv[0])
    found = shutil.which("claude-kafka")
    if argv0.name != "claude-kafka" or (found and Path(found).resolve() == argv0.resolve()):
        return "claude-kafka"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0)


async def _dev(options: DevOptions, env_file: Path, *, demo: bool, exit_after_demo: bool, batch_wait: float,
               plain: bool) -> int:  # fmt: skip
    from service.cli.bus import OutputFollower, decode_or_none, send_prompts
    from service.cli.demo import demo_prompts, progress
    from service.cli.reassemble import Board
    from service.cli.render import make_view
    from service.devstack import DevStack

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(130)  # second Ctrl-C: out now; the broker dies with us (parent-death signal)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    board = Board()
    view = make_view(board, live=False if plain else None)
    stack = DevStack(options, env_file)
    started = time.monotonic()
    view.note("starting: embedded Kafka broker, topics, Claude API emulator, service ...", "dim")
    serve: asyncio.Task[None] | None = None
    follower: OutputFollower | None = None
    try:
        await stack.start()
        serve = asyncio.create_task(stack.serve())
        await _until_ready(stack, serve, stop)
        if stop.is_set():
            return 0
        follower = OutputFollower(stack.settings)
        await follower.start()
        for line, style in _header(stack, time.monotonic() - started):
            view.note(line, style)
        prompts = demo_prompts() if demo else []
        for prompt in prompts:
            board.get(prompt.custom_id).mode = prompt.mode.value
        view.start()
        if prompts:
            await send_prompts(stack.settings, prompts)
        demo_started = time.monotonic()
        demo_reported = not prompts
        while not stop.is_set() and not serve.done():
            for record in await follower.poll():
                event = decode_or_none(record)
                if event is not None:
                    view.show(board.apply(event))
            if demo_reported:
                continue
            state = progress(board, prompts)
            waited = time.monotonic() - demo_started
            if state.streams_done and (state.batch_final or waited > batch_wait):
                demo_reported = True
                batch_status = "completed" if state.batch_final else f"still waiting after {waited:.0f} s"
                view.note(state.describe(batch_status), "bold")
                if exit_after_demo:
                    return 0 if state.completed == state.streamed_total else EXIT_ERROR_EVENT
                view.note("still running: try the commands above from another terminal; Ctrl-C stops", "dim")
        return 0
    finally:
        view.stop()
        if follower is not None:
            await follower.stop()
        view.note("stopping: service drains, then emulator and broker ...", "dim")
        stack.request_stop()
        if serve is not None:
            await serve
        else:
            await stack.stop()
        view.note("stopped", "dim")


async def _until_ready(stack: DevStack, serve: asyncio.Task[None], stop: asyncio.Event) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not stack.ready():
        if serve.done():
            serve.result()  # raises what stopped the service
            raise CliFailure("the service stopped during start-up", hint=f"see {stack.service_log}")
        if stop.is_set():
            return
        if time.monotonic() > deadline:
            raise CliFailure(
                f"the service did not join its consumer group within {READY_TIMEOUT_SECONDS:.0f} s",
                hint=f"see {stack.service_log}",
            )
        await asyncio.sleep(0.05)


def _header(stack: DevStack, took: float) -> list[tuple[str, str]]:
    s = stack.settings
    t = s.topics
    api = (
        f"emulator at {stack.emulator_url} (ttft {stack.options.ttft_ms:.0f} ms, "
        f"{stack.options.tokens_per_second:.0f} tokens/s)"
        if stack.emulator_url
        else f"the real API ({s.anthropic.base_url or 'api.anthropic.com'}, key from ANTHROPIC_API_KEY)"
    )
    cli = command_prefix()
    b = stack.bootstrap
    return [
        (f"claude-kafka dev is up in {took:.1f} s; Ctrl-C stops everything", "bold green"),
        (f"  Kafka bootstrap  {b}  (embedded Tansu, in memory, pid {stack.broker.pid})", ""),
        (f"  Claude API       {api}", ""),
        (
            f"  service          group {s.kafka.group_id}, max {s.pipeline.max_in_flight} prompts in flight",
            "",
        ),
        (f"  metrics          {stack.metrics_url}  (also /healthz, /readyz)", ""),
        (f"  topics           {t.prompts} -> {t.deltas}, {t.completions}, {t.errors}; {t.batches}", ""),
        (f"  logs             {stack.service_log}, {stack.broker_log.name}", ""),
        ("From another terminal:", "bold"),
        (f'  {cli} send "Write a haiku about Kafka" -b {b} --wait', "cyan"),
        (f"  {cli} tail -b {b}", "cyan"),
        (f"  {cli} tail -b {b} --json | jq -c '{{kind, custom_id}}'", "cyan"),
    ]
