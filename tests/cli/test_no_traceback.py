"""Every command, through every mistake a user makes, ends in one `claude-kafka:` line with a hint, exit 2.

Each case is a real subprocess (``tests/cli/procs.py``). Nothing here needs a broker except the
missing-topic cases: an unreachable broker is 127.0.0.1:1, where nothing listens.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.procs import Cli

NOWHERE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
LOOPBACK_API = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}  # needs no key, so the key is not the mistake
UNREACHABLE = "cannot reach Kafka at 127.0.0.1:1"
BAD = {"MAX_IN_FLIGHT": "-3"}
EMPTY = {"KAFKA_BOOTSTRAP_SERVERS": ""}
PORT = "{port}"  # replaced by a port a listener of the test holds

# (command line, environment, what the line says)
CASES: list[tuple[tuple[str, ...], dict[str, str], str]] = [
    # broker unreachable
    (("topics", "create"), NOWHERE, UNREACHABLE),
    (("topics", "create", "-b", "127.0.0.1:1"), {}, UNREACHABLE),
    (("send", "hi"), NOWHERE, UNREACHABLE),
    (("send", "hi", "-b", "127.0.0.1:1", "--wait"), {}, UNREACHABLE),
    (("tail",), NOWHERE, UNREACHABLE),
    (("tail", "--json"), NOWHERE, UNREACHABLE),
    (("batch", "submit", "good.jsonl", "--no-wait"), NOWHERE, "127.0.0.1:1"),
    (("batch", "status"), NOWHERE | LOOPBACK_API, "127.0.0.1:1"),
    (("replay",), NOWHERE, UNREACHABLE),
    (("replay", "--dry-run"), NOWHERE, UNREACHABLE),
    (("tool-worker",), NOWHERE, UNREACHABLE),
    (("send", "--loop", "hi"), NOWHERE, UNREACHABLE),
    (("tool-worker", "--tools", "nope"), NOWHERE, "--tools: unknown tool nope"),
    (("send", "hi", "--reset-session"), NOWHERE, "--reset-session needs --session ID"),
    (("send", "hi", "--session", "no spaces"), NOWHERE, "invalid prompt: session.id"),
    # file missing
    (("send", "--file", "missing.txt"), NOWHERE, "cannot read missing.txt: no such file"),
    (("send", "--json", "@missing.json"), NOWHERE, "cannot read missing.json: no such file"),
    (("config",), {"PRICES_FILE": "missing.json"}, "PRICES_FILE: cannot read missing.json"),
    # bad JSON
    (("send", "--json", "{not json"), NOWHERE, "--json is not valid JSON"),
    (("send", "--json", "@bad.json"), NOWHERE, "--json is not valid JSON"),
    (("config",), {"PRICES_FILE": "bad.json"}, "invalid setting: PRICES_FILE"),
    # bad setting
    *(
        (command, BAD, "invalid setting: MAX_IN_FLIGHT")
        for command in [
            ("run",),
            ("send", "hi"),
            ("tail",),
            ("batch", "status"),
            ("batch", "submit", "good.jsonl"),
            ("topics", "create"),
            ("doctor",),
            ("replay",),
            ("callbacks",),
            ("tool-worker",),
            ("config",),
            ("dev", "--port", "0", "--metrics-port", "0"),
        ]
    ),
    # empty KAFKA_BOOTSTRAP_SERVERS: refused, not retried forever
    *(
        (command, EMPTY, "KAFKA_BOOTSTRAP_SERVERS: empty")
        for command in [
            ("run",),
            ("send", "hi"),
            ("tail",),
            ("batch", "status"),
            ("topics", "create"),
            ("doctor",),
            ("replay",),
            ("callbacks",),
            ("config",),
        ]
    ),
    (("send", "hi"), {"KAFKA_BOOTSTRAP_SERVERS": "kafka:port"}, "is not HOST:PORT"),
    # port in use
    (
        ("run",),
        NOWHERE | LOOPBACK_API | {"METRICS_PORT": PORT, "METRICS_HOST": "127.0.0.1"},
        "address already in use",
    ),
    (("emulator", "--port", PORT), {}, "address already in use"),
    (("broker", "--port", PORT), {}, "address already in use"),
    (("dev", "--port", PORT, "--metrics-port", "0"), {}, "address already in use"),
    (("dev", "--port", "0", "--metrics-port", PORT), {}, "address already in use"),
    # no key (the API is not on loopback)
    (("run",), NOWHERE, "no Claude API credentials"),
    (("batch", "status"), NOWHERE, "no Claude API credentials"),
    # profiles
    (("--profile", "nope", "config"), {}, "profile nope: no file"),
    (("send", "hi"), {"CLAUDE_KAFKA_PROFILE": "nope"}, "profile nope: no file"),
    (("--profile", "broken", "doctor"), {}, "is not valid TOML"),
    (("--profile", "typo", "send", "hi"), {}, "unknown setting KAFKA_BOOTSTRAP_SERVER"),
    (("--profile", "stale", "tail"), {}, "which has stopped"),
]


def case_id(case: tuple[tuple[str, ...], dict[str, str], str]) -> str:
    command, env, _ = case
    return " ".join(command) + ("|" + ",".join(f"{k}={v}" for k, v in env.items()) if env else "")


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    """A port something else listens on (what a running `claude-kafka dev` or a second `run` meets)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def workdir(tmp_path: Path) -> Path:
    """The files the cases name, and profiles (a broken one, one with a typo, a stale dev one)."""
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    line = '{"custom_id": "b1", "params": {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}}'
    (tmp_path / "good.jsonl").write_text(line + "\n", encoding="utf-8")
    folder = tmp_path / ".config" / "claude-kafka" / "profiles"
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text("[settings\n", encoding="utf-8")
    (folder / "typo.toml").write_text('[settings]\nKAFKA_BOOTSTRAP_SERVER = "x:1"\n', encoding="utf-8")
    (folder / "stale.toml").write_text(f"dev_pid = {dead_pid()}\n[settings]\n", encoding="utf-8")
    return tmp_path


