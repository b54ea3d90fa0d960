"""The CLI's one error boundary: every exception a command lets out becomes one line and an exit code.

    known failure   ``claude-kafka: <what> (hint: <the flag or setting to change>)``, exit 2
    Ctrl-C          ``claude-kafka: interrupted``, exit 130
    anything else   ``claude-kafka: unexpected <Type>: <first line> (hint: run with --debug ...)``, exit 1

``--debug`` (or ``CLAUDE_KAFKA_DEBUG=1``) prints the traceback first; the line and the exit code stay
the same. :func:`explain` is the table from exception to failure: pure, tested case by case; the
click group :class:`Boundary` is the adapter that applies it around every command. click's own usage
errors, ``sys.exit`` and ``click.exceptions.Exit`` pass through untouched.
"""

from __future__ import annotations

import errno
import json
import re
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from service.cli.common import EXIT_CONFIG, EXIT_INTERRUPTED, SETTINGS_KEY, CliFailure
from service.errors import ClaudeError, ConfigError
from service.errors import KafkaError as ServiceKafkaError

EXIT_UNEXPECTED = 1
DEBUG_HINT = "run `claude-kafka --debug ...` (or set CLAUDE_KAFKA_DEBUG=1) for the traceback"
BROKER_HINT = "start one (`claude-kafka dev`), or pass -b HOST:PORT / set KAFKA_BOOTSTRAP_SERVERS"
CONFIG_HINT = "change it in the environment, .env or the profile; `claude-kafka config` shows the values"
# Commands whose listening port is a flag; the others listen on METRICS_PORT.
PORT_FLAGS = {"emulator": "--port", "broker": "--port", "dev": "--port / --metrics-port"}


@dataclass(frozen=True, slots=True)
class Where:
    """What the boundary knows about the failed command: its name, its parameters, the addresses."""

    command: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)  # parameter name -> its flag, e.g. --file
    bootstrap: str | None = None
    api_url: str | None = None

    def flag_for(self, filename: str | None) -> str | None:
        """The option whose value named ``filename`` (``--file x``, ``--json @x``), if any."""
        if not filename:
            return None
        for name, value in self.params.items():
            if isinstance(value, str | Path) and str(value) in (filename, f"@{filename}"):
                return self.options.get(name)
        return None


def explain(exc: BaseException, where: Where) -> CliFailure:
    """The one-line failure for ``exc``; an unknown exception gives the ``--debug`` line."""
    if isinstance(exc, CliFailure):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return CliFailure("interrupted", exit_code=EXIT_INTERRUPTED)
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return explain(exc.exceptions[0], where)  # the first cause; the others usually follow from it
    known = _kafka(exc, where) or _claude(exc, where) or _local(exc, where)
    if known is not None:
        return known
    cause = exc.__cause__
    if cause is not None and cause is not exc:
        found = explain(cause, where)
        if found.exit_code != EXIT_UNEXPECTED:
            return found
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    what = f"unexpected {type(exc).__name__}" + (f": {first}" if first else "")
    return CliFailure(what, hint=DEBUG_HINT, exit_code=EXIT_UNEXPECTED)


def _kafka(exc: BaseException, where: Where) -> CliFailure | None:
    from service.kafka.failures import classify

    at = where.bootstrap or "the configured brokers"
    kind = classify(exc)
    if kind == "missing_topic":
        return CliFailure(
            f"a topic does not exist on {at}",
            hint="create them with `claude-kafka topics create`, or set TOPIC_* to the existing names",
        )
    if kind == "unreachable":
        return CliFailure(f"cannot reach Kafka at {at} ({type(exc).__name__})", hint=BROKER_HINT)
    if kind == "refused":
        return CliFailure(
            f"Kafka at {at} refused us ({type(exc).__name__})",
            hint="check KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME/PASSWORD and ACLs",
        )
    if kind == "rejected":
        # The embedded broker answers UnknownError to what it does not support (InitProducerId for an
        # idempotent producer, most often: the real-cluster settings against the dev broker).
        return CliFailure(
            f"Kafka at {at} refused the request ({type(exc).__name__})",
            hint="on the embedded broker set KAFKA_ENABLE_IDEMPOTENCE=false and "
            "KAFKA_SECURITY_PROTOCOL=PLAINTEXT; `claude-kafka doctor` checks the rest",
        )
    if isinstance(exc, ServiceKafkaError):
        return CliFailure(f"Kafka at {at}: {exc.message}", hint=BROKER_HINT)
    return None


