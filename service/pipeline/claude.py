"""The Claude adapter: the only pipeline module that imports the ``anthropic`` SDK.

Requests go through ``AsyncAnthropic.messages.create(stream=True)``, so the SDK keeps doing what it does
well: auth, connection pooling, and retries with ``retry-after`` before the first byte. The body is then
read with the SDK's public ``AsyncStream.raw_events``: each event's JSON text is forwarded verbatim
and parsed once with ``json.loads``, instead of the SDK building a pydantic model per event that we
would only serialise again (``bench/`` measures both paths).

What the SDK does not do is handled here (reference sections 3.7-3.9): an SSE ``error`` event, a body
broken mid-way (raw ``httpx2`` errors; the aiohttp transport maps its own onto them), and a body that
ends without ``message_stop`` all become ``ClaudeRetryable``; HTTP errors are translated to
``ClaudeRetryable`` / ``ClaudeFatal`` in ``service.apierrors`` (shared with the batch adapter), with
``error.details.error_code`` as the code.

Header-borne params (``betas``, ``workspace_id``, ``user_profile_id``: ``service.headers``)
are passed to the SDK as its keyword arguments, so it sends them as the headers it knows; every other
key goes through ``extra_body`` as sent. ``stream`` is always the adapter's own ``True``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncStream

from service.apierrors import refuse_final_retries, retry_after_seconds, stream_error, translate_api_error
from service.errors import ClaudeRetryable
from service.headers import SERVICE_OWNED, split_params
from service.sdkclient import build_client
from service.settings import AnthropicSettings

# One client (one connection pool) per process. With the httpx transport, 16 smaller pools used to
# pay (httpx walks every pooled connection on each request start and end: 16% of the CPU at 256
# streams); aiohttp's connector does not, and on it one client measured cheaper per delta than 16
# (bench/ratios.py's curve, issue 19).
REQUIRED = frozenset({"model", "max_tokens", "messages"})

ResponseObserver = Callable[[int, float | None, Mapping[str, str]], None]
"""Called for every HTTP response of the API (SDK retries included): status, retry-after seconds,
headers (the ``anthropic-ratelimit-*`` headroom is read from them)."""

Event = tuple[bytes, dict[str, Any]]


class Claude:
    """One ``AsyncAnthropic`` client (``service.sdkclient``), shared by every prompt of the process;
    its pool has room for ``connections`` streams at once (``MAX_IN_FLIGHT``)."""

    def __init__(
        self, settings: AnthropicSettings, observe: ResponseObserver | None = None, connections: int = 0
    ) -> None:
        self._observe = observe

        async def on_response(response: httpx2.Response) -> None:
            if self._observe is not None:
                self._observe(response.status_code, retry_after_seconds(response.headers), response.headers)
            await refuse_final_retries(response)

        self._client = build_client(settings, on_response=on_response, connections=connections)

    async def close(self) -> None:
        await self._client.close()

    async def stream(self, params: dict[str, Any]) -> AsyncGenerator[Event, None]:
        """Yield ``(json_text, event)`` for every non-ping SSE event of one request.

        Raises ``ClaudeRetryable`` or ``ClaudeFatal``; ends normally only after ``message_stop``.
        """
        # Built in ``_create``, so the body and header dicts are not locals of this frame, which stays
        # suspended for the whole stream (issue 19: what a stream in flight holds).
        response = await self._create(params)
        request_id = response.response.headers.get("request-id")
        stopped = False
        try:
            async for sse in AsyncStream.raw_events(response.response):
                name = sse.event
                if name == "ping" or name is None or not sse.data:
                    continue
                if name == "error":
                    raise stream_error(sse.data, request_id)
                event = json.loads(sse.data)
                if name == "message_stop":
                    stopped = True
                yield sse.data.encode(), event
        except httpx2.TimeoutException:
            raise ClaudeRetryable("stream stalled past the read timeout", type="stream_timeout") from None
        except httpx2.HTTPError as exc:
            raise ClaudeRetryable(f"stream broken: {exc}", type="stream_interrupted") from None
        except json.JSONDecodeError as exc:
            raise ClaudeRetryable(f"malformed stream event: {exc}", type="stream_malformed") from None
        finally:
            await response.close()
        if not stopped:
            raise ClaudeRetryable("stream ended before message_stop", type="stream_incomplete")

    async def _create(self, params: dict[str, Any]) -> AsyncStream[Any]:
        """The request, answered with its open stream (HTTP errors translated)."""
        body, headers = split_params(params)
        # ``stream`` is refused at intake; dropped here too, since extra_body would override stream=True.
        extra = {k: v for k, v in body.items() if k not in REQUIRED and k not in SERVICE_OWNED}
        client = self._client
        workspace_id = headers.get("workspace_id", anthropic.omit)
        user_profile_id = headers.get("user_profile_id", anthropic.omit)
        try:
            if "betas" in headers:
                return await client.beta.messages.create(
                    model=params["model"],
                    max_tokens=params["max_tokens"],
                    messages=params["messages"],
                    stream=True,
                    betas=headers["betas"],
                    workspace_id=workspace_id,
                    user_profile_id=user_profile_id,
                    extra_body=extra,  # passes every other key (temperature, tools, ...) through as sent
                )
            return await client.messages.create(
                model=params["model"],
                max_tokens=params["max_tokens"],
                messages=params["messages"],
                stream=True,
                workspace_id=workspace_id,
                user_profile_id=user_profile_id,
                extra_body=extra,
            )
        except (anthropic.APIStatusError, anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
            raise translate_api_error(exc) from None
