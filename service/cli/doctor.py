"""``claude-kafka doctor``: check broker, topics, group, API key, models and metrics port in one list.

The probes here are the I/O edge, each bounded by ``PROBE_SECONDS`` so a stopped broker or API gives
a fast ✗; the verdicts and the rendering are pure (``checklist.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import sys
import typing
import urllib.request
from pathlib import Path

import click

from service.cli import checklist, main
from service.cli.checklist import Check
from service.cli.common import bootstrap_option, env_file_option, kafka_overrides, settings_or_exit
from service.kafka.clients import ClientError, TopicPartition, quiet_client_logs, reader
from service.kafka.committed import committed_positions
from service.kafka.topics import admin_client, cluster_topics, topic_specs
from service.settings import Settings

PROBE_SECONDS = 3.0


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_SECONDS:g}s"
    if isinstance(exc, ClientError):  # aiokafka's messages repeat the address and the socket tuple
        return type(exc).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text[:100]}" if text else type(exc).__name__


async def kafka_checks(settings: Settings) -> list[Check]:
    """Broker, topics and consumer group, through one admin client; later checks skip if the broker fails."""
    bootstrap = settings.kafka.bootstrap_servers
    specs = topic_specs(settings)
    group_name = f"group {settings.kafka.group_id}"
    admin = admin_client(settings, request_timeout_ms=int(PROBE_SECONDS * 1000))
    try:
        try:
            await asyncio.wait_for(admin.start(), PROBE_SECONDS)
            brokers = await asyncio.wait_for(admin.describe_cluster(), PROBE_SECONDS)
        except (TimeoutError, ClientError, OSError) as exc:
            why = "broker unreachable"
            return [
                checklist.broker(bootstrap, _why(exc)),
                *(checklist.skipped(f"topic {spec.name}", why) for spec in specs),
                checklist.skipped(group_name, why),
            ]
        out = [checklist.broker(bootstrap, None, len(brokers.get("brokers", ())))]
        try:
            states = await asyncio.wait_for(cluster_topics(admin, specs), PROBE_SECONDS)
        except Exception as exc:  # an answer we cannot read is a ✗, not a traceback
            out.append(checklist.failed("topics", _why(exc), "check the broker's logs"))
            states = {}
        else:
            out.extend(checklist.topics(specs, states, bootstrap))
        out.append(await _group_check(settings, admin, states.get(settings.topics.prompts)))
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return out


async def _group_check(settings: Settings, admin: typing.Any, prompts: typing.Any) -> Check:
    group_id = settings.kafka.group_id
    try:
        described = await asyncio.wait_for(admin.describe_consumer_groups([group_id]), PROBE_SECONDS)
        groups = [g for response in described for g in response.groups]
        state = groups[0][2] if groups and groups[0][0] == 0 else None
        members = len(groups[0][5]) if groups else 0
        lag = await asyncio.wait_for(_lag(settings, prompts.partitions), PROBE_SECONDS) if prompts else None
    except Exception as exc:  # e.g. an answer aiokafka cannot decode: a ✗
        return checklist.failed(f"group {group_id}", _why(exc), "check the broker's logs")
    return checklist.group(group_id, state, members, lag)


async def _lag(settings: Settings, partitions: int) -> dict[int, int]:
    """End offset minus committed offset per prompt partition (nothing committed: from 0).

    The end is the high watermark a fetch reports: the embedded broker's ``end_offsets()`` is the last
    batch's base offset + 1 (README, "Embedded broker"), so ``end_offsets()`` only positions the fetch.
    Committed offsets come from ``committed_positions`` (OffsetFetch without joining), not the admin
    client's ``list_consumer_group_offsets``, whose answer aiokafka cannot decode from that broker.
    """
    topic = settings.topics.prompts
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    committed = await committed_positions(settings.kafka, [(topic, p) for p in range(partitions)])
    consumer = reader(settings.kafka)
    try:
        await consumer.start()
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(ends[tp] - 1, 0))
        await consumer.getmany(*tps, timeout_ms=500, max_records=1)
        high = {tp.partition: max(consumer.highwater(tp) or 0, ends[tp]) for tp in tps}
    finally:
        await consumer.stop()
    return {p: max(high[p] - committed.get((topic, p), 0), 0) for p in high}


async def api_check(settings: Settings) -> Check:
    import anthropic  # loaded by run_checks before any probe's clock starts

    from service.sdkclient import build_client

    base_url = settings.anthropic.base_url or "https://api.anthropic.com"
    if settings.anthropic.missing_credentials():
        fix = "export ANTHROPIC_API_KEY=sk-ant-... (or ANTHROPIC_AUTH_TOKEN)"
        return checklist.api_key(base_url, "neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN is set", fix)
    # The same factory as `run`: the same credentials, base URL and HTTP transport.
    client = build_client(settings.anthropic, connections=1, probe_seconds=PROBE_SECONDS)
    try:
        await client.models.list(limit=1)
    except anthropic.AuthenticationError:
        return checklist.api_key(base_url, f"rejected by {base_url} (401)", "set a valid ANTHROPIC_API_KEY")
    except anthropic.PermissionDeniedError:
        return checklist.api_key(base_url, f"not allowed by {base_url} (403)", "check the key's workspace")
    except anthropic.APIStatusError as exc:
        return checklist.api_key(base_url, f"{base_url} answered {exc.status_code}", "run doctor again later")
    except (anthropic.APIConnectionError, anthropic.APITimeoutError) as exc:
        fix = "check ANTHROPIC_BASE_URL (in dev: the emulator `claude-kafka dev` prints)"
        return checklist.api_key(base_url, f"cannot reach {base_url}: {type(exc).__name__}", fix)
    finally:
        await client.close()
    return checklist.api_key(base_url, None)


def model_checks(settings: Settings) -> list[Check]:
    from schemas.models import DEFAULT_MODEL
    from service.models import RETIRED, lifecycle, retires_on

    chosen = [("default", DEFAULT_MODEL), *(("allowed", model) for model in settings.pipeline.allowed_models)]
    ids = {model for _, model in chosen}
    stage = {model: lifecycle(model) for model in ids}
    retires = {model: RETIRED.get(model) or retires_on(model) for model in ids}
    return checklist.models(chosen, stage, retires, DEFAULT_MODEL)


def port_check(settings: Settings) -> Check:
    host, port = settings.observability.metrics_host, settings.observability.metrics_port
    if port == 0:
        return checklist.metrics_port(host, port, False, None)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return checklist.failed("metrics port", f"{host}:{port}: {exc.strerror}", "set METRICS_HOST")
        else:
            return checklist.metrics_port(host, port, False, None)
    return checklist.metrics_port(host, port, True, _readyz(port))


def _readyz(port: int) -> str | None:
    """The reason a claude-kafka on ``port`` gives at /readyz, or ``None`` if something else is there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(ValueError):
            body = json.loads(exc.read())
            return str(body.get("reason", "not ready"))
        return None
    except (OSError, ValueError):
        return None
    return str(body.get("reason", "ok")) if isinstance(body, dict) else None


async def run_checks(settings: Settings) -> list[Check]:
    # The SDK is imported here, not at the top (every CLI command imports this module), and before
    # the probes start: its import takes seconds on a busy machine and would block the event loop
    # while the broker probe's timeout runs, turning a healthy broker into a ✗.
    import anthropic  # noqa: F401

    quiet_client_logs()
    kafka, api = await asyncio.gather(kafka_checks(settings), api_check(settings))
    return [*kafka, api, *model_checks(settings), port_check(settings)]


@main.command()
@bootstrap_option
@env_file_option
def doctor(bootstrap_servers: str | None, env_file: Path) -> None:
    """Check everything `claude-kafka run` needs; exit 0 if all pass, 1 if any fails.

    \b
    Checks: broker reachable; topics present with their partitions and configs; consumer group state
    and lag; API key accepted (models.list); default and allowed models current; metrics port free.

    \b
    Example:
      claude-kafka doctor -b kafka:9092
    """
    settings = settings_or_exit(env_file, kafka=kafka_overrides(bootstrap_servers))
    checks = asyncio.run(run_checks(settings))
    for line in checklist.render(checks):
        click.echo(line)
    sys.exit(1 if any(check.status is checklist.Status.FAIL for check in checks) else 0)
