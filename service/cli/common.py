"""Helpers shared by CLI commands: settings loading with readable failures, running coroutines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from service import profiles
from service.errors import ConfigError
from service.settings import Settings, load_settings

EXIT_CONFIG = 2
SETTINGS_KEY = "claude_kafka.settings"  # ctx.meta: the settings a command loaded (addresses for hints)
PROFILE_KEY = "claude_kafka.profile"  # ctx.meta: the --profile the root group was given


def active_profile() -> profiles.Profile | None:
    """The profile this invocation uses: ``--profile``/``CLAUDE_KAFKA_PROFILE``, else a live dev one."""
    ctx = click.get_current_context(silent=True)
    name = ctx.meta.get(PROFILE_KEY) if ctx is not None else None
    try:
        return profiles.active(name)
    except ConfigError as exc:
        raise CliFailure(
            exc.message, hint="fix or delete that file, or pass --profile NAME / set CLAUDE_KAFKA_PROFILE"
        ) from None


def settings_or_exit(env_file: Path | str | None = ".env", **overrides: dict[str, Any]) -> Settings:
    """Load settings (flags > environment > .env > active profile > defaults); a bad value is one line
    naming every bad setting, exit 2."""
    profile = active_profile()
    try:
        settings = load_settings(env_file, profile=profile, **overrides)
    except ConfigError as exc:
        where = f"; profile {profile.name} ({profile.path}) is active" if profile is not None else ""
        raise CliFailure(
            f"invalid setting: {'; '.join(exc.problems)}",
            hint=f"change it in the environment, .env or the profile{where}",
        ) from None
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[SETTINGS_KEY] = settings
    return settings


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
