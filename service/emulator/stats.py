"""Counters and a bounded request log, so tests can reconcile retries, faults and timings.

Written only from the emulator's event loop; read from anywhere. Readers get copies
(``snapshot``-style methods) so a background-thread emulator never hands out a live mutable view.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One served request. ``time`` is wall-clock epoch seconds at arrival; ``monotonic`` is
    ``time.monotonic()`` at arrival (use it for intervals such as retry delays)."""

    time: float
    monotonic: float
    method: str
    path: str
    route: str  # path template, e.g. ``/v1/models/{model_id}``
    status: int
    request_id: str
    retry_count: int | None  # ``x-stainless-retry-count`` header, if sent and numeric
    user_id: str | None  # ``metadata.user_id`` of a messages body, if any
    stream: bool = False
    fault: str | None = None  # kind of fault injected into this request, if any


class EmulatorStats:
    """``requests[(method, route, status)]``, ``faults[kind]`` and ``log`` (newest last, bounded)."""

    def __init__(self, log_size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int]] = Counter()
        self._faults: Counter[str] = Counter()
        self._batches: Counter[str] = Counter()  # batch events, see ``count_batch``
        self._log: deque[RequestLogEntry] = deque(maxlen=log_size)

    # -- writers (emulator side) ---------------------------------------------------------------
    def record(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._requests[(entry.method, entry.route, entry.status)] += 1
            self._log.append(entry)

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def count_batch(self, kind: str, n: int = 1) -> None:
        """Batch events: ``created``, ``requests_submitted``, ``rejected``, ``canceled``, ``deleted``,
        ``results_downloads``, ``result_lines`` (see ``batches.py``)."""
        with self._lock:
            self._batches[kind] += n

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._batches.clear()
            self._log.clear()

    # -- readers (test side) -------------------------------------------------------------------
    @property
    def requests(self) -> Counter[tuple[str, str, int]]:
        with self._lock:
            return Counter(self._requests)

    @property
    def faults(self) -> Counter[str]:
        with self._lock:
            return Counter(self._faults)

    @property
    def batches(self) -> Counter[str]:
        with self._lock:
            return Counter(self._batches)

    @property
    def log(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._log)

    def entries(self, *, route: str | None = None, user_id: str | None = None) -> list[RequestLogEntry]:
        """Log entries filtered by route template and/or ``metadata.user_id``, oldest first."""
        return [
            e
            for e in self.log
            if (route is None or e.route == route) and (user_id is None or e.user_id == user_id)
        ]

    def count(self, method: str | None = None, route: str | None = None, status: int | None = None) -> int:
        """Number of requests matching every given field."""
        return sum(
            n
            for (m, r, s), n in self.requests.items()
            if (method is None or m == method)
            and (route is None or r == route)
            and (status is None or s == status)
        )
