"""HTTP plumbing shared by the route modules: capped JSON bodies, JSON responses, common headers."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from service.emulator.errors import ApiError, invalid_request

# Per-request values the route modules hand to the middleware (for the request log and headers).
REQUEST_ID = web.RequestKey("emulator_request_id", str)
USER_ID = web.RequestKey("emulator_user_id", str)
STREAM = web.RequestKey("emulator_stream", bool)
FAULT = web.RequestKey("emulator_fault", str)
RATE_HEADERS = web.RequestKey("emulator_rate_headers", dict)  # this request's org-limit headers

_RATE_LIMITS = {"requests": 4_000, "tokens": 2_000_000, "input-tokens": 1_600_000, "output-tokens": 400_000}
_ORG_ID = str(uuid.UUID(int=0x0E7A_1A70_0000_4000_8000_0000_0000_0001))


async def read_json_body(request: web.Request, limit: int) -> Any:
    """The parsed JSON body; 413 ``request_too_large`` past ``limit`` bytes, 400 on bad JSON."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError("request_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > limit:
            raise ApiError("request_too_large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid_request(
            "There was an issue with your request body: it is not valid JSON. "
            "Please check the body and try again."
        ) from None


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    response = web.Response(body=body, status=status, headers=headers)
    response.content_type = "application/json"
    return response


def error_response(error: ApiError, request_id: str) -> web.Response:
    return json_response(error.body(request_id), status=error.status, headers=error.headers)


class CommonHeaders:
    """``anthropic-organization-id`` and the twelve ``anthropic-ratelimit-*`` headers.

    The limits are generous constants (the emulator does not rate-limit unless told to by a fault);
    the reset stamps are recomputed at most once a second so the per-response cost stays tiny.
    """

    def __init__(self) -> None:
        self._second = -1
        self._headers: dict[str, str] = {}

    def get(self) -> dict[str, str]:
        now = int(time.time())
        if now != self._second:
            reset = (datetime.fromtimestamp(now, UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
            headers = {"anthropic-organization-id": _ORG_ID}
            for name, limit in _RATE_LIMITS.items():
                prefix = f"anthropic-ratelimit-{name}-"
                headers[prefix + "limit"] = str(limit)
                headers[prefix + "remaining"] = str(limit - 1)
                headers[prefix + "reset"] = reset
            self._second, self._headers = now, headers
        return self._headers
