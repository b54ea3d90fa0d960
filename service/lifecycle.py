"""Signals for the long-running commands: the first SIGINT/SIGTERM drains, a second exits at once.

Handlers only set a flag (``requested``, and call ``on_first``), as uvicorn's do; the command's own
loop does the work. Used by ``run``, ``callbacks``, ``dev`` and ``emulator``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_FORCED = 130


class GracefulSignals:
    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self._on_first = on_first
        self.received = 0
        self.requested = asyncio.Event()  # set by the first signal: drain and stop

    def install(self) -> GracefulSignals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # e.g. Windows: Ctrl-C stays KeyboardInterrupt
                loop.add_signal_handler(sig, self.handle, sig)
        return self

    def handle(self, sig: signal.Signals) -> None:
        self.received += 1
        if self.received > 1:
            # The user wants out now, not after the drain; children die with us (parent-death signal).
            log.warning("second signal: exiting now")
            os._exit(EXIT_FORCED)
        log.info("signal received, draining", extra={"signal": sig.name})
        self.requested.set()
        if self._on_first is not None:
            self._on_first()
