"""A real local HTTP receiver for callback tests, an independent signature check, the dispatcher process."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from service.settings import Settings
from tests.ports import free_port
from tests.services import MODEL, ServiceProcess
from tests.waiting import until

SECRET = "whsec_" + base64.b64encode(b"test-signing-key-0123456789abcdef").decode()


@dataclass(frozen=True)
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Paths decide the answer: ``/ok/*`` 204; ``/flaky/*`` 503 twice then 204; ``/hang/*`` never answers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hits: dict[str, list[Hit]] = defaultdict(list)
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{kind}/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def __aenter__(self) -> Receiver:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        hits = self.hits[request.path]
        hits.append(Hit(time.monotonic(), request.path, dict(request.headers), await request.read()))
        kind = request.match_info["kind"]
        if kind == "flaky" and len(hits) <= 2:
            return web.Response(status=503)
        if kind == "hang":
            await self._closing.wait()
            return web.Response(status=503)
        return web.Response(status=204)

    def total(self) -> int:
        return sum(len(h) for h in self.hits.values())

    async def until(self, path: str, count: int, within: float = 30.0) -> list[Hit]:
        await until(
            lambda: len(self.hits[path]) >= count,
            within,
            lambda: f"{path}: {count} requests ({len(self.hits[path])} seen)",
            every=0.02,
        )
        return self.hits[path]


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, written from the Standard Webhooks spec (not the code under test)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp = lower["webhook-id"], lower["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for candidate in lower["webhook-signature"].split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def prompt_with_callback(
    custom_id: str, url: str | None, text: str = "Hello", mode: str = "stream"
) -> tuple[bytes, bytes]:
    body: dict[str, Any] = {
        "custom_id": custom_id,
        "params": {"model": MODEL, "max_tokens": 30, "messages": [{"role": "user", "content": text}]},
        "mode": mode,
    }
    if url is not None:
        body["callback"] = {"url": url}
    return custom_id.encode(), json.dumps(body).encode()


class CallbacksProcess(ServiceProcess):
    """``python -m service callbacks`` with the environment of ``settings``."""

    def __init__(self, settings: Settings, log_path: Path, **env: str) -> None:
        super().__init__(settings, log_path, **env)
        self.args = [*self.args[:-1], "callbacks"]
