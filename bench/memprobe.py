"""What an in-flight stream's memory is: tracemalloc and gc object counts of the service, in-process.

    python -m bench.memprobe [--streams 500] [--frames 12] [--top 25] [--bare | --compare]

Runs the same ``Runner`` as ``claude-kafka run`` in this process against the embedded broker and a slow
emulator (2 tokens/s, so every stream stays in flight), snapshots tracemalloc and ``gc`` at idle and
again with ``--streams`` streams in flight, and prints the difference per stream: by allocation site
(grouped by the innermost frame outside the standard library's asyncio/selectors, and by package), and
by object type. tracemalloc counts Python allocations only; RSS also holds allocator slack and the
kernel's socket buffers, which ``memory.py`` measures.

``--bare`` probes the witness instead: the bare SDK holding the same streams, read as
``bench.ratios``' RSS probe reads them. ``--compare`` runs both, each in its own process, and prints
what the service holds per stream beyond the bare SDK, by package and by object type (the figures
behind the RSS ratio of issue 19).
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
    tracing = tracemalloc.is_tracing()  # --frames 0: gc counts only, much faster
    # The idle snapshot first: its traces are tuples, which both type counts must include.
    snap0 = tracemalloc.take_snapshot() if tracing else None
    types0 = _types()
    ids0 = {id(o) for o in gc.get_objects()} if args.frames_report else set()
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
    return _summary(args, len(text), snap0, snap1, types0, types1) | {
        "in_flight_gauge": in_flight,
        "maxrss_kb_before_after": [rss0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss],
        "tasks": dict(tasks.most_common(8)),
        "new_tracebacks_and_frames": frames_report,
    }


def _summary(
    args: argparse.Namespace,
    prompt_bytes: int,
    snap0: tracemalloc.Snapshot | None,
    snap1: tracemalloc.Snapshot | None,
    types0: collections.Counter[str],
    types1: collections.Counter[str],
) -> dict[str, Any]:
    """The growth from idle to ``--streams`` in flight, per stream."""
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
        "prompt_bytes": prompt_bytes,
        "traced_bytes_per_stream": total / n,
        "by_package": {k: round(v / n) for k, v in by_package.most_common(args.top)},
        "by_site": {k: round(v / n) for k, v in by_site.most_common(args.top)},
        "objects_per_stream": dict(sorted(type_diff.items(), key=lambda kv: -kv[1])[: args.top]),
    }


async def probe_bare(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    """The same growth for the bare SDK holding ``--streams`` streams (``bench.ratios``' RSS probe)."""
    from bench import ratios

    text = "Benchmark prompt. " * max(1, args.prompt_bytes // 18)
    async with ratios._client(base_url, args.streams + 100) as client:
        warm = asyncio.create_task(ratios._read(client, ratios._body(text), [0]))
        await asyncio.sleep(1.0)  # the SDK's lazily built paths, outside the idle snapshot
        warm.cancel()
        await asyncio.gather(warm, return_exceptions=True)
        snap0 = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        types0 = _types()  # after the snapshot, as ``probe``'s
        seen = [0]
        # Each stream its own copy of the text, as each service prompt has its own record.
        tasks = [
            asyncio.create_task(ratios._read(client, ratios._body(text[:-1] + text[-1]), seen))
            for _ in range(args.streams)
        ]
        deadline = time.monotonic() + 300
        while seen[0] < args.streams * 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # message_start and a delta per stream, as the service's probe
        await asyncio.sleep(2.5)
        types1 = _types()
        snap1 = tracemalloc.take_snapshot() if snap0 is not None else None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return _summary(args, len(text), snap0, snap1, types0, types1)


def compare(service: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """What the service holds per stream beyond the bare SDK: by package and by object type."""

    def beyond(ours: dict[str, float], theirs: dict[str, float], at_least: float) -> dict[str, float]:
        keys = set(ours) | set(theirs)
        diff = {k: round(ours.get(k, 0) - theirs.get(k, 0), 1) for k in keys}
        return dict(sorted(((k, v) for k, v in diff.items() if abs(v) >= at_least), key=lambda kv: -kv[1]))

    return {
        "streams": service["streams"],
        "prompt_bytes": service["prompt_bytes"],
        "traced_bytes_per_stream": {
            "service": round(service["traced_bytes_per_stream"]),
            "bare_sdk": round(bare["traced_bytes_per_stream"]),
            "ratio": round(service["traced_bytes_per_stream"] / bare["traced_bytes_per_stream"], 3),
        },
        "bytes_beyond_bare_by_package": beyond(service["by_package"], bare["by_package"], 100),
        "objects_beyond_bare_by_type": beyond(service["objects_per_stream"], bare["objects_per_stream"], 0.9),
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
    parser.add_argument("--one-line", action="store_true", help=argparse.SUPPRESS)  # for --compare
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--bare", action="store_true", help="Probe the bare SDK instead of the service.")
    which.add_argument("--compare", action="store_true", help="Both, and what the service holds beyond.")
    args = parser.parse_args()
    if args.compare:
        # Each in its own process: neither's imports or caches in the other's snapshots. All entries
        # (``--top``), so that a package or type only one of them holds is still subtracted.
        common = [
            "--streams",
            str(args.streams),
            "--frames",
            str(args.frames),
            "--top",
            "100000",
            "--one-line",
        ]
        common += ["--prompt-bytes", str(args.prompt_bytes)]
        service = h.run_worker("bench.memprobe", *common, timeout=900)
        bare = h.run_worker("bench.memprobe", *common, "--bare", timeout=900)
        result = compare(service, bare)
    else:
        result = _probe_once(args)
    print(json.dumps(result, indent=None if args.one_line else 1))


def _probe_once(args: argparse.Namespace) -> dict[str, Any]:
    stack = h.Stack()
    try:
        emu = stack.start_emulator(tokens_per_second=2.0, output_tokens=400, tokens_per_delta=1)
        if args.bare:
            if args.frames:
                tracemalloc.start(args.frames)
            return asyncio.run(probe_bare(args, emu.base_url))
        bootstrap = stack.start_broker()
        h.create_topics(bootstrap, "probe")
        if args.frames:
            tracemalloc.start(args.frames)
        return asyncio.run(probe(args, bootstrap, emu.base_url))
    finally:
        stack.close()


if __name__ == "__main__":
    main()
