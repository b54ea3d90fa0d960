"""Fault injection: directive grammar, per-key ``times`` bookkeeping and rate draws. Pure.

A directive rides in ``metadata.user_id`` (anywhere in it, starting at ``emu:`` up to the next
whitespace) or in the ``x-emulator-fault`` header (``emu:`` optional; the header wins)::

    emu:status=529                          HTTP 529 overloaded_error (the SDK retries it)
    emu:status=429;retry_after=1            429 with ``retry-after: 1``
    emu:status=429;retry_after_ms=50        429 with ``retry-after-ms: 50`` (and ``retry-after: 1``)
    emu:status=500                          500 api_error; any status works, the type follows it
    emu:status=400;error=invalid_request_error;message=nope;should_retry=false
    emu:status=429;code=enforced_spend_limit_reached   429 with ``error.details.error_code`` (a code
                                            from SDK 2.15's ``_error_classes.ERROR_CLASSES``); a
                                            coded 429 gets no default ``retry-after``, like the real
                                            tier spend cap (platform.claude.com/docs/en/api/errors)
    emu:drop_after=5                        stream: abort the chunked body after 5 SSE events
                                            (the SDK raises a raw httpx2 RemoteProtocolError)
    emu:truncate_after=5                    stream: end the body cleanly after 5 events, no message_stop
    emu:sse_error_after=3;error=overloaded_error   stream: ``event: error`` after 3 events, then end
    emu:ttft_ms=1500                        delay before the first content delta
    emu:slow_ms=50                          delay before every content delta (instead of the tps pace)
    emu:shape=orphan_delta                  stream: an odd shape no real stream has (see ``SHAPES``), to
                                            test the service's crash barrier
    emu:pause_turns=2                       server tools: pause the first 2 turns (``pause_turn``)
    emu:refusal=cyber                       stop with ``refusal`` and stop_details (``none``: no category)
    emu:tool_error=max_uses_exceeded        every server tool result is an error with that code
    emu:tool_rounds=3                       client tools: call the mentioned tools again until 3 turns
                                            of tool results are in the history (default 1)
    emu:context_window=500                  output past 500 context tokens: model_context_window_exceeded
    ...;times=2;key=job-7                   inject only on the first 2 requests carrying key ``job-7``,
                                            then behave normally (default key: the directive text)

Values contain no ``;`` or whitespace. Event counts include ``message_start`` and the ping that
follows it. A malformed directive is answered with 400 so typos do not pass silently.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, replace

from service.emulator.config import FaultRates
from service.emulator.errors import TYPE_OF, ApiError, invalid_request
from service.emulator.features import CONTEXT_WINDOW, Behaviour

HEADER = "x-emulator-fault"
_IN_TEXT = re.compile(r"emu:(\S+)")
_INT_KEYS = frozenset(
    {
        "status",
        "drop_after",
        "truncate_after",
        "sse_error_after",
        "times",
        "pause_turns",
        "context_window",
        "tool_rounds",
    }
)
_FLOAT_KEYS = frozenset({"retry_after", "retry_after_ms", "ttft_ms", "slow_ms"})
_STR_KEYS = frozenset({"error", "message", "key", "should_retry", "code", "shape", "refusal", "tool_error"})
SHAPES = {
    # A content_block_delta for an index no content_block_start opened, right after message_start.
    # The SDK's own accumulator fails on it too (IndexError): it breaks a stream fold on purpose.
    "orphan_delta": "a delta for a block that was never started",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to one request. ``kind`` is the stats label; ``None`` means no fault."""

    kind: str | None = None
    error: ApiError | None = None  # answer with this HTTP error instead of a message
    cut_after: int | None = None  # stream: stop after this many events ...
    cut_mode: str = "drop"  # ... by "drop" (abort), "truncate" (clean end) or "sse_error"
    sse_error_type: str = "overloaded_error"
    ttft_ms: float | None = None  # replaces the configured TTFT
    slow_ms: float | None = None  # fixed delay per content delta
    shape: str | None = None  # stream: one of ``SHAPES``

    @property
    def any(self) -> bool:
        return self.kind is not None


NO_FAULT = Fault()


@dataclass(frozen=True, slots=True)
class Directive:
    text: str
    values: dict[str, int | float | str]

    @property
    def key(self) -> str:
        return str(self.values.get("key", self.text))

    @property
    def times(self) -> int | None:
        times = self.values.get("times")
        return int(times) if times is not None else None


def find_directive(header: str | None, user_id: str | None) -> str | None:
    """The directive text (without ``emu:``) from the header, else from ``metadata.user_id``."""
    if header:
        header = header.strip()
        return header[4:] if header.startswith("emu:") else header
    if user_id:
        match = _IN_TEXT.search(user_id)
        if match:
            return match.group(1)
    return None


