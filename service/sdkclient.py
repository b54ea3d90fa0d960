"""The one factory of ``AsyncAnthropic`` clients, for the stream adapter and the batch adapter.

The transport is the SDK's own ``DefaultAioHttpClient`` (the ``anthropic[aiohttp]`` extra) unless
``ANTHROPIC_HTTP_TRANSPORT=httpx`` asks for the SDK's default ``DefaultAsyncHttpxClient``. Both are an
``httpx2.AsyncClient`` to the SDK, so auth, retries with ``retry-after``, timeouts, response event hooks
and the SDK's error classes are the same; the aiohttp transport maps aiohttp's errors onto httpx2's
(``anthropic/_vendor/httpx_aiohttp/transport.py``). Reading a paced SSE stream through it costs about
half the CPU per event of the httpx path (issue 19; ``bench/ratios.py`` measures it against this
same transport).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anthropic
import httpx2
from anthropic import AsyncAnthropic

from service.settings import AnthropicSettings

ResponseHook = Callable[[httpx2.Response], Awaitable[None]]

# The SDK's own pool size (``anthropic._constants.DEFAULT_CONNECTION_LIMITS``); a larger
# ``connections`` raises it. aiohttp's connector is sized from ``max_connections`` too (its own
# default would be 100), and a stream waiting for a pooled connection would count as added latency.
MIN_CONNECTIONS = 1000


def limits(connections: int) -> httpx2.Limits:
    """Room for ``connections`` concurrent requests, each kept alive for the next one."""
    size = max(connections, MIN_CONNECTIONS)
    return httpx2.Limits(max_connections=size, max_keepalive_connections=size)


def build_client(
    settings: AnthropicSettings,
    *,
    on_response: ResponseHook | None = None,
    connections: int = MIN_CONNECTIONS,
    probe_seconds: float | None = None,
) -> AsyncAnthropic:
    """An ``AsyncAnthropic`` on ``settings``' transport; ``on_response`` sees every HTTP response
    (the SDK's retries included). ``probe_seconds`` makes a one-shot client (``doctor``): no retries,
    that whole timeout. The caller closes it (``await client.close()``)."""
    transport = (
        anthropic.DefaultAioHttpClient
        if settings.http_transport == "aiohttp"
        else anthropic.DefaultAsyncHttpxClient
    )
    hooks = {"response": [on_response]} if on_response else {}
    http_client = transport(event_hooks=hooks, limits=limits(connections))
    api_key, auth_token = settings.sdk_credentials()
    timeout = (
        httpx2.Timeout(probe_seconds)
        if probe_seconds is not None
        else httpx2.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
    )
    return AsyncAnthropic(
        api_key=api_key,
        auth_token=auth_token,
        base_url=settings.base_url,
        max_retries=settings.max_retries if probe_seconds is None else 0,
        timeout=timeout,
        http_client=http_client,
    )
