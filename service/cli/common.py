"""Helpers shared by CLI commands: settings loading with readable failures, running coroutines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from service.errors import ConfigError
from service.settings import Settings, load_settings

EXIT_CONFIG = 2


def settings_or_exit(env_file: Path | str | None = ".env", **overrides: dict[str, Any]) -> Settings:
    """Load settings; on a bad value print one line per problem (no traceback) and exit 2."""
    try:
        return load_settings(env_file, **overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"claude-kafka: invalid setting: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


env_file_option = click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="Optional dotenv file read after the environment.",
)
bootstrap_option = click.option(
    "--bootstrap-servers", "-b", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS."
)


def kafka_overrides(bootstrap_servers: str | None) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap_servers} if bootstrap_servers else {}


EXIT_ERROR_EVENT = 1
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130


class CliFailure(click.ClickException):
    """A failure shown as one readable line with a hint, and an exit code scripts can rely on."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.hint = hint
        # click declares exit_code per class; one failure type with a per-instance code reads better.
        setattr(self, "exit_code", exit_code)  # noqa: B010

    def show(self, file: Any = None) -> None:
        hint = f" (hint: {self.hint})" if self.hint else ""
        click.secho(f"claude-kafka: {self.message}{hint}", err=True, fg="red")


def require_credentials(settings: Settings) -> None:
    """Refuse to start what calls the Claude API without a key or token (unless it is on loopback).

    Without one the SDK fails every request client-side ("Could not resolve authentication method"),
    so a service would look ready and turn every prompt into an error.
    """
    if settings.anthropic.missing_credentials():
        raise CliFailure(
            "no Claude API credentials: ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN are both unset",
            hint="export ANTHROPIC_API_KEY=sk-ant-... (or ANTHROPIC_AUTH_TOKEN), or point "
            "ANTHROPIC_BASE_URL at a local emulator (`claude-kafka emulator`), which needs none",
        )
