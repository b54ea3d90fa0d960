"""The error boundary's table (``explain``) and the click group that applies it, in process."""

from __future__ import annotations

import asyncio
import errno
import json
from pathlib import Path

import click
import pytest
from aiokafka.errors import KafkaConnectionError, UnknownError, UnknownTopicOrPartitionError
from click.testing import CliRunner

from service.cli.common import CliFailure
from service.cli.failures import EXIT_UNEXPECTED, Boundary, Where, explain
from service.errors import ConfigError

HERE = Where(command="send", params={"file": Path("q.txt"), "raw_json": "@p.json"},
             options={"file": "--file", "raw_json": "--json"}, bootstrap="kafka:9092")  # fmt: skip


def _json_error() -> json.JSONDecodeError:
    try:
        json.loads("{nope")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "what", "hint", "code"),
    [
        (KafkaConnectionError("Unable to bootstrap"), "cannot reach Kafka at kafka:9092", "-b HOST:PORT", 2),
        (
            UnknownError(),
            "Kafka at kafka:9092 refused the request (UnknownError)",
            "KAFKA_ENABLE_IDEMPOTENCE",
            2,
        ),
        (UnknownTopicOrPartitionError(), "a topic does not exist on kafka:9092", "topics create", 2),
        (
            TypeError("Could not resolve authentication method. Expected ..."),
            "no Claude API credentials",
            "ANTHROPIC_API_KEY",
            2,
        ),
        (
            OSError(
                errno.EADDRINUSE,
                "error while attempting to bind on address ('0.0.0.0', 9464): address in use",
            ),
            "cannot listen on 0.0.0.0:9464: address already in use",
            "METRICS_PORT",
            2,
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "q.txt"),
            "cannot read q.txt: no such file or directory",
            "--file",
            2,
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "p.json"),
            "cannot read p.json",
            "--json",
            2,
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "other"),
            "cannot read other",
            "the path",
            2,
        ),
        (_json_error(), "not valid JSON", "JSON", 2),
        (
            ConfigError("x", problems=["MAX_IN_FLIGHT: bad", "LOG_LEVEL: bad"]),
            "invalid setting: MAX_IN_FLIGHT: bad; LOG_LEVEL: bad",
            "claude-kafka config",
            2,
        ),
        (ExceptionGroup("g", [KafkaConnectionError("x")]), "cannot reach Kafka", "-b", 2),
        (KeyboardInterrupt(), "interrupted", None, 130),
        (RuntimeError("boom\nmore"), "unexpected RuntimeError: boom", "--debug", EXIT_UNEXPECTED),
    ],
)
def test_explain_turns_each_known_failure_into_one_line_with_a_hint(
    exc: BaseException, what: str, hint: str | None, code: int
) -> None:
    """Each failure maps to its message, a hint naming what to change, and its exit code."""
    failure = explain(exc, HERE)
    assert what in failure.message and "\n" not in failure.message
    assert (hint is None and failure.hint is None) or (hint is not None and hint in (failure.hint or ""))
    assert failure.exit_code == code


def test_a_wrapped_known_cause_is_explained_by_the_cause() -> None:
    """An unknown exception raised from a known one is explained as the known one."""
    try:
        try:
            raise KafkaConnectionError("x")
        except KafkaConnectionError as inner:
            raise RuntimeError("wrapper") from inner
    except RuntimeError as outer:
        assert explain(outer, HERE).message.startswith("cannot reach Kafka")


def _group(raise_: BaseException) -> click.Group:
    @click.group(cls=Boundary)
    @click.option("--debug", is_flag=True, envvar="CLAUDE_KAFKA_DEBUG")
    def root(debug: bool) -> None:
        pass

    @root.command()
    def boom() -> None:
        async def fail() -> None:
            raise raise_

        asyncio.run(fail())

    @root.command()
    @click.option("--count", type=int, required=True)
    def usage(count: int) -> None:
        pass

    return root


@pytest.mark.parametrize(
    ("exc", "args", "env", "code", "line", "traceback"),
    [
        (
            RuntimeError("boom"),
            ["boom"],
            {},
            1,
            "claude-kafka: unexpected RuntimeError: boom (hint: run",
            False,
        ),
        (
            RuntimeError("boom"),
            ["--debug", "boom"],
            {},
            1,
            "claude-kafka: unexpected RuntimeError: boom",
            True,
        ),
        (RuntimeError("boom"), ["boom"], {"CLAUDE_KAFKA_DEBUG": "1"}, 1, "claude-kafka: unexpected", True),
        (KeyboardInterrupt(), ["boom"], {}, 130, "claude-kafka: interrupted", False),
        (KafkaConnectionError("x"), ["boom"], {}, 2, "claude-kafka: cannot reach Kafka", False),
        (CliFailure("said", hint="do"), ["boom"], {}, 2, "claude-kafka: said (hint: do)", False),
    ],
)
def test_the_boundary_prints_one_line_inside_asyncio_run(
    exc: BaseException, args: list[str], env: dict[str, str], code: int, line: str, traceback: bool
) -> None:
    """Raised inside asyncio.run: one line on stderr and the exit code; the traceback only with --debug."""
    result = CliRunner().invoke(_group(exc), args, env=env)
    assert result.exit_code == code, result.output
    assert result.stderr.strip().splitlines()[-1].startswith(line), result.stderr
    assert ("Traceback" in result.stderr) is traceback, result.stderr
    if not traceback:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_clicks_usage_errors_keep_their_message_and_exit_2() -> None:
    """A missing required option is still click's own usage error."""
    result = CliRunner().invoke(_group(RuntimeError()), ["usage"])
    assert result.exit_code == 2
    assert "Error: Missing option '--count'." in result.stderr
