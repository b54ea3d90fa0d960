"""The whole system on embedded defaults, in one process: broker -> topics -> emulator -> service.

``DevStack`` is what ``claude-kafka dev`` runs, kept free of terminal concerns so tests can drive it.
The Tansu broker is the only child process. It runs in its own session (a Ctrl-C in the terminal
reaches it only through ``stop()``, after the service has drained and committed) and, on Linux, with
a parent-death signal, so it dies with this process even when this process is killed outright.
The emulator and the service (``Runner``) share this process's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service import logs
from service.devbroker import EmbeddedBroker, free_port
from service.emulator import Emulator, EmulatorConfig
from service.errors import ConfigError
from service.runner import Runner
from service.settings import Settings, load_settings

log = logging.getLogger(__name__)

DEFAULT_BROKER_PORT = 9092
DEFAULT_METRICS_PORT = 9464
EMULATOR_API_KEY = "sk-ant-dev-emulator"  # the emulator checks that a key is present, not its value


@dataclass(frozen=True, slots=True, kw_only=True)
class DevOptions:
    broker_port: int | None = None  # None: 9092 when free, else any free port; 0: any free port
    metrics_port: int | None = None  # same rule around 9464
    real_api: bool = False
    ttft_ms: float = 300.0
    tokens_per_second: float = 60.0
    partitions: int = 3
    shutdown_grace_seconds: float = 5.0
    state_dir: Path | None = None  # broker and service logs; default: a fresh temp directory


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(wanted: int | None, preferred: int) -> int:
    if wanted:
        return wanted
    if wanted is None and port_free(preferred):
        return preferred
    return free_port()


def dev_settings(
    options: DevOptions, bootstrap: str, emulator_url: str | None, metrics_port: int,
    env_file: Path | str | None,
) -> Settings:  # fmt: skip
    """The settings tree for the dev stack: the environment, with the embedded pieces wired in."""
    anthropic: dict[str, Any] = {}
    if not options.real_api:
        anthropic = {"base_url": emulator_url, "api_key": EMULATOR_API_KEY}
    return load_settings(
        env_file,
        kafka={
            "bootstrap_servers": bootstrap,
            "enable_idempotence": False,  # Tansu's memory engine refuses InitProducerId
            # Tansu holds a new group's first join for half the session timeout: 3 s here.
            "session_timeout_ms": 6_000,
            "heartbeat_interval_ms": 500,
        },
        topics={"partitions": options.partitions},
        anthropic=anthropic,
        pipeline={"shutdown_grace_seconds": options.shutdown_grace_seconds},
        # Small batches, submitted and polled quickly, so a batch prompt finishes while you watch.
        batch={"max_wait_seconds": 2.0, "poll_seconds": 1.0},
        observability={"metrics_port": metrics_port, "metrics_host": "127.0.0.1"},
    )


class DevStack:
    """``start()`` brings everything up in dependency order; ``serve()`` runs the service until
    ``request_stop()``, drains it, and stops the emulator and the broker (reverse order)."""

    def __init__(self, options: DevOptions, env_file: Path | str | None = ".env") -> None:
        if options.real_api and not os.environ.get("ANTHROPIC_API_KEY"):
            raise ConfigError("--real needs ANTHROPIC_API_KEY in the environment")
        self.options = options
        self.state_dir = options.state_dir or Path(tempfile.mkdtemp(prefix="claude-kafka-dev-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker(port=pick_port(options.broker_port, DEFAULT_BROKER_PORT))
        self.metrics_port = pick_port(options.metrics_port, DEFAULT_METRICS_PORT)
        self._emulator_port = free_port()
        self.emulator_url = None if options.real_api else f"http://127.0.0.1:{self._emulator_port}"
        # Validated before anything starts, so a bad setting costs nothing.
        self.settings = dev_settings(
            options, self.broker.bootstrap, self.emulator_url, self.metrics_port, env_file
        )
        self.emulator: Emulator | None = None
        self.runner: Runner | None = None

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def service_log(self) -> Path:
        return self.state_dir / "service.log"

    @property
    def broker_log(self) -> Path:
        return self.state_dir / "broker.log"

    async def start(self) -> None:
        """Broker, topics, emulator, then the service's consumer and producer (joined and ready)."""
        from service.kafka.topics import create_topics

        self._log_to_file()
        # Blocking, on the main thread on purpose: the parent-death signal is tied to the thread
        # that forks the broker, and nothing else is running yet.
        self.broker.start(log_path=self.broker_log)
        log.info("broker listening", extra={"bootstrap": self.bootstrap, "pid": self.broker.pid})
        await create_topics(self.settings)
        if not self.options.real_api:
            self.emulator = Emulator(
                EmulatorConfig(
                    port=self._emulator_port,
                    ttft_ms=self.options.ttft_ms,
                    tokens_per_second=self.options.tokens_per_second,
                    batch_time_scale=0.01,  # a five-minute emulated batch ends in three seconds
                    models=None,
                )
            )
            await self.emulator.start()
        self.runner = Runner(self.settings)

    def request_stop(self) -> None:
        if self.runner is not None:
            self.runner.pipeline.request_stop()

    async def serve(self) -> None:
        """Run the service and the reference tool worker (so `send --loop` works) until
        ``request_stop()``; then drain the service and stop everything else."""
        from service.agents.tools import TOOL_SPECS
        from service.agents.worker import ToolWorker

        worker = ToolWorker(self.settings, f"{self.settings.kafka.group_id}.tools", TOOL_SPECS)
        tools = asyncio.create_task(worker.run())
        try:
            if self.runner is not None:
                await self.runner.serve()
        finally:
            worker.request_stop()
            with contextlib.suppress(Exception):  # its errors were logged; the stack stops regardless
                await asyncio.wait_for(tools, 10)
            await self.stop()

    async def stop(self) -> None:
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None
        self.broker.stop()

    def ready(self) -> bool:
        return self.runner is not None and self.runner.pipeline.ready()[0]

    def _log_to_file(self) -> None:
        handler = logging.FileHandler(self.service_log, encoding="utf-8")
        handler.setFormatter(logs.ConsoleFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(self.settings.observability.log_level)
        for name in ("aiokafka", "anthropic", "httpx", "httpcore", "httpx2", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)
