"""What an in-flight stream's memory is: tracemalloc and gc object counts of the service, in-process.

    python -m bench.memprobe [--streams 500] [--frames 12] [--top 25]

Runs the same ``Runner`` as ``claude-kafka run`` in this process against the embedded broker and a slow
emulator (2 tokens/s, so every stream stays in flight), snapshots tracemalloc and ``gc`` at idle and
again with ``--streams`` streams in flight, and prints the difference per stream: by allocation site
(grouped by the innermost frame outside the standard library's asyncio/selectors, and by package), and
by object type. tracemalloc counts Python allocations only; RSS also holds allocator slack and the
kernel's socket buffers, which ``memory.py`` measures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import resource
import sys
import time
import tracemalloc
import types
from typing import Any

from bench import harness as h


def _package(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            return rest if marker == "site-packages/" else "stdlib:" + rest.split("/", 1)[1]
    if "/service/" in filename:
        return "service:" + filename.split("/service/", 1)[1]
    return filename


def _where(obj: Any) -> str:
    """A traceback or frame as the code it stands in (``name:line``)."""
    frame = obj.tb_frame if isinstance(obj, types.TracebackType) else obj
    code = frame.f_code
    return f"{_package(code.co_filename)}:{code.co_qualname}:{frame.f_lineno}"


def _holders(obj: Any, depth: int = 3) -> str:
    """What keeps ``obj`` alive, by type, a few referrers deep (first referrer at each step)."""
    chain = []
    for _ in range(depth):
        referrers = [r for r in gc.get_referrers(obj) if not isinstance(r, list) or len(r) < 1000]
        if not referrers:
            break
        obj = referrers[0]
        chain.append(
            type(obj).__qualname__ + (f"({_where(obj)})" if isinstance(obj, types.FrameType) else "")
        )
    return " <- ".join(chain)


def _new_frames(before: set[int]) -> dict[str, dict[str, int]]:
    """Tracebacks and frames that appeared since ``before`` (ids), grouped by place and by holder."""
    gc.collect()
    out: dict[str, dict[str, int]] = {}
    for kind in (types.TracebackType, types.FrameType):
        found = [o for o in gc.get_objects() if isinstance(o, kind) and id(o) not in before]
        places = collections.Counter(_where(o) for o in found)
        held = collections.Counter(_holders(o) for o in found[:: max(1, len(found) // 200)])
        out[kind.__name__] = {
            **dict(places.most_common(12)),
            **{"held: " + k: v for k, v in held.most_common(6)},
        }
    return out


def _types() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


async def probe(args: argparse.Namespace, bootstrap: str, base_url: str) -> dict[str, Any]:
    from service.runner import Runner
    from service.settings import load_settings

    port = h.free_port()
    os.environ.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "KAFKA_GROUP_ID": f"memprobe-{time.monotonic_ns()}",
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "bench",
            "METRICS_PORT": str(port),
            "METRICS_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "MAX_IN_FLIGHT": str(args.streams + 10),
            "SHUTDOWN_GRACE_SECONDS": "1",
            **h.topic_env("probe"),
        }
    )
    runner = Runner(load_settings(env_file=None))
    serving = asyncio.create_task(runner.serve())

    def gauge(name: str) -> float:
        value = runner.metrics.registry.get_sample_value(f"claude_kafka_{name}")
        return value or 0.0

    async def until(predicate: Any, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            await asyncio.sleep(0.2)

    await until(lambda: gauge("assigned_partitions") > 0, 60, "group join")
    # Warm every lazily built path (one short round of streams) before the idle snapshot.
    await asyncio.sleep(1.0)
    types0 = _types()
    ids0 = {id(o) for o in gc.get_objects()} if args.frames_report else set()
    tracing = tracemalloc.is_tracing()  # --frames 0: gc counts only, much faster
    snap0 = tracemalloc.take_snapshot() if tracing else None
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ids = [f"probe-{i}" for i in range(args.streams)]
    topic = h.topic_names("probe")["prompts"]
    text = "Benchmark prompt. " * max(1, args.prompt_bytes // 18)
    items = [(i.encode(), h.prompt_value(i, text=text)) for i in ids]
    await h._produce(bootstrap, topic, items)
    await until(lambda: gauge("in_flight_prompts") >= args.streams, 120, "in flight")

    def started() -> float:
        value = runner.metrics.registry.get_sample_value(
            "claude_kafka_sse_events_total", {"type": "message_start"}
        )
        return value or 0.0

    # Every stream past message_start (tracemalloc slows the ramp), then its first deltas.
    await until(lambda: started() >= args.streams, 300, "message_start")
    await asyncio.sleep(2.5)
    types1 = _types()
    frames_report = _new_frames(ids0) if args.frames_report else {}
    tasks = collections.Counter(
        getattr(t.get_coro(), "__qualname__", repr(t.get_coro())) for t in asyncio.all_tasks()
    )
    snap1 = tracemalloc.take_snapshot() if tracing else None
    in_flight = gauge("in_flight_prompts")
    runner.request_stop()  # the drain a first SIGTERM starts
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(serving, 30)
    n = args.streams
    diff = snap1.compare_to(snap0, "traceback") if snap1 is not None and snap0 is not None else []
    by_site: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    for stat in diff:
        frames = list(stat.traceback)  # oldest first: the allocating frame is last
        innermost = frames[-1]
        outside = next((f for f in reversed(frames) if "stdlib:" not in _package(f.filename)), innermost)
        by_site[f"{_package(outside.filename)}:{outside.lineno} <- {_package(innermost.filename)}"] += (
            stat.size_diff
        )
        by_package[_package(innermost.filename).split("/")[0]] += stat.size_diff
    total = sum(s.size_diff for s in diff)
    type_diff = {k: (types1[k] - types0[k]) / n for k in types1 if types1[k] - types0[k] >= n / 2}
    return {
        "streams": n,
        "prompt_bytes": len(text),
        "in_flight_gauge": in_flight,
        "traced_bytes_per_stream": total / n,
        "maxrss_kb_before_after": [rss0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss],
        "by_package": {k: round(v / n) for k, v in by_package.most_common(args.top)},
        "by_site": {k: round(v / n) for k, v in by_site.most_common(args.top)},
        "tasks": dict(tasks.most_common(8)),
        "new_tracebacks_and_frames": frames_report,
        "objects_per_stream": dict(sorted(type_diff.items(), key=lambda kv: -kv[1])[: args.top]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--frames-report",
        action="store_true",
        help="Where the new tracebacks and frames are, and who holds them.",
    )
    parser.add_argument("--prompt-bytes", type=int, default=18, help="Size of each prompt's text.")
    args = parser.parse_args()
    stack = h.Stack()
    try:
        bootstrap = stack.start_broker()
        h.create_topics(bootstrap, "probe")
        emu = stack.start_emulator(tokens_per_second=2.0, output_tokens=400, tokens_per_delta=1)
        if args.frames:
            tracemalloc.start(args.frames)
        result = asyncio.run(probe(args, bootstrap, emu.base_url))
    finally:
        stack.close()
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
