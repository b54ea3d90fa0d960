"""Ports for the servers the tests start, chosen so that parallel workers never collide.

``service.devbroker.free_port`` asks the kernel for port 0: a port of the ephemeral range, the range every
outgoing connection also takes its local port from. Between choosing a port and a child process binding
it, a client socket of any worker (aiokafka, an HTTP poll) may take it, and the child fails with
EADDRINUSE. Here each pytest-xdist worker draws from its own slice of the ports below that range, in
order, so no two workers and no two calls of one run hand out the same port (issue 18).
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

FIRST = 10_000  # below: well-known and registered services a developer may run (9092, 9090, 8080...)


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _slice() -> range:
    """This worker's ports: ``gw<i>`` of ``n`` workers gets the i-th of n equal slices (one process: all)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker.removeprefix("gw") or 0)
    end = max(_ephemeral_start(), FIRST + 1_000)
    size = (end - FIRST) // max(count, 1)
    return range(FIRST + index * size, FIRST + (index + 1) * size)


_SLICE = _slice()
# Start at a place of this process's own in the slice, so a second suite run beside this one, or an
# earlier run's sockets in TIME_WAIT, are met less often (either is skipped by the bind check anyway).
_START = os.getpid() % len(_SLICE)
_PORTS: Iterator[int] = itertools.cycle([*_SLICE[_START:], *_SLICE[:_START]])


def free_port(host: str = "127.0.0.1") -> int:
    """A port no one listens on now, never handed out before by this worker (until its slice wraps)."""
    for _ in range(len(_SLICE)):
        port = next(_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_SLICE}")
