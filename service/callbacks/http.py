"""The one HTTP client of the dispatcher: connection reuse, limits, timeouts, checked destinations.

No proxy or ``.netrc`` from the environment (``trust_env=False``: a proxy would connect to addresses
the resolver never checked), no cookies, redirects off unless ``CALLBACK_FOLLOW_REDIRECTS`` (then only
307/308, which keep the method and body, each Location checked like the first URL).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from service import __version__
from service.callbacks.policy import UrlPolicy, check_url
from service.callbacks.resolver import CheckedResolver
from service.errors import CallbackRefused
from service.settings import CallbackSettings

MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 64 * 1024  # read (then drop) so the connection can be reused


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    retry_after: str | None


def url_policy(settings: CallbackSettings) -> UrlPolicy:
    return UrlPolicy(settings.allowed_hosts, settings.allow_http, settings.allow_private)


class CallbackClient:
    """``post`` raises ``CallbackRefused`` before any request to a refused destination.

    ``resolver`` is the seam for name resolution (default: aiohttp's); its answers are always checked.
    """

    def __init__(self, settings: CallbackSettings, resolver: AbstractResolver | None = None) -> None:
        self._settings = settings
        self._policy = url_policy(settings)
        self._inner = resolver
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        s = self._settings
        resolver = CheckedResolver(self._policy, self._inner or aiohttp.resolver.DefaultResolver())
        connector = aiohttp.TCPConnector(
            limit=s.max_concurrency, limit_per_host=s.per_host_limit, resolver=resolver, ttl_dns_cache=10
        )
        # Waiting for a pooled connection is not a timeout: a slow host queues only its own requests.
        timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=s.connect_timeout_seconds, sock_read=s.read_timeout_seconds
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": f"claude-kafka/{__version__}"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        assert self._session is not None, "start() first"
        _check(url, self._policy)
        for _ in range(MAX_REDIRECTS + 1):
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.content.read(MAX_RESPONSE_BYTES)
                location = resp.headers.get("Location")
                if not (self._settings.follow_redirects and resp.status in (307, 308) and location):
                    return Response(resp.status, resp.headers.get("Retry-After"))
            url = str(URL(url).join(URL(location)))
            _check(url, self._policy)
        return Response(resp.status, None)


def _check(url: str, policy: UrlPolicy) -> None:
    refusal = check_url(url, policy)
    if refusal is not None:
        raise CallbackRefused(refusal.message, reason=refusal.reason)
