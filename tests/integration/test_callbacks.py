"""Callbacks end to end: the pipeline and the dispatcher as processes, the emulator, a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.kafka.topics import create_topics
from service.settings import Settings, load_settings
from tests.integration.callback_helpers import (
    SECRET,
    CallbacksProcess,
    Receiver,
    prompt_with_callback,
    verify_standard_webhook,
)
from tests.kafkautil import Collector, Record, committed_offsets, produce
from tests.services import EmulatorProcess, ServiceProcess
from tests.waiting import until

pytestmark = pytest.mark.integration

BACKOFF = 0.3


@dataclass
class Stack:
    settings: Settings
    receiver: Receiver
    collector: Collector

    async def send(self, *records: tuple[bytes, bytes]) -> None:
        await produce(self.settings, self.settings.topics.prompts, records)

    def finals(self, custom_id: str) -> list[dict[str, Any]]:
        topics = self.settings.topics
        return [
            r.json() | {"_topic": r.topic}
            for r in self.collector.records
            if r.topic in (topics.completions, topics.errors) and r.key == custom_id.encode()
        ]

    async def finished_with(self, custom_id: str, within: float = 30) -> None:
        """Wait until the dispatcher commits past ``custom_id``'s final events: it is done with them
        (delivered, or its callback error acknowledged), so what the receiver and the topics hold is final."""
        await self.collector.until(lambda r: bool(self.finals(custom_id)), within=within)
        topics = self.settings.topics
        past: dict[str, dict[int, int]] = {}
        for r in self.collector.records:
            if r.topic in (topics.completions, topics.errors) and r.key == custom_id.encode():
                partitions = past.setdefault(r.topic, {})
                partitions[r.partition] = max(partitions.get(r.partition, 0), r.offset + 1)
        kafka = self.settings.kafka.model_copy(update={"group_id": self.settings.callbacks.group_id})
        dispatcher = self.settings.model_copy(update={"kafka": kafka})

        async def committed_past() -> bool:
            for topic, wanted in past.items():
                committed = await committed_offsets(dispatcher, topic, topics.partitions)
                if any((committed.get(p) or 0) < o for p, o in wanted.items()):
                    return False
            return True

        await until(committed_past, within, f"the dispatcher committing past {custom_id}", every=0.2)
        await self.collector.drain()

    async def callback_errors(
        self, custom_id: str, count: int = 1, within: float = 30
    ) -> list[dict[str, Any]]:
        def found(records: list[Record]) -> list[dict[str, Any]]:
            return [d for d in self.finals(custom_id) if d.get("origin") == "callback"]

        await self.collector.until(lambda r: len(found(r)) >= count, within=within)
        return found(self.collector.records)


def stack_settings(
    kafka_bootstrap: str, emulator_url: str, batch: dict[str, Any] | None = None, **callbacks: Any
) -> Settings:
    prefix = f"cb{uuid.uuid4().hex[:10]}"
    topics = ("prompts", "deltas", "completions", "errors", "batches")
    return load_settings(
        env_file=None,
        kafka={"bootstrap_servers": kafka_bootstrap, "group_id": f"{prefix}-group", "enable_idempotence": False,
               "session_timeout_ms": 6_000, "heartbeat_interval_ms": 500},
        topics={**{t: f"{prefix}.{t}" for t in topics}, "partitions": 2},
        anthropic={"api_key": "sk-ant-test-key", "base_url": emulator_url},
        observability={"metrics_port": 0},
        callbacks={"signing_secret": SECRET, "group_id": f"{prefix}-callbacks", **callbacks},
        batch=batch or {},
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running_stack(settings: Settings, tmp: Path) -> AsyncIterator[Stack]:
    await create_topics(settings)
    topics = settings.topics
    with (
        ServiceProcess(settings, tmp / "service.log") as service,
        CallbacksProcess(settings, tmp / "callbacks.log") as dispatcher,
    ):
        await asyncio.gather(asyncio.to_thread(service.wait_ready), asyncio.to_thread(dispatcher.wait_ready))
        async with (
            Receiver() as receiver,
            Collector(settings, [topics.completions, topics.errors]) as collector,
        ):
            yield Stack(settings, receiver, collector)


@pytest.fixture(scope="module")
async def dev(
    kafka_bootstrap: str, emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Pipeline + dispatcher in development mode (http and loopback allowed), shared by the module."""
    settings = stack_settings(
        kafka_bootstrap, emulator_url, allowed_hosts=("127.0.0.1",), allow_http=True, allow_private=True,
        max_attempts=3, backoff_seconds=BACKOFF, read_timeout_seconds=1.0, max_age_seconds=30,
    )  # fmt: skip
    async with running_stack(settings, tmp_path_factory.mktemp("callbacks-dev")) as stack:
        yield stack


@pytest.mark.xdist_group("callbacks-dev")  # the module's `dev` stack, started once
async def test_completion_is_delivered_once_with_a_valid_standard_webhooks_signature(dev: Stack) -> None:
    """The receiver gets the completion event once, signed so an independent verifier accepts it."""
    path = "/ok/delivered-once"
    await dev.send(prompt_with_callback("delivered-once", dev.receiver.url(path)))
    (hit,) = await dev.receiver.until(path, 1)
    await dev.finished_with("delivered-once")
    assert len(dev.receiver.hits[path]) == 1
    assert verify_standard_webhook(SECRET, hit.headers, hit.body)
    assert not verify_standard_webhook(SECRET, hit.headers, hit.body + b" ")
    (final,) = dev.finals("delivered-once")
    event = json.loads(hit.body)
    assert event["custom_id"] == "delivered-once" and event["message"] == final["message"]
    assert hit.headers["Content-Type"] == "application/json"
    wire = json.dumps(hit.headers).encode() + hit.body
    assert b"sk-ant-test-key" not in wire and SECRET.encode() not in wire and b"test-signing-key" not in wire


