"""Write a planned stream to the wire: pacing, pings, and the three ways to cut a stream short."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiohttp import web

from service.emulator.context import Clock
from service.emulator.faults import Fault
from service.emulator.sse import PING, error_frame
from service.emulator.wire import REQUEST_ID

_FLUSH_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Pacing:
    """Seconds: before the first content delta, per output token, fixed per delta, between pings."""

    ttft: float = 0.0
    per_token: float = 0.0
    per_delta: float | None = None
    ping_interval: float = 5.0

    @property
    def paced(self) -> bool:
        return self.ttft > 0 or self.per_token > 0 or bool(self.per_delta)


async def write_stream(
    request: web.Request,
    frames: list[tuple[bytes, int]],
    pacing: Pacing,
    fault: Fault,
    clock: Clock,
) -> web.StreamResponse:
    """Send ``frames`` as an SSE response, honouring ``pacing`` and cutting per ``fault``.

    Unpaced frames are coalesced into few large writes: each ``write()`` is a chunk and a
    drain, and the SDK cannot tell the difference.
    """
    response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
    response.headers["cache-control"] = "no-cache"
    # Chunked framing is what makes an abort visible to the client as an incomplete body.
    response.enable_chunked_encoding()
    await response.prepare(request)

    cut = fault.cut_after if fault.cut_after is not None else len(frames)
    # A client that hangs up mid-stream needs no answer; the request log still records it.
    with contextlib.suppress(ConnectionResetError):
        await _send(request, response, frames, cut, pacing, fault, clock)
    return response


async def _send(
    request: web.Request,
    response: web.StreamResponse,
    frames: list[tuple[bytes, int]],
    cut: int,
    pacing: Pacing,
    fault: Fault,
    clock: Clock,
) -> None:
    todo = frames[:cut]
    if pacing.paced:
        await _paced(response, todo, pacing, clock)
    else:
        await _unpaced(response, todo)

    if cut >= len(frames):
        pass  # complete stream; message_stop is already in ``frames``
    elif fault.cut_mode == "drop":
        # Abort without the terminating zero-length chunk: httpx2 raises RemoteProtocolError.
        if request.transport is not None:
            request.transport.abort()
        return
    elif fault.cut_mode == "sse_error":
        message = "Overloaded" if fault.sse_error_type == "overloaded_error" else fault.sse_error_type
        await response.write(error_frame(fault.sse_error_type, message, request.get(REQUEST_ID)))
    await response.write_eof()


async def _unpaced(response: web.StreamResponse, frames: list[tuple[bytes, int]]) -> None:
    buffer: list[bytes] = []
    size = 0
    for data, _ in frames:
        buffer.append(data)
        size += len(data)
        if size >= _FLUSH_BYTES:
            await response.write(b"".join(buffer))
            buffer, size = [], 0
    if buffer:
        await response.write(b"".join(buffer))


async def _paced(
    response: web.StreamResponse, frames: list[tuple[bytes, int]], pacing: Pacing, clock: Clock
) -> None:
    # Deadlines are absolute offsets from the start so sleep overshoot does not accumulate.
    start = clock.monotonic()
    due = 0.0
    first = True
    buffer: list[bytes] = []
    last_write = start
    for data, tokens in frames:
        if tokens:
            if first:
                due += pacing.ttft
                first = False
            elif pacing.per_delta is not None:
                due += pacing.per_delta
            else:
                due += tokens * pacing.per_token
            wait = start + due - clock.monotonic()
            if wait > 0:
                if buffer:
                    await response.write(b"".join(buffer))
                    buffer, last_write = [], clock.monotonic()
                last_write = await _sleep_with_pings(response, start + due, last_write, pacing, clock)
        buffer.append(data)
    if buffer:
        await response.write(b"".join(buffer))


async def _sleep_with_pings(
    response: web.StreamResponse, until: float, last_write: float, pacing: Pacing, clock: Clock
) -> float:
    """Sleep until ``until``; a ping goes out whenever ``ping_interval`` passes without a write
    (the real API does this so idle streams survive proxies and read timeouts)."""
    while True:
        now = clock.monotonic()
        next_ping = last_write + pacing.ping_interval if pacing.ping_interval > 0 else float("inf")
        if next_ping >= until:
            await clock.sleep(until - now)
            return last_write
        await clock.sleep(next_ping - now)
        await response.write(PING)
        last_write = clock.monotonic()
