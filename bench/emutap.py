"""The stock emulator in its own process, with an optional *emit log* for latency measurement.

    python -m bench.emutap --port P [--ttft-ms ...] [--emit-log PATH]

With ``--emit-log``, every write of a paced SSE stream is timestamped (``time.time()`` just before
the bytes go to the socket) and, at SIGTERM, dumped as ``{message_id: [[emit_time, piece_chars],
...]}`` with one row per non-ping SSE event. ``piece_chars`` is the length of a content delta's text
(-1 for other events), so coalesced DeltaEvents can be mapped back to the frames they merged.

The wire bytes are untouched (the SDK sees exactly what the stock emulator sends). The log wraps the
emulator's private ``stream._paced``; an opt-in emit log in ``service/emulator`` would be sturdier.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

from service.emulator import Emulator, EmulatorConfig
from service.emulator import stream as emu_stream

_WRITES: dict[str, list[tuple[float, bytes]]] = {}


class _TapResponse:
    __slots__ = ("_response", "_writes")

    def __init__(self, response: Any, writes: list[tuple[float, bytes]]) -> None:
        self._response = response
        self._writes = writes

    async def write(self, data: bytes) -> None:
        self._writes.append((time.time(), data))
        await self._response.write(data)


def _install_tap() -> None:
    original = emu_stream._paced

    async def tapped(response: Any, frames: list[tuple[bytes, int]], pacing: Any, clock: Any) -> None:
        head = frames[0][0]
        message_id = json.loads(head.split(b"data: ", 1)[1])["message"]["id"]
        writes: list[tuple[float, bytes]] = []
        _WRITES[message_id] = writes
        await original(_TapResponse(response, writes), frames, pacing, clock)

    emu_stream._paced = tapped  # type: ignore[assignment]


def _rows(writes: list[tuple[float, bytes]]) -> list[list[float]]:
    rows: list[list[float]] = []
    for when, data in writes:
        for frame in data.split(b"\n\n"):
            if not frame or frame.startswith(b"event: ping"):
                continue
            payload = json.loads(frame.split(b"data: ", 1)[1])
            chars = -1
            if payload.get("type") == "content_block_delta":
                delta = payload["delta"]
                for name in ("text", "partial_json", "thinking"):
                    if name in delta:
                        chars = len(delta[name])
            rows.append([when, chars])
    return rows


async def _main(args: argparse.Namespace) -> None:
    config = EmulatorConfig(
        port=args.port,
        ttft_ms=args.ttft_ms,
        tokens_per_second=args.tokens_per_second,
        output_tokens=args.output_tokens,
        tokens_per_delta=args.tokens_per_delta,
        seed=args.seed,
        models=None,
        require_auth=False,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Emulator(config) as emulator:
        print(f"emulator listening on {emulator.base_url}", flush=True)
        await stop.wait()
    if args.emit_log:
        with open(args.emit_log, "w") as out:  # noqa: ASYNC230 - once, after serving has stopped
            json.dump({mid: _rows(w) for mid, w in _WRITES.items()}, out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-second", type=float, default=0.0)
    parser.add_argument("--output-tokens", type=int, default=100)
    parser.add_argument("--tokens-per-delta", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--emit-log", default=None)
    args = parser.parse_args()
    if args.emit_log:
        _install_tap()
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
