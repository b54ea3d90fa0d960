"""Run the real service (and emulator) as child processes for end-to-end tests, and always stop them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from service.devbroker import parent_death_hook, wait_for_port
from service.settings import SECTIONS, Settings, env_name
from tests.ports import free_port
from tests.waiting import until_sync

MODEL = "claude-haiku-4-5"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name, section in SECTIONS.items():
        current = getattr(settings, name)
        for field in section.model_fields:
            value = getattr(current, field)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, tuple):
                value = ",".join(value)
            env[env_name(section, field)] = str(value)
    return env


def prompt(
    custom_id: str, text: str = "Hello", *, max_tokens: int = 40, **params: Any
) -> tuple[bytes, bytes]:
    """A (key, value) prompt record for ``produce``."""
    body = {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
        **params,
    }
    return custom_id.encode(), json.dumps({"custom_id": custom_id, "params": body}).encode()


class ChildProcess:
    """A child in its own process group, its output in a log file, killed on exit whatever happens."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "127.0.0.1,localhost", **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # An interrupted test run must not leave services behind.
            preexec_fn=parent_death_hook(),  # noqa: PLW1509
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ChildProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServiceProcess(ChildProcess):
    """``python -m service run`` with the environment of ``settings``; readiness from ``/readyz``."""

    def __init__(self, settings: Settings, log_path: Path, **env: str) -> None:
        self.metrics_port = free_port()
        merged = {
            **settings_env(settings),
            "METRICS_PORT": str(self.metrics_port),
            "LOG_FORMAT": "json",
            **env,
        }
        super().__init__([sys.executable, "-m", "service", "run"], merged, log_path)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_ready(self, within: float = 30.0) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"service exited early:\n{self.log()[-3000:]}")
            with contextlib.suppress(OSError):
                return self.get("/readyz")[0] == 200
            return False

        until_sync(ready, within, lambda: f"service ready:\n{self.log()[-3000:]}", every=0.1)


class EmulatorProcess(ChildProcess):
    """``python -m service emulator`` on a free port."""

    def __init__(self, log_path: Path, *options: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [sys.executable, "-m", "service", "emulator", "--port", str(self.port), *options], {}, log_path
        )

    def start(self) -> EmulatorProcess:
        super().start()
        if not wait_for_port("127.0.0.1", self.port, 60):
            self.stop()  # __exit__ never runs when __enter__ raises
            raise AssertionError(f"emulator did not start within 60s:\n{self.log()}")
        return self
