"""``claude-kafka callbacks``: deliver final outcomes to the callback URLs prompts ask for."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from service.cli import main
from service.cli.common import bootstrap_option, env_file_option, kafka_overrides, settings_or_exit


@main.command()
@bootstrap_option
@env_file_option
def callbacks(bootstrap_servers: str | None, env_file: Path) -> None:
    """POST completion and error events to the prompts' callback URLs, signed (Standard Webhooks).

    A consumer group of its own (CALLBACK_GROUP_ID) on the completion and error topics, so a slow or
    dead receiver never holds up `claude-kafka run`. Off unless CALLBACK_ALLOWED_HOSTS lists hosts;
    CALLBACK_SIGNING_SECRET is required. See the README, section Callbacks.

    \b
    Example:
      CALLBACK_ALLOWED_HOSTS='*.acme.example' CALLBACK_SIGNING_SECRET=whsec_... claude-kafka callbacks
    """
    from service import logs
    from service.callbacks.runner import CallbacksRunner

    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    logs.configure(settings.observability.log_level, settings.observability.log_format)

    async def serve() -> int:
        runner = CallbacksRunner(settings)
        runner.install_signal_handlers()
        await runner.serve()
        return runner.exit_code  # EXIT_CRASHED after a background task crashed: restart me

    sys.exit(asyncio.run(serve()))  # a ConfigError (no hosts, no secret) is one line at the CLI's boundary