def parse_directive(text: str) -> Directive:
    """Parse ``k=v;k=v``; raises :class:`ApiError` (400) on unknown keys or bad values."""
    values: dict[str, int | float | str] = {}
    for part in filter(None, text.split(";")):
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep:
            raise invalid_request(f"emulator fault directive: expected key=value, got {part!r}")
        try:
            if name in _INT_KEYS:
                values[name] = int(raw)
            elif name in _FLOAT_KEYS:
                values[name] = float(raw)
            elif name in _STR_KEYS:
                values[name] = raw
            else:
                raise invalid_request(f"emulator fault directive: unknown key {name!r}")
        except ValueError:
            raise invalid_request(f"emulator fault directive: bad value for {name!r}: {raw!r}") from None
    if "shape" in values and values["shape"] not in SHAPES:
        known = ", ".join(SHAPES)
        raise invalid_request(f"emulator fault directive: unknown shape {values['shape']!r} (known: {known})")
    return Directive(text, values)


def directive_behaviour(directive: Directive) -> Behaviour:
    """What the API decides for the request (server-tool pauses, refusals, the context window)."""
    v = directive.values
    return Behaviour(
        pause_turns=int(v.get("pause_turns", 0)),
        refusal=str(v["refusal"]) if "refusal" in v else None,
        context_window=int(v.get("context_window", CONTEXT_WINDOW)),
        tool_error=str(v["tool_error"]) if "tool_error" in v else None,
        tool_rounds=int(v.get("tool_rounds", 1)),
    )


def directive_fault(directive: Directive, *, stream: bool, default_retry_after_s: float) -> Fault:
    """The fault a directive asks for (``times`` is the caller's business, see :class:`FaultBook`)."""
    v = directive.values
    fault = NO_FAULT
    if "status" in v:
        status = int(v["status"])
        type_ = str(
            v.get("error", TYPE_OF.get(status, "api_error" if status >= 500 else "invalid_request_error"))
        )
        headers: dict[str, str] = {}
        if "retry_after_ms" in v:
            ms = float(v["retry_after_ms"])
            headers["retry-after-ms"] = _num(ms)
            headers["retry-after"] = str(max(1, int(-(-ms // 1000))))
        elif "retry_after" in v:
            headers["retry-after"] = _num(float(v["retry_after"]))
        elif status == 429 and "code" not in v:
            headers["retry-after"] = _num(default_retry_after_s)
        if "should_retry" in v:
            headers["x-should-retry"] = (
                "true" if str(v["should_retry"]).lower() in ("1", "true", "yes") else "false"
            )
        message = str(v["message"]) if "message" in v else None
        code = str(v["code"]) if "code" in v else None
        error = ApiError(type_, message, status=status, headers=headers, code=code)
        return Fault(kind=f"status_{status}", error=error)
    if stream:
        for key, mode in (
            ("drop_after", "drop"),
            ("truncate_after", "truncate"),
            ("sse_error_after", "sse_error"),
        ):
            if key in v:
                error_type = str(v.get("error", "overloaded_error"))
                fault = Fault(kind=mode, cut_after=int(v[key]), cut_mode=mode, sse_error_type=error_type)
                break
    if stream and "shape" in v:
        fault = replace(fault, kind=fault.kind or f"shape_{v['shape']}", shape=str(v["shape"]))
    if "ttft_ms" in v:
        fault = replace(fault, kind=fault.kind or "slow_first_token", ttft_ms=float(v["ttft_ms"]))
    if "slow_ms" in v:
        fault = replace(fault, kind=fault.kind or "slow_delta", slow_ms=float(v["slow_ms"]))
    return fault


def rate_fault(
    rates: FaultRates, rng: random.Random, *, stream: bool, retry_after_s: float, slow_ms: float
) -> Fault:
    """Draw at most one fault from ``rates``. Always consumes the same number of draws per call,
    so the fault sequence depends only on the seed and the order of requests."""
    roll, cut, slow = rng.random(), rng.randint(2, 8), rng.random()
    edge = 0.0
    for status, rate in ((529, rates.status_529), (429, rates.status_429), (500, rates.status_500)):
        edge += rate
        if roll < edge:
            headers = {"retry-after": _num(retry_after_s)} if status == 429 else {}
            return Fault(
                kind=f"status_{status}", error=ApiError(TYPE_OF[status], status=status, headers=headers)
            )
    for mode, rate in (("drop", rates.drop), ("sse_error", rates.sse_error)):
        edge += rate
        if roll < edge and stream:
            return Fault(kind=mode, cut_after=cut, cut_mode=mode)
    if slow < rates.slow_first_token:
        return Fault(kind="slow_first_token", ttft_ms=slow_ms)
    return NO_FAULT


class FaultBook:
    """Remembers how many requests carried each directive key, to honour ``times=N``."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, directive: Directive) -> bool:
        """Count one request for the directive's key; True if the fault should be injected."""
        times = directive.times
        with self._lock:
            seen = self._seen[directive.key]
            self._seen[directive.key] = seen + 1
        return times is None or seen < times


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
