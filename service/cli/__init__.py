"""The ``claude-kafka`` command line: one click group, one module per command family."""

from __future__ import annotations

import click

from service import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="claude-kafka")
def main() -> None:
    """Claude on a Kafka bus: prompt events in; delta, completion and error events out.

    \b
    Example:
      claude-kafka dev --demo        # whole stack on embedded defaults
    """


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
        topics,
    )


_register()
