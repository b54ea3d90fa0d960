"""Shared harness: child processes in their own process groups, the broker, the emulator, the service.

Everything started here is stopped by ``Stack.close()`` (SIGTERM to the group, then SIGKILL), which
``run.py`` calls in a ``finally``; nothing outlives the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from service.devbroker import EmbeddedBroker, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOGS = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/claude-kafka-bench"))
MODEL = "claude-haiku-4-5"
PARTITIONS = 6  # of every topic a scenario creates


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Child:
    """A child process in its own session; ``stop`` signals the whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self._out = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ps = psutil.Process(self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def sdk_client(base_url: str, transport: str = "httpx", connections: int = 1000) -> Any:
    """A bare ``AsyncAnthropic``: only the transport (and a pool large enough) differs from the SDK's
    own defaults (``DEFAULT_CONNECTION_LIMITS``: 1,000 connections)."""
    import anthropic
    import httpx2

    limits = httpx2.Limits(max_connections=max(connections, 1000), max_keepalive_connections=100)
    http = (
        anthropic.DefaultAioHttpClient(limits=limits)
        if transport == "aiohttp"
        else anthropic.DefaultAsyncHttpxClient(limits=limits)
    )
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="bench", http_client=http)


def run_worker(module: str, *args: str, timeout: float = 300.0) -> dict[str, Any]:
    """Run ``python -m module args`` to completion in its own process; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@dataclass
class Emu:
    """An emulator process (``bench.emutap``: the stock emulator, optionally logging emit times)."""

    child: Child
    base_url: str
    emit_log: Path | None = None


@dataclass
class Stack:
    """Owns every long-lived child of one scenario; ``close()`` stops them in reverse order."""

    children: list[Child] = field(default_factory=list)
    broker: EmbeddedBroker | None = None

    def start_broker(self) -> str:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker()
        self.broker.start(log_path=LOGS / "broker.log")
        return self.broker.bootstrap

    def start_emulator(
        self,
        *,
        ttft_ms: float = 0.0,
        tokens_per_second: float = 0.0,
        output_tokens: int = 100,
        tokens_per_delta: int | None = 1,
        emit_log: Path | None = None,
        name: str = "emulator",
    ) -> Emu:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "bench.emutap",
            "--port",
            str(port),
            "--ttft-ms",
            str(ttft_ms),
            "--tokens-per-second",
            str(tokens_per_second),
            "--output-tokens",
            str(output_tokens),
        ]
        if tokens_per_delta is not None:
            argv += ["--tokens-per-delta", str(tokens_per_delta)]
        if emit_log is not None:
            argv += ["--emit-log", str(emit_log)]
        child = self.add(Child(name, argv))
        if not wait_for_port("127.0.0.1", port, 30):
            raise RuntimeError(f"emulator did not start:\n{child.tail()}")
        return Emu(child, f"http://127.0.0.1:{port}", emit_log)

    def start_service(
        self, bootstrap: str, base_url: str, env: dict[str, str] | None = None, name: str = "service"
    ) -> tuple[Child, int]:
        metrics_port = free_port()
        full = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",  # Tansu does not support it (README)
            # Tansu holds a new group's first join for half the session timeout: 6 s joins in 3 s
            # instead of 15 s (as tests/conftest.py does).
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "KAFKA_GROUP_ID": f"bench-{name}-{time.monotonic_ns()}",
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "bench",
            "METRICS_PORT": str(metrics_port),
            "METRICS_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            "SHUTDOWN_GRACE_SECONDS": "2",
            **(env or {}),
        }
        child = self.add(Child(name, [sys.executable, "-m", "bench.serve"], full))
        if not wait_for_port("127.0.0.1", metrics_port, 30):
            raise RuntimeError(f"service did not start:\n{child.tail()}")
        return child, metrics_port

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds so far of every live child (and the broker), by name."""
        out: dict[str, float] = {}
        for child in self.children:
            with contextlib.suppress(psutil.Error):
                out[child.name] = child.cpu_seconds()
        if self.broker is not None and self.broker.pid is not None:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(self.broker.pid).cpu_times()
                out["broker"] = t.user + t.system
        return out

    def add(self, child: Child) -> Child:
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


_METRIC = re.compile(r"^([a-zA-Z_:]+)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN)$")


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` of a service as ``{name{labels}: value}``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC.match(line)
        if match:
            out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def counter(metrics: dict[str, float], name: str, **labels: str) -> float:
    """Sum of ``name`` over the series whose labels include ``labels``."""
    total = 0.0
    for key, value in metrics.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def prompt_value(custom_id: str, max_tokens: int = 4096, text: str = "Benchmark prompt.") -> bytes:
    return json.dumps(
        {
            "custom_id": custom_id,
            "params": {
                "model": MODEL,
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}],
            },
        }
    ).encode()


async def _produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce_prompts(bootstrap: str, ids: Iterable[str], topic: str = "claude.prompts") -> float:
    """Produce one PromptEvent per id (acknowledged); returns the wall-clock time before sending."""
    items = [(i.encode(), prompt_value(i)) for i in ids]
    started = time.time()
    asyncio.run(_produce(bootstrap, topic, items))
    return started


async def _produce_paced(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]], rate: float) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        futures = []
        for i, (key, value) in enumerate(items):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce_paced(bootstrap: str, ids: Iterable[str], topic: str, rate: float) -> float:
    """Produce one PromptEvent per id at ``rate`` per second (steady arrivals, as in production)."""
    items = [(i.encode(), prompt_value(i)) for i in ids]
    started = time.time()
    asyncio.run(_produce_paced(bootstrap, topic, items, rate))
    return started


def wait_assigned(port: int, timeout: float = 60.0) -> None:
    """Until the service's consumer holds partitions (its group join is done)."""
    wait_until(
        lambda: counter(scrape(port), "claude_kafka_assigned_partitions") > 0, timeout, 0.1, "group join"
    )


def topic_names(prefix: str) -> dict[str, str]:
    """A fresh topic set per run, so no run reads another's records."""
    return {kind: f"{prefix}.{kind}" for kind in ("prompts", "deltas", "completions", "errors", "batches")}


def topic_env(prefix: str) -> dict[str, str]:
    return {f"TOPIC_{kind.upper()}": name for kind, name in topic_names(prefix).items()}


def create_topics(bootstrap: str, prefix: str = "claude", partitions: int = PARTITIONS) -> dict[str, str]:
    from service.kafka.topics import create_topics as create
    from service.settings import load_settings

    topics = topic_names(prefix)
    settings = load_settings(env_file=None, kafka={"bootstrap_servers": bootstrap}, topics=topics)
    asyncio.run(create(settings, partitions))
    return topics


def wait_until(predicate: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50": round(pct(50), 3),
        "p90": round(pct(90), 3),
        "p99": round(pct(99), 3),
        "max": round(ordered[-1], 3),
    }
