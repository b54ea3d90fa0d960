"""``claude-kafka run`` with tracing asked for: one line when the [otel] extra is missing, a start otherwise."""

from __future__ import annotations

from pathlib import Path

from tests.cli.procs import Cli
from tests.ports import free_port

NOWHERE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:8765"}


def test_tracing_asked_for_without_the_sdk_exits_2_with_one_line(tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT set, the OpenTelemetry SDK not importable: exit 2, one line naming the extra."""
    hidden = tmp_path / "hide" / "opentelemetry" / "sdk"  # shadows the installed SDK, as if it were absent
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {
        **NOWHERE,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "PYTHONPATH": str(tmp_path / "hide"),
    }
    cli = Cli("run", cwd=tmp_path, env=env)
    try:
        assert cli.finish(within=30) == 2
    finally:
        cli.kill()
    assert len(cli.lines) == 1, cli.output
    assert cli.lines[0].startswith("claude-kafka: ") and "pip install 'claude-kafka[otel]'" in cli.lines[0]


def test_tracing_asked_for_with_the_sdk_starts_and_says_so(tmp_path: Path) -> None:
    """With the SDK installed, `run` logs `tracing on` with the exporter and goes on to wait for Kafka."""
    env = {
        **NOWHERE,
        "OTEL_TRACES_EXPORTER": "console",
        "METRICS_PORT": str(free_port()),
        "LOG_FORMAT": "json",
    }
    cli = Cli("run", cwd=tmp_path, env=env)
    try:
        cli.wait_for(r"kafka not reachable, retrying")
        assert cli.process.poll() is None
    finally:
        cli.kill()
    assert '"msg": "tracing on"' in cli.output and '"exporters": "console"' in cli.output
