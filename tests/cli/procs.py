"""Run ``claude-kafka`` in a subprocess and read its output line by line, waiting on conditions."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from tests.waiting import until_sync


class Cli:
    """One ``python -m service ...`` child; its stdout and stderr are merged and read by a thread."""

    def __init__(
        self, *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        inherited = os.environ.items()
        env = {k: v for k, v in inherited if not k.startswith(("KAFKA_", "TOPIC_", "ANTHROPIC_"))} | (
            env or {}
        )
        env["PYTHONUNBUFFERED"] = "1"
        # Profiles live under XDG_CONFIG_HOME: one per test directory, so a developer's running
        # `claude-kafka dev` (or another test's) never lends its broker to this child.
        env.setdefault("XDG_CONFIG_HOME", str(cwd / ".config"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if stdin is not None and self.process.stdin is not None:
            self.process.stdin.write(stdin)
            self.process.stdin.close()
        self.lines: list[str] = []
        self._ended = False
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, within: float = 30.0) -> re.Match[str]:
        """The first line (seen so far or arriving within ``within`` s) matching ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            if match := regex.search(line):
                return match

        def next_line_matches() -> re.Match[str] | None:
            if self._ended:
                raise AssertionError(f"output ended, no line matching {pattern!r}:\n{self.output}")
            try:
                line = self._queue.get(timeout=0.05)  # a line as soon as it arrives: the pace of this wait
            except queue.Empty:
                return None
            if line is None:
                self._ended = True
                return next_line_matches()
            self.lines.append(line)  # only up to the match: later lines stay queued for the next wait
            return regex.search(line)

        return until_sync(
            next_line_matches, within, lambda: f"a line matching {pattern!r}:\n{self.output}", every=0
        )

    def finish(self, within: float = 30.0) -> int:
        """Wait for exit and collect the remaining output; the exit code."""
        code = self.process.wait(within)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def gone(processes: list[psutil.Process], within: float = 10.0) -> bool:
    """True once every process has exited (zombies reaped or not) within ``within`` s."""
    _, alive = psutil.wait_procs(processes, timeout=within)
    return not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
