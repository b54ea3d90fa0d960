"""An organisation rate limit shared by every client of one emulator, told through the API's headers.

With ``EmulatorConfig.org_requests_limit`` / ``org_input_tokens_limit`` set, ``POST /v1/messages``
counts requests and input tokens in fixed windows of ``org_limit_window_s`` (the real API's limits are
per minute; tests shrink the window). Every answer then carries that window's
``anthropic-ratelimit-{requests,input-tokens}-{limit,remaining,reset}`` (``reset`` an RFC 3339 time, as
documented in https://docs.claude.com/en/api/rate-limits#response-headers), and a request over the
limit gets 429 ``rate_limit_error`` with ``retry-after`` (whole seconds, rounded up) until the reset.
Two service instances on one emulator therefore share one organisation's limit, as on the real API.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from service.emulator.errors import ApiError


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OrgLimits:
    def __init__(self, requests: int | None, input_tokens: int | None, window: float) -> None:
        self.limits = {"requests": requests, "input-tokens": input_tokens}
        self.window = window
        self._start = 0.0
        self._used = {"requests": 0, "input-tokens": 0}
        self.refused = 0

    @property
    def active(self) -> bool:
        return any(v is not None for v in self.limits.values())

    def take(self, input_tokens: int, now: float) -> dict[str, str]:
        """Count one request at ``now`` (epoch seconds); its headers, or raise the 429 it gets."""
        if now >= self._start + self.window:
            self._start = now - (now % self.window)
            self._used = dict.fromkeys(self._used, 0)
        reset = self._start + self.window
        wanted = {"requests": 1, "input-tokens": input_tokens}
        over = any(
            limit is not None and self._used[kind] + wanted[kind] > limit
            for kind, limit in self.limits.items()
        )
        if not over:
            for kind in self._used:
                self._used[kind] += wanted[kind]
        headers: dict[str, str] = {}
        for kind, limit in self.limits.items():
            if limit is None:
                continue
            prefix = f"anthropic-ratelimit-{kind}-"
            headers[prefix + "limit"] = str(limit)
            headers[prefix + "remaining"] = str(max(0, limit - self._used[kind]))
            headers[prefix + "reset"] = rfc3339(reset)
        if over:
            self.refused += 1
            headers["retry-after"] = str(max(1, math.ceil(reset - now)))
            raise ApiError("rate_limit_error", status=429, headers=headers)
        return headers
