"""``claude-kafka config``: print the effective settings, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import click

from service.cli import main
from service.cli.common import env_file_option, settings_or_exit
from service.settings import masked


@main.command()
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def config(env_file: Path, as_json: bool) -> None:
    """Print the effective settings (environment + .env), secrets masked.

    A bad value stops with one line per problem and exit code 2.

    \b
    Example:
      MAX_IN_FLIGHT=500 claude-kafka config
    """
    sections = masked(settings_or_exit(env_file))
    if as_json:
        click.echo(json.dumps(sections, indent=2, default=str))
        return
    for section, rows in sections.items():
        click.echo(f"[{section}]")
        for name, value in rows.items():
            click.echo(f"  {name}={'' if value is None else value}")
