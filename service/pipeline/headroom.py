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
    next response says otherwise, and *paced*: the requests left are spread evenly until the reset.

    Pacing is what lets replicas share without talking: each sees the same falling ``remaining`` and
    slows down as it falls, whereas spending it at once would let every replica spend all of it (the
    burst right after a reset, when every waiting prompt wakes together, is the worst case)."""

    def __init__(self) -> None:
        self.latest: dict[str, Headroom] = {}
        self._left: dict[str, int] = {}
        self._next_request = 0.0
        self._last_request = 0.0

    def observe(self, headroom: Mapping[str, Headroom]) -> None:
        for kind, value in headroom.items():
            self.latest[kind] = value
            self._left[kind] = value.remaining
        requests = headroom.get("requests")
        if requests is not None and self._last_request:  # re-pace from the last start with what is left
            spread = (requests.reset - self._last_request) / max(1, requests.remaining)
            self._next_request = self._last_request + max(0.0, spread)

    def reserve(self, estimated_tokens: int, wall: float) -> float:
        """Seconds to wait before a request needing ``estimated_tokens`` input tokens (ask again after
        waiting); 0 means go, and the request is counted against what is left."""
        # Output tokens are unknown before the answer, so only these two are held back on.
        need = {"requests": 1, "input-tokens": estimated_tokens}
        wait = 0.0
        for kind, amount in need.items():
            value = self._current(kind, wall)
            if value is not None and self._left[kind] < amount:
                wait = max(wait, value.reset - wall)
        requests = self._current("requests", wall)
        if wait == 0 and requests is not None:
            wait = max(0.0, self._next_request - wall)
        if wait > 0:
            return wait
        if requests is not None:
            self._last_request = wall
            self._next_request = wall + (requests.reset - wall) / max(1, self._left["requests"])
        for kind, amount in need.items():
            if kind in self._left:
                self._left[kind] -= amount
        return 0.0

    def _current(self, kind: str, wall: float) -> Headroom | None:
        value = self.latest.get(kind)
        if value is not None and wall >= value.reset:
            # The window reset since that answer. Other replicas wake at the same reset, so assuming
            # it full would let each spend all of it: send one request, whose answer tells what is
            # really left (``observe`` re-paces), and renew the assumption a second later.
            left = 1 if kind == "requests" else value.limit
            value = Headroom(kind, value.limit, left, wall + STALE_RECHECK_SECONDS)
            self.latest[kind], self._left[kind] = value, left
        return value
