"""``claude-kafka dev``: the whole stack on embedded defaults, with an optional live demo."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from dataclasses import dataclass
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
    another terminal, then shows every response streaming through Kafka. While it runs, the
    `dev` profile it writes lets every other claude-kafka command find the stack without flags.

    \b
    Examples:
      claude-kafka dev --demo
      ANTHROPIC_API_KEY=sk-ant-... claude-kafka dev --real --port 9092
    """
    from service.devstack import DevOptions

    options = DevOptions(
        broker_port=port,
        metrics_port=metrics_port,
        real_api=real,
        ttft_ms=ttft_ms,
        tokens_per_second=tokens_per_second,
        partitions=partitions,
    )
    # A bad setting (a ConfigError) is one line at the CLI's boundary, like every other failure.
    flow = _dev(options, env_file, demo=demo or exit_after_demo, exit_after_demo=exit_after_demo,
                batch_wait=batch_wait, plain=plain)  # fmt: skip
    sys.exit(asyncio.run(flow))


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
    from service import profiles
    from service.cli.bus import OutputFollower, decode_or_none, send_prompts
    from service.cli.demo import demo_prompts, progress
    from service.cli.reassemble import Board
    from service.cli.render import make_view
    from service.devstack import DevStack
    from service.lifecycle import GracefulSignals

    stop = GracefulSignals().install().requested  # a second Ctrl-C exits at once, broker included

    board = Board()
    view = make_view(board, live=False if plain else None)
    stack = DevStack(options, env_file)
    started = time.monotonic()
    view.note("starting: embedded Kafka broker, topics, Claude API emulator, service ...", "dim")
    serve: asyncio.Task[None] | None = None
    follower: OutputFollower | None = None
    profile: Path | None = None
    try:
        await stack.start()
        serve = asyncio.create_task(stack.serve())
        await _until_ready(stack, serve, stop)
        if stop.is_set():
            return 0
        profile = write_profile(stack)
        follower = OutputFollower(stack.settings)
        await follower.start()
        for line, style in _header(stack, time.monotonic() - started, profile):
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
        if profile is not None:
            profiles.remove_own(profile, os.getpid())
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


def write_profile(stack: DevStack) -> Path:
    """The ``dev`` profile: what a command in another terminal needs to reach this stack.

    Never a real key: with ``--real`` the key stays in the environment of whoever runs the command.
    """
    from service import profiles
    from service.devstack import EMULATOR_API_KEY

    s = stack.settings
    settings: dict[str, profiles.Value] = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": False,  # the embedded broker refuses InitProducerId
        "KAFKA_GROUP_ID": s.kafka.group_id,
        "TOPIC_PROMPTS": s.topics.prompts,
        "TOPIC_DELTAS": s.topics.deltas,
        "TOPIC_COMPLETIONS": s.topics.completions,
        "TOPIC_ERRORS": s.topics.errors,
        "TOPIC_BATCHES": s.topics.batches,
        "TOPIC_PARTITIONS": s.topics.partitions,
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": stack.metrics_port,
    }
    if stack.emulator_url:
        settings |= {"ANTHROPIC_BASE_URL": stack.emulator_url, "ANTHROPIC_API_KEY": EMULATOR_API_KEY}
    comment = (
        f"Written by `claude-kafka dev` (pid {os.getpid()}); other claude-kafka commands use it while\n"
        "that process runs, below their flags, the environment and .env. Removed when it stops."
    )
    return profiles.write(profiles.DEV, settings, dev_pid=os.getpid(), comment=comment)


@dataclass(frozen=True, slots=True, kw_only=True)
class Banner:
    """What the start-up banner tells: plain values, so rendering is pure (and testable at 80 columns)."""

    took: float
    bootstrap: str
    broker_pid: int | None
    api: str
    emulated: bool
    group: str
    max_in_flight: int
    metrics_url: str
    prompts: str
    outputs: tuple[str, ...]
    batches: str
    logs_dir: Path
    profile: Path | None
    cli: str


def shown_path(path: Path) -> str:
    """``~/...`` for a path under the home directory: shorter, and the same on every machine."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def banner(b: Banner) -> list[tuple[str, str]]:
    """The banner's lines and styles; every line fits 80 columns with default names, so copied
    commands never wrap. The commands need no flags: they read the dev profile."""
    lines = [
        (f"claude-kafka dev is up in {b.took:.1f} s; Ctrl-C stops everything", "bold green"),
        (f"  Kafka bootstrap  {b.bootstrap}  (embedded Tansu, in memory, pid {b.broker_pid})", ""),
        (f"  Claude API       {b.api}", ""),
        (f"  service          group {b.group}, max {b.max_in_flight} prompts in flight", ""),
        (f"  metrics          {b.metrics_url}  (also /healthz, /readyz)", ""),
        (f"  topics in        {b.prompts}", ""),
        (f"  topics out       {', '.join(b.outputs)}", ""),
        (f"  batch hand-off   {b.batches}", ""),
        (f"  logs             {shown_path(b.logs_dir)}/ (service.log, broker.log)", ""),
    ]
    if b.profile is not None:
        lines.append((f"  profile          {shown_path(b.profile)}", ""))
    lines.append(
        ("From another terminal, nothing to set (the dev profile has it all):", "bold")
        if b.emulated
        else ("From another terminal (the dev profile has the broker; export the key):", "bold")
    )
    lines += [
        (f'  {b.cli} send "Write a haiku about Kafka" --wait', "cyan"),
        (f"  {b.cli} tail", "cyan"),
        (f"  {b.cli} tail --json | jq -c '{{kind, custom_id}}'", "cyan"),
        (f"  {b.cli} doctor", "cyan"),
    ]
    return lines


def _header(stack: DevStack, took: float, profile: Path | None) -> list[tuple[str, str]]:
    s = stack.settings
    api = (
        f"emulator {stack.emulator_url}, ttft {stack.options.ttft_ms:.0f} ms, "
        f"{stack.options.tokens_per_second:.0f} tokens/s"
        if stack.emulator_url
        else f"the real API ({s.anthropic.base_url or 'api.anthropic.com'}, key from ANTHROPIC_API_KEY)"
    )
    return banner(
        Banner(
            took=took,
            bootstrap=stack.bootstrap,
            broker_pid=stack.broker.pid,
            api=api,
            emulated=stack.emulator_url is not None,
            group=s.kafka.group_id,
            max_in_flight=s.pipeline.max_in_flight,
            metrics_url=stack.metrics_url,
            prompts=s.topics.prompts,
            outputs=s.topics.outputs(),
            batches=s.topics.batches,
            logs_dir=stack.state_dir,
            profile=profile,
            cli=command_prefix(),
        )
    )
