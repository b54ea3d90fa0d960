"""The organisation's rate-limit headroom, as every API response reports it. Pure.

Headers (https://docs.claude.com/en/api/rate-limits#response-headers; the SDK does not read them):
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``, the reset
an RFC 3339 time. The limits belong to the organisation, so replicas that each respect what the API
says they have left share one limit without talking to each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
STALE_RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Headroom:
    kind: str
    limit: int
    remaining: int
    reset: float  # epoch seconds


def read_headroom(headers: Mapping[str, str]) -> dict[str, Headroom]:
    """Every kind whose three headers are present and well formed (anything else is ignored)."""
    out = {}
    for kind in KINDS:
        prefix = f"anthropic-ratelimit-{kind}-"
        try:
            limit = int(headers[prefix + "limit"])
            remaining = int(headers[prefix + "remaining"])
            reset = datetime.fromisoformat(headers[prefix + "reset"]).timestamp()
        except (KeyError, ValueError):
            continue
        out[kind] = Headroom(kind, limit, remaining, reset)
    return out


class ServerLimits:
    """The latest headroom per kind, spent down locally by each request this process starts until the
    next response says otherwise (so one stale answer does not let every waiting prompt through)."""

    def __init__(self) -> None:
        self.latest: dict[str, Headroom] = {}
        self._left: dict[str, int] = {}

    def observe(self, headroom: Mapping[str, Headroom]) -> None:
        for kind, value in headroom.items():
            self.latest[kind] = value
            self._left[kind] = value.remaining

    def reserve(self, estimated_tokens: int, wall: float) -> float:
        """Seconds to wait before a request needing ``estimated_tokens`` input tokens; 0 means go, and
        the request is counted against what is left."""
        # Output tokens are unknown before the answer, so only these two are held back on.
        need = {"requests": 1, "input-tokens": estimated_tokens}
        wait = 0.0
        for kind, amount in need.items():
            value = self.latest.get(kind)
            if value is None:
                continue
            if wall >= value.reset:
                # The window reset since that answer: assume it is full until a response says more
                # (a second at most: then the assumption is renewed).
                value = Headroom(kind, value.limit, value.limit, wall + STALE_RECHECK_SECONDS)
                self.latest[kind], self._left[kind] = value, value.limit
            if self._left[kind] < amount:
                wait = max(wait, value.reset - wall)
        if wait == 0:
            for kind, amount in need.items():
                if kind in self._left:
                    self._left[kind] -= amount
        return wait
