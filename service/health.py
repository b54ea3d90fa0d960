"""The one HTTP listener for operators: ``/metrics``, ``/healthz`` (liveness), ``/readyz`` (readiness)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from service.settings import ObservabilitySettings

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], tuple[bool, str]]
"""What ``/readyz`` asks: (ready, reason); ``service.kafka.readiness`` decides it."""


def build_app(registry: CollectorRegistry, readiness: ReadyCheck) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        # Answering at all is the proof: the event loop is not blocked.
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        ready, reason = readiness()
        return web.json_response(
            {"status": "ok" if ready else "not ready", "reason": reason}, status=200 if ready else 503
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class HealthServer:
    def __init__(self, registry: CollectorRegistry, readiness: ReadyCheck, host: str, port: int) -> None:
        self._runner = web.AppRunner(build_app(registry, readiness), access_log=None)
        self._host, self._port = host, port
        self.port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        await self._runner.cleanup()


def health_server(
    registry: CollectorRegistry, readiness: ReadyCheck, observability: ObservabilitySettings
) -> HealthServer | None:
    """The listener of a long-running command, or ``None`` when METRICS_PORT is 0 (off)."""
    if not observability.metrics_port:
        return None
    return HealthServer(registry, readiness, observability.metrics_host, observability.metrics_port)


async def start_health(health: HealthServer | None) -> None:
    if health is not None:
        await health.start()
        log.info("metrics listening", extra={"port": health.port})


async def stop_health(health: HealthServer | None) -> None:
    if health is not None:
        await health.stop()
