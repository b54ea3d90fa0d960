"""The aiohttp application and its lifecycle: build → start → serve → stop.

``build_app(ctx)`` wires the middleware (request id, auth, error envelope, request log) and the
route modules: messages, models and, when ``service/emulator/batches.py`` exists, its
``add_batch_routes(app, ctx)``. :class:`Emulator` runs it on the current loop;
:class:`EmulatorThread` runs it on a private loop in a background thread; :func:`run` blocks.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from service.emulator.config import EmulatorConfig
from service.emulator.context import Clock, EmulatorContext
from service.emulator.errors import ApiError
from service.emulator.messages import add_message_routes
from service.emulator.models import add_model_routes
from service.emulator.outage import add_outage_routes
from service.emulator.stats import EmulatorStats, RequestLogEntry
from service.emulator.wire import (
    FAULT,
    RATE_HEADERS,
    REQUEST_ID,
    STREAM,
    USER_ID,
    CommonHeaders,
    error_response,
)
from service.lifecycle import GracefulSignals

log = logging.getLogger(__name__)

CTX: web.AppKey[EmulatorContext] = web.AppKey("emulator_ctx", EmulatorContext)
_BATCHES_MODULE = "service.emulator.batches"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(ctx: EmulatorContext) -> web.Application:
    config = ctx.config
    # aiohttp's own cap (default 1 MB) must not pre-empt our 413s, which carry the API's envelope.
    max_size = max(config.max_body_bytes, config.batch_max_bytes) + 1024 * 1024
    app = web.Application(middlewares=[_middleware], client_max_size=max_size)
    app[CTX] = ctx
    headers = CommonHeaders()

    async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
        # on_response_prepare also covers streamed responses, whose headers leave before the
        # handler returns, so this is the one place every response passes through.
        response.headers.update(headers.get())
        response.headers.update(request.get(RATE_HEADERS) or {})  # the org limit's, when enforced
        response.headers["request-id"] = request.get(REQUEST_ID) or ctx.new_id("req")

    app.on_response_prepare.append(add_common_headers)
    add_message_routes(app, ctx)
    add_model_routes(app, ctx)
    add_outage_routes(app, ctx.outage)
    # batches.py is written separately and may be absent; a broken one must fail loudly.
    if importlib.util.find_spec(_BATCHES_MODULE) is not None:
        importlib.import_module(_BATCHES_MODULE).add_batch_routes(app, ctx)
    return app


@web.middleware
async def _middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    ctx = request.app[CTX]
    request_id = ctx.new_id("req")
    request[REQUEST_ID] = request_id
    arrived, arrived_mono = ctx.clock.time(), ctx.clock.monotonic()
    status = 500
    try:
        if ctx.config.require_auth and not _has_credentials(request):
            raise ApiError("authentication_error", "x-api-key header is required")
        ctx.outage.check(request.path)
        response = await handler(request)
        status = response.status
        return response
    except ApiError as error:
        status = error.status
        return error_response(error, request_id)
    except web.HTTPException as exc:
        status = exc.status
        kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
        message = "Not Found" if exc.status == 404 else exc.reason
        return error_response(ApiError(kind, message, status=exc.status), request_id)
    except (ConnectionResetError, asyncio.CancelledError):
        status = 499  # the client went away mid-response (nginx's convention)
        raise
    except Exception:
        log.exception("emulator handler failed: %s %s", request.method, request.path)
        return error_response(ApiError("api_error", "Internal server error"), request_id)
    finally:
        ctx.stats.record(_log_entry(request, status, arrived, arrived_mono))


def _has_credentials(request: web.Request) -> bool:
    if request.headers.get("x-api-key"):
        return True
    auth = request.headers.get("authorization", "")
    return auth[:7].lower() == "bearer " and bool(auth[7:].strip())


def _log_entry(request: web.Request, status: int, arrived: float, arrived_mono: float) -> RequestLogEntry:
    resource = request.match_info.route.resource
    retry = request.headers.get("x-stainless-retry-count")
    return RequestLogEntry(
        time=arrived,
        monotonic=arrived_mono,
        method=request.method,
        path=request.path,
        route=resource.canonical if resource is not None else "<unmatched>",
        status=status,
        request_id=request[REQUEST_ID],
        retry_count=int(retry) if retry is not None and retry.isdigit() else None,
        user_id=request.get(USER_ID),
        stream=request.get(STREAM, False),
        fault=request.get(FAULT),
    )


class Emulator:
    """The emulator on the running event loop. ``async with Emulator(config) as emu: emu.base_url``."""

    def __init__(self, config: EmulatorConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.ctx = EmulatorContext(self.config, clock=clock)
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    @property
    def stats(self) -> EmulatorStats:
        return self.ctx.stats

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no trailing slash); only valid after :meth:`start`."""
        if self._base_url is None:
            raise RuntimeError("emulator not started")
        return self._base_url

    async def start(self) -> None:
        self.app = build_app(self.ctx)
        # A short shutdown_timeout: open streams are cut on stop, as a real server restart would.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, backlog=1024)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        self._base_url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        log.info("emulator listening on %s", self._base_url)

    async def stop(self) -> None:
        await self.ctx.cancel_tasks()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("emulator stopped")

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class EmulatorThread:
    """The same server on its own loop in a daemon thread; ``with EmulatorThread(config) as emu:``.

    For sync SDK clients, and for tests where the code under test owns the main loop.
    """

    def __init__(self, config: EmulatorConfig | None = None, *, clock: Clock | None = None) -> None:
        self.emulator = Emulator(config, clock=clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    @property
    def stats(self) -> EmulatorStats:
        return self.emulator.stats

    @property
    def ctx(self) -> EmulatorContext:
        return self.emulator.ctx

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.emulator.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.emulator.stop()

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run(config: EmulatorConfig, *, on_start: Callable[[Emulator], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (a second signal exits at once). Blocking; for the CLI."""
    asyncio.run(_serve_forever(config, on_start))


async def _serve_forever(config: EmulatorConfig, on_start: Callable[[Emulator], None] | None) -> None:
    stop = GracefulSignals().install().requested  # a second signal exits at once
    async with Emulator(config) as emulator:
        if on_start is not None:
            on_start(emulator)
        await stop.wait()
