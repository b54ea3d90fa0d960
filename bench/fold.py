"""Per-event cost of the pipeline's fold against the SDK's ``accumulate_event`` on one stream.

The fold runs once per SSE event on the hot path, so this decides whether the pipeline may simply
delegate to the SDK (see ``service/pipeline/accumulate.py``).

    python -m bench.fold [--tokens 2000]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from typing import Any

from anthropic.lib.streaming._messages import accumulate_event

from service.emulator.generate import plan_message
from service.emulator.sse import stream_frames
from service.pipeline.accumulate import MessageAccumulator


def events(tokens: int) -> list[dict[str, Any]]:
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": tokens + 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    plan = plan_message(body, seed=1, output_tokens=tokens, tokens_per_delta=1)
    out = []
    for data, _ in stream_frames(plan):
        line = next(x for x in data.decode().split("\n") if x.startswith("data: "))
        out.append(json.loads(line[len("data: ") :]))
    return out


def ours(stream: list[dict[str, Any]]) -> None:
    accumulator = MessageAccumulator()
    for event in stream:
        accumulator.add(event)


def sdk(stream: list[dict[str, Any]]) -> None:
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in stream:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]


def per_event_us(fold: Any, stream: list[dict[str, Any]], rounds: int) -> float:
    copies = [copy.deepcopy(stream) for _ in range(rounds)]
    started = time.perf_counter()
    for c in copies:
        fold(c)
    return (time.perf_counter() - started) / (rounds * len(stream)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    stream = events(args.tokens)
    result = {
        "events": len(stream),
        "ours_us_per_event": round(per_event_us(ours, stream, args.rounds), 3),
        "sdk_us_per_event": round(per_event_us(sdk, stream, args.rounds), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
