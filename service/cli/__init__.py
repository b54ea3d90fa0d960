"""The ``claude-kafka`` command line: one click group, one module per command family.

The group is the error boundary (``failures.Boundary``): whatever a command lets out is shown as one
line with a hint, never a traceback (``--debug`` shows it too).
"""

from __future__ import annotations

import logging

import click

from service import __version__
from service.cli.common import PROFILE_KEY
from service.cli.failures import Boundary


@click.group(cls=Boundary, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="claude-kafka")
@click.option(
    "--profile",
    envvar="CLAUDE_KAFKA_PROFILE",
    default=None,
    metavar="NAME",
    help="Settings profile (~/.config/claude-kafka/profiles/NAME.toml) [env: CLAUDE_KAFKA_PROFILE; "
    "default: dev while `claude-kafka dev` runs].",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="CLAUDE_KAFKA_DEBUG",
    help="Show the traceback of a failure [env: CLAUDE_KAFKA_DEBUG].",
)
@click.pass_context
def main(ctx: click.Context, profile: str | None, debug: bool) -> None:
    """Claude on a Kafka bus: prompt events in; delta, completion and error events out.

    Settings, highest first: a command's flags, environment variables, .env, the active profile,
    the defaults (`claude-kafka config` prints them).

    \b
    Example:
      claude-kafka dev --demo        # whole stack on embedded defaults
    """
    ctx.meta[PROFILE_KEY] = profile
    # The CLI reports Kafka failures itself, in one line; aiokafka's own lines would come first.
    # `run`, `callbacks` and `dev` configure logging and lower this again (service.logs).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _register() -> None:
    # Imported for their side effect of adding commands to ``main``; kept in one place so the
    # list of commands is easy to read.
    from service.cli import (  # noqa: F401
        batch,
        broker,
        callbacks,
        config,
        dev,
        doctor,
        emulator,
        replay,
        run,
        send,
        tail,
        toolworker,
        topics,
    )


_register()
