"""``claude-kafka topics``: create the configured topics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from service.cli import main
from service.cli.common import bootstrap_option, env_file_option, kafka_overrides, settings_or_exit


@main.group()
def topics() -> None:
    """Manage the service's Kafka topics."""


@topics.command("create")
@click.option("--partitions", type=int, default=None, help="Overrides TOPIC_PARTITIONS.")
@bootstrap_option
@env_file_option
def create(partitions: int | None, bootstrap_servers: str | None, env_file: Path) -> None:
    """Create every configured topic (the batches topic compacted). Safe to run again.

    \b
    Example:
      claude-kafka topics create --partitions 12 -b kafka:9092
    """
    from service.kafka.topics import create_topics

    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    for topic, outcome in asyncio.run(create_topics(settings, partitions)).items():
        click.echo(f"{topic}: {outcome}")
