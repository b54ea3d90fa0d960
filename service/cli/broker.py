"""``claude-kafka broker``: the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import signal
import sys
import threading

import click

from service.cli import main
from service.devbroker import EmbeddedBroker


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9092, show_default=True, help="Kafka listener port.")
def broker(host: str, port: int) -> None:
    """Run the embedded broker (Tansu, in-memory) until Ctrl-C or SIGTERM.

    \b
    Example:
      claude-kafka broker --port 9092
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(host, port) as embedded:
        click.echo(f"embedded broker listening on {embedded.bootstrap} (in-memory; Ctrl-C stops)")
        try:
            while not stop.wait(0.5):
                if embedded._process is not None and embedded._process.poll() is not None:
                    click.echo("embedded broker exited", err=True)
                    sys.exit(1)
        except KeyboardInterrupt:
            pass
    click.echo("embedded broker stopped")