def _claude(exc: BaseException, where: Where) -> CliFailure | None:
    api = where.api_url or "https://api.anthropic.com"
    key_hint = "export ANTHROPIC_API_KEY=sk-ant-... (or ANTHROPIC_AUTH_TOKEN)"
    if isinstance(exc, TypeError) and "Could not resolve authentication method" in str(exc):
        return CliFailure("no Claude API credentials", hint=key_hint)
    if isinstance(exc, ClaudeError):
        hint = key_hint if exc.status in (401, 403) else "check ANTHROPIC_BASE_URL, or try again later"
        return CliFailure(f"the Claude API at {api} failed: {exc.message}", hint=hint)
    anthropic = sys.modules.get("anthropic")  # not imported: the exception cannot be one of its own
    if anthropic is None:
        return None
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        refused = f"the Claude API at {api} refused the credentials ({exc.status_code})"
        return CliFailure(refused, hint=key_hint)
    if isinstance(exc, anthropic.APIConnectionError):  # timeouts are a kind of connection error
        return CliFailure(
            f"cannot reach the Claude API at {api} ({type(exc).__name__})",
            hint="check ANTHROPIC_BASE_URL (in dev: the emulator address `claude-kafka dev` prints)",
        )
    if isinstance(exc, anthropic.APIStatusError):
        return CliFailure(f"the Claude API at {api} answered {exc.status_code}", hint="try again later")
    return None


def _local(exc: BaseException, where: Where) -> CliFailure | None:
    if isinstance(exc, ConfigError):
        return CliFailure(f"invalid setting: {'; '.join(exc.problems)}", hint=CONFIG_HINT)
    if isinstance(exc, json.JSONDecodeError):
        return CliFailure(f"not valid JSON: {exc}", hint="check the JSON document given to the command")
    if isinstance(exc, UnicodeDecodeError):
        return CliFailure("a file given is not UTF-8 text", hint="check the paths given to the command")
    if isinstance(exc, OSError):
        return _os(exc, where)
    return None


def _os(exc: OSError, where: Where) -> CliFailure | None:
    if exc.errno == errno.EADDRINUSE:
        found = re.search(r"\('?([^',]*)'?, (\d+)", str(exc))
        address = f"{found.group(1)}:{found.group(2)}" if found else "the address"
        flag = PORT_FLAGS.get(where.command, "METRICS_PORT (0 turns the listener off)")
        return CliFailure(
            f"cannot listen on {address}: address already in use",
            hint=f"another process (a second claude-kafka, `claude-kafka dev`?) holds it; change {flag}",
        )
    filename = exc.filename if isinstance(exc.filename, str) else None
    if filename is not None or isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        given = where.flag_for(filename)
        reason = (exc.strerror or type(exc).__name__).lower()
        return CliFailure(
            f"cannot read {filename or 'a file'}: {reason}",
            hint=f"check the path given to {given}" if given else "check the path",
        )
    return None


class Recorded(click.Command):
    """A command that leaves its name and parameters in ``ctx.meta`` (shared by nested contexts), so
    the boundary can name the flag behind a failure."""

    def invoke(self, ctx: click.Context) -> Any:
        _remember(ctx)
        return super().invoke(ctx)


class Boundary(click.Group):
    """The root group (and, through ``group_class``, every subgroup): commands run inside :func:`explain`."""

    command_class = Recorded
    group_class = type

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliFailure as failure:
            raise _with_hint(failure, ctx) from failure.__cause__
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            debug = ctx.find_root().params.get("debug")
            if debug and not isinstance(exc, KeyboardInterrupt):
                traceback.print_exception(exc, file=sys.stderr)
            raise _with_hint(explain(exc, _where(ctx.meta)), ctx) from None


def _with_hint(failure: CliFailure, ctx: click.Context) -> CliFailure:
    """Every failure line names where to look next: a bare one points at the command's --help."""
    path = ctx.meta.get("claude_kafka.path")
    if failure.hint is None and failure.exit_code == EXIT_CONFIG and path:
        failure.hint = f"see `{path} --help`"
    return failure


def _remember(ctx: click.Context) -> None:
    ctx.meta["claude_kafka.command"] = ctx.info_name or ""
    ctx.meta["claude_kafka.path"] = ctx.command_path
    ctx.meta["claude_kafka.params"] = dict(ctx.params)
    ctx.meta["claude_kafka.options"] = {
        p.name: p.opts[0] for p in ctx.command.params if isinstance(p, click.Option) and p.name
    }


def _where(meta: Mapping[str, Any]) -> Where:
    settings = meta.get(SETTINGS_KEY)
    return Where(
        command=meta.get("claude_kafka.command", ""),
        params=meta.get("claude_kafka.params", {}),
        options=meta.get("claude_kafka.options", {}),
        bootstrap=settings.kafka.bootstrap_servers if settings is not None else None,
        api_url=settings.anthropic.base_url if settings is not None else None,
    )