def dead_pid() -> int:
    """A pid no process has: one past the kernel's limit."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1 if Path("/proc").is_dir() else 2**22 + 1


@pytest.mark.parametrize(("command", "env", "what"), CASES, ids=[case_id(c) for c in CASES])
def test_every_mistake_is_one_line_with_a_hint_and_exit_2(
    command: tuple[str, ...], env: dict[str, str], what: str, taken_port: int, tmp_path: Path
) -> None:
    """The mistake gives exactly one `claude-kafka:` line naming it, with a hint, exit 2, no traceback or leak."""
    args = tuple(arg.replace(PORT, str(taken_port)) for arg in command)
    env = {k: v.replace(PORT, str(taken_port)) for k, v in env.items()}
    cli = Cli(*args, cwd=workdir(tmp_path), env=env)
    try:
        code = cli.finish(within=60)
    finally:
        cli.kill()
    out = cli.output
    assert "Traceback" not in out, out
    assert "Unclosed" not in out, out  # a client built before the failure is closed, not leaked
    lines = [line for line in cli.lines if line.startswith("claude-kafka:")]
    assert len(lines) == 1, out
    assert what in lines[0] and "(hint: " in lines[0], out
    assert code == 2, out


def test_a_missing_file_argument_is_clicks_usage_error(tmp_path: Path) -> None:
    """A missing FILE argument stays click's own usage error: its message, exit 2, no traceback."""
    cli = Cli("batch", "submit", "missing.jsonl", cwd=tmp_path, env=NOWHERE)
    try:
        code = cli.finish(within=30)
    finally:
        cli.kill()
    assert code == 2 and "Traceback" not in cli.output
    assert "Error: Invalid value for 'FILE': File 'missing.jsonl' does not exist." in cli.output


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "topic_setting"),
    [
        (("send", "hi", "--wait"), "TOPIC_DELTAS"),
        (("tail",), "TOPIC_COMPLETIONS"),
        (("replay",), "TOPIC_ERRORS"),
    ],
)
def test_a_missing_topic_is_one_line_naming_topics_create(
    command: tuple[str, ...], topic_setting: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A topic that does not exist on a reachable broker: one line naming it, a hint, exit 2."""
    missing = f"missing-{os.getpid()}-{tmp_path.name}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        topic_setting: missing,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
    }
    cli = Cli(*command, cwd=tmp_path, env=env)
    try:
        code = cli.finish(within=60)
    finally:
        cli.kill()
    assert "Traceback" not in cli.output
    [line] = [line for line in cli.lines if line.startswith("claude-kafka:")]
    # The broker has other tests' topics, not the default names: the first one missing is named.
    assert re.search(r"topic \S+ does not exist", line) and "(hint: " in line, cli.output
    assert code == 2


def test_ctrl_c_inside_a_command_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """SIGINT while a command waits inside asyncio.run: `claude-kafka: interrupted`, exit 130, no traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(30)
        cli = Cli("topics", "create", "-b", f"127.0.0.1:{silent.getsockname()[1]}", cwd=tmp_path)
        try:
            connection, _ = silent.accept()  # the command is inside asyncio.run, waiting for an answer
            with connection:
                cli.interrupt()
                code = cli.finish(within=30)
        finally:
            cli.kill()
    assert "Traceback" not in cli.output
    assert cli.lines == ["claude-kafka: interrupted"], cli.output
    assert code == 130
