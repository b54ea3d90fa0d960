"""Signals for the long-running commands: the first SIGINT/SIGTERM drains, a second exits at once.

Handlers only set a flag (call ``on_first``), as uvicorn's do; the runner's own loop does the work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_FORCED = 130


class GracefulSignals:
    def __init__(self, on_first: Callable[[], None]) -> None:
        self._on_first = on_first
        self.received = 0

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle, sig)

    def handle(self, sig: signal.Signals) -> None:
        self.received += 1
        if self.received > 1:
            log.warning("second signal: exiting now")
            os._exit(EXIT_FORCED)
        log.info("signal received, draining", extra={"signal": sig.name})
        self._on_first()
