"""Lifecycle of ``claude-kafka callbacks``: build -> start -> run -> drain -> stop, a log line per phase.

The same shape as ``service.runner``: signal handlers only set a flag; a second signal exits at once.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractResolver

from service.callbacks.dispatcher import CallbackDispatcher
from service.health import health_server, start_health, stop_health
from service.lifecycle import GracefulSignals
from service.metrics import Metrics
from service.settings import Settings
from service.supervisor import Supervisor

log = logging.getLogger(__name__)


class CallbacksRunner:
    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, resolver: AbstractResolver | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.supervisor = Supervisor(self.request_stop)
        self.dispatcher = CallbackDispatcher(settings, self.metrics, resolver, self.supervisor)
        self.health = health_server(self.metrics.registry, self.dispatcher.ready, settings.observability)
        self.signals = GracefulSignals(self.request_stop)

    def install_signal_handlers(self) -> None:
        self.signals.install()

    def request_stop(self) -> None:
        self.dispatcher.request_stop()

    async def serve(self) -> None:
        log.info("starting callbacks", extra={"group": self.settings.callbacks.group_id})
        try:
            await start_health(self.health)
            await self.dispatcher.start()
            topics = self.settings.topics
            log.info("delivering callbacks", extra={"topics": [topics.completions, topics.errors]})
            await self.dispatcher.run()
            await self.dispatcher.drain(self.settings.pipeline.shutdown_grace_seconds)
        finally:
            log.info("stopping")
            await self.dispatcher.stop()
            await stop_health(self.health)
            log.info("stopped", extra={"exit_code": self.exit_code})

    @property
    def exit_code(self) -> int:
        """Non-zero once a background task crashed: the process exits with it, to be restarted."""
        return self.supervisor.exit_code
