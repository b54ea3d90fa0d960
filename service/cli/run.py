"""``claude-kafka run``: the service."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from service.cli import main
from service.cli.common import (
    bootstrap_option,
    env_file_option,
    kafka_overrides,
    require_credentials,
    settings_or_exit,
)


@main.command()
@bootstrap_option
@env_file_option
def run(bootstrap_servers: str | None, env_file: Path) -> None:
    """Consume prompts, stream Claude, publish deltas, completions and errors.

    Configured by environment variables (see `claude-kafka config`). SIGTERM or Ctrl-C drains:
    in-flight prompts finish within SHUTDOWN_GRACE_SECONDS, then offsets are committed; a second
    signal exits at once.

    \b
    Example:
      KAFKA_BOOTSTRAP_SERVERS=kafka:9092 ANTHROPIC_API_KEY=... claude-kafka run
    """
    from service import logs, tracing
    from service.runner import Runner
    from service.settings import secret_values

    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    require_credentials(settings)
    logs.configure(
        settings.observability.log_level, settings.observability.log_format, secret_values(settings)
    )

    # Off unless OTEL_* variables ask; a ConfigError (one line) when they do and the [otel] extra is missing.
    tracing.install(settings.pipeline.service_instance)

    async def serve() -> int:
        runner = Runner(settings)
        runner.install_signal_handlers()
        await runner.serve()
        return runner.exit_code  # EXIT_CRASHED after a background task crashed: restart me

    try:
        code = asyncio.run(serve())
    finally:
        tracing.shutdown()  # exports the spans still buffered
    sys.exit(code)