@pytest.mark.xdist_group("callbacks-dev")  # the module's `dev` stack, started once
async def test_receiver_failing_twice_gets_three_attempts_with_one_webhook_id(dev: Stack) -> None:
    """503, 503, 204: three attempts, the same webhook-id, each later one after a backoff."""
    path = "/flaky/flaky-twice"
    await dev.send(prompt_with_callback("flaky-twice", dev.receiver.url(path)))
    hits = await dev.receiver.until(path, 3)
    assert len({h.headers["webhook-id"] for h in hits}) == 1
    assert all(verify_standard_webhook(SECRET, h.headers, h.body) for h in hits)
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    # Jittered exponential backoff: attempt n waits in [base * 2**(n-1) / 2, base * 2**(n-1)].
    assert gaps[0] >= BACKOFF / 2 * 0.95 and gaps[1] >= BACKOFF * 0.95, gaps
    await dev.finished_with("flaky-twice")
    assert len(dev.receiver.hits[path]) == 3
    assert [d for d in dev.finals("flaky-twice") if d.get("origin") == "callback"] == []


@pytest.mark.xdist_group("callbacks-dev")  # the module's `dev` stack, started once
async def test_dead_receiver_ends_in_one_callback_error_and_does_not_slow_other_prompts(dev: Stack) -> None:
    """A receiver that never answers costs its own retries only: the others arrive in their normal time."""

    async def round_trip(tag: str, extra: list[tuple[bytes, bytes]]) -> float:
        ids = [f"{tag}-{i}" for i in range(10)]
        started = time.monotonic()
        await dev.send(*extra, *(prompt_with_callback(i, dev.receiver.url(f"/ok/{i}")) for i in ids))
        await asyncio.gather(*(dev.receiver.until(f"/ok/{i}", 1) for i in ids))
        return time.monotonic() - started

    normal = await round_trip("baseline", [])
    started = time.monotonic()
    with_dead = await round_trip(
        "beside-dead", [prompt_with_callback("dead", dev.receiver.url("/hang/dead"))]
    )
    (error,) = await dev.callback_errors("dead")
    failed_after = time.monotonic() - started
    assert with_dead < max(2 * normal, normal + 1.0), (normal, with_dead)
    assert with_dead < failed_after
    assert error["error"]["type"] == "callback_failed" and error["custom_id"] == "dead"
    assert error["retryable"] is True and error.get("callback") is None
    assert json.loads(error["original"])["custom_id"] == "dead"
    assert len(dev.receiver.hits["/hang/dead"]) == 3  # CALLBACK_MAX_ATTEMPTS
    await dev.collector.drain()
    assert len([d for d in dev.finals("dead") if d.get("origin") == "callback"]) == 1


async def test_refused_destinations_become_errors_without_a_request(
    kafka_bootstrap: str, emulator_url: str, tmp_path: Path
) -> None:
    """Unlisted host, http:// in production, 127.0.0.1, metadata IP, a name resolving to loopback."""
    settings = stack_settings(
        kafka_bootstrap, emulator_url, allowed_hosts=("127.0.0.1", "localhost", "169.254.169.254")
    )
    async with running_stack(settings, tmp_path) as stack:
        port = stack.receiver.port
        cases = {
            "unlisted": ("https://hooks.not-listed.example/h", "not in CALLBACK_ALLOWED_HOSTS"),
            "plain-http": (f"http://localhost:{port}/ok/plain-http", "only https:// is allowed"),
            "loopback-ip": (f"https://127.0.0.1:{port}/ok/loopback-ip", "loopback"),
            "metadata": ("https://169.254.169.254/latest/meta-data/", "metadata"),
            "resolves-private": (f"https://localhost:{port}/ok/resolves-private", "resolves to refused"),
        }
        await stack.send(*(prompt_with_callback(name, url) for name, (url, _) in cases.items()))
        for name, (_, expected) in cases.items():
            (error,) = await stack.callback_errors(name)
            assert error["error"]["type"] == "callback_refused", error
            assert expected in error["error"]["message"], error["error"]["message"]
            assert error["retryable"] is False
            assert [d["_topic"] for d in stack.finals(name) if "origin" not in d or d["origin"] is None] == [
                settings.topics.completions
            ]
        assert stack.receiver.total() == 0


async def test_batch_mode_outcome_is_delivered_like_a_streamed_one(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A prompt sent with mode batch goes through the Message Batches API; its completion (batch
    price, mode batch) reaches the callback once, signed, as a streamed one does."""
    with EmulatorProcess(tmp_path / "emulator.log", "--seed", "9", "--batch-time-scale", "0.003") as emulator:
        settings = stack_settings(
            kafka_bootstrap, emulator.base_url, batch={"max_wait_seconds": 0.5, "poll_seconds": 0.05},
            allowed_hosts=("127.0.0.1",), allow_http=True, allow_private=True,
        )  # fmt: skip
        async with running_stack(settings, tmp_path) as stack:
            path = "/ok/batch-callback"
            await stack.send(prompt_with_callback("batch-callback", stack.receiver.url(path), mode="batch"))
            (hit,) = await stack.receiver.until(path, 1, within=60)
            await stack.collector.until(lambda r: bool(stack.finals("batch-callback")))
    assert verify_standard_webhook(SECRET, hit.headers, hit.body)
    event = json.loads(hit.body)
    (final,) = stack.finals("batch-callback")
    assert event["mode"] == "batch" and event["custom_id"] == "batch-callback"
    assert event["message"] == final["message"] and event["cost_usd"] == final["cost_usd"] > 0
