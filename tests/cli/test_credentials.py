"""Commands that call the Claude API refuse to start without credentials, in one line, unless on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.procs import Cli
from tests.ports import free_port

NOWHERE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # nothing listens: the command would wait for Kafka


@pytest.mark.parametrize(
    ("command", "env"),
    [
        (("run",), {}),
        (("run",), {"ANTHROPIC_BASE_URL": "https://api.anthropic.com"}),
        (("run",), {"ANTHROPIC_BASE_URL": "http://emulator:8765"}),  # a name: it may be anything
        (("run",), {"ANTHROPIC_API_KEY": ""}),
        (("batch", "status"), {}),
    ],
)
def test_no_key_and_no_token_exits_2_with_one_line(
    command: tuple[str, ...], env: dict[str, str], tmp_path: Path
) -> None:
    """No ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN off loopback: exit 2, one `claude-kafka:` line, no traceback."""
    cli = Cli(*command, cwd=tmp_path, env={**NOWHERE, **env})
    try:
        assert cli.finish(within=30) == 2
    finally:
        cli.kill()
    assert len(cli.lines) == 1, cli.output
    [line] = cli.lines
    assert line.startswith("claude-kafka: no Claude API credentials")
    assert "ANTHROPIC_API_KEY" in line and "ANTHROPIC_AUTH_TOKEN" in line and "hint:" in line


@pytest.mark.parametrize(
    "env",
    [
        {"ANTHROPIC_API_KEY": "sk-ant-test-key"},
        {"ANTHROPIC_AUTH_TOKEN": "a-bearer-token"},
        {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8765"},
        {"ANTHROPIC_BASE_URL": "http://localhost:8765"},
        {"ANTHROPIC_BASE_URL": "http://[::1]:8765"},
    ],
)
def test_a_key_a_token_or_a_loopback_api_lets_run_start(env: dict[str, str], tmp_path: Path) -> None:
    """With a key, a token, or an API on loopback (the emulator needs none), `run` starts and waits for Kafka."""
    port = str(free_port())
    cli = Cli("run", cwd=tmp_path, env={**NOWHERE, **env, "METRICS_PORT": port, "LOG_FORMAT": "json"})
    try:
        cli.wait_for(r"kafka not reachable, retrying")
        assert cli.process.poll() is None
    finally:
        cli.kill()
    assert "no Claude API credentials" not in cli.output
