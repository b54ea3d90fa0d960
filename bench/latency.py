"""Scenario 3: added latency under realistic pacing, coalescing off and at 10 ms.

Emission time comes from the emulator itself: ``bench.emutap`` timestamps each write of a paced SSE
stream (wall clock, just before the bytes go to the socket) without changing a byte on the wire.
A downstream consumer (its own process, ``fetch_max_wait_ms=5``) timestamps every record it reads.
Per DeltaEvent, *added latency* = read time - emit time of the first SSE event it carries (for a
coalesced delta, its earliest constituent, so the coalescing window counts against us). The Kafka
record timestamp (CreateTime, set by the service's producer at ``send``) splits it into a service
part (SSE bytes -> ``send``) and a Kafka part (``send`` -> consumer), both at 1 ms resolution.
Both clocks are the same host clock. Emulator scheduling lateness would count against us, too.

    python -m bench.latency consume --bootstrap B --deltas T --completions T --expect N --out PATH
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import harness as h

MERGEABLE = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}


async def consume(args: argparse.Namespace) -> None:
    """Read deltas and completions until ``expect`` completions; dump ``[t_read, create_ms, value]``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        args.deltas,
        args.completions,
        bootstrap_servers=args.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await consumer.start()
    rows: list[tuple[float, int, str, bytes]] = []
    completions = 0
    deadline = time.monotonic() + args.timeout
    Path(args.out + ".ready").touch()  # noqa: ASYNC240 - once, before consuming starts
    try:
        while completions < args.expect and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=10_000)
            now = time.time()
            for tp, records in batches.items():
                is_completion = tp.topic == args.completions
                for r in records:
                    rows.append((now, r.timestamp, "c" if is_completion else "d", r.value))
                    completions += is_completion
    finally:
        await consumer.stop()
    with open(args.out, "w") as out:  # noqa: ASYNC230 - once, after consuming has stopped
        for t, ts, kind, value in rows:
            out.write(json.dumps([t, ts, kind, value.decode()]) + "\n")
    print(json.dumps({"records": len(rows), "completions": completions}))


def start_consumer(
    stack: h.Stack, name: str, bootstrap: str, topics: dict[str, str], expect: int, dump: Path
) -> h.Child:
    """Start the timestamping downstream reader (``python -m bench.latency consume``); wait until it reads."""
    args = [
        sys.executable, "-m", "bench.latency", "consume", "--bootstrap", bootstrap,
        "--deltas", topics["deltas"], "--completions", topics["completions"],
        "--expect", str(expect), "--out", str(dump),
    ]  # fmt: skip
    consumer = stack.add(h.Child(name, args))
    h.wait_until(lambda: Path(str(dump) + ".ready").exists(), 30, what="consumer start")
    return consumer


def read_dump(path: Path) -> tuple[dict[str, list[tuple[float, int, dict[str, Any]]]], dict[str, float]]:
    """Per custom_id: ``(read_time, create_ms, delta_event)`` by seq; and completion read times."""
    deltas: dict[str, list[tuple[float, int, dict[str, Any]]]] = {}
    completed: dict[str, float] = {}
    with open(path) as f:
        for line in f:
            t, ts, kind, value = json.loads(line)
            event = json.loads(value)
            if kind == "c":
                completed[event["custom_id"]] = t
            else:
                deltas.setdefault(event["custom_id"], []).append((t, ts, event))
    for rows in deltas.values():
        rows.sort(key=lambda row: row[2]["seq"])
    return deltas, completed


def added_latency(
    deltas: dict[str, list[tuple[float, int, dict[str, Any]]]], emit: dict[str, list[list[float]]]
) -> dict[str, list[float]]:
    """Milliseconds per DeltaEvent: total, service part, Kafka part (see the module docstring)."""
    total: list[float] = []
    service: list[float] = []
    kafka: list[float] = []
    for rows in deltas.values():
        message_id = rows[0][2]["event"]["message"]["id"]
        frames = emit[message_id]
        j = 0
        for read, create_ms, delta in rows:
            event = delta["event"]
            first = frames[j][0]
            field = (
                MERGEABLE.get(event.get("delta", {}).get("type", ""))
                if event["type"] == "content_block_delta"
                else None
            )
            if field is None:
                j += 1
            else:
                want, got = len(event["delta"][field]), 0
                while True:
                    got += max(0, int(frames[j][1]))
                    j += 1
                    if got >= want:
                        break
            total.append((read - first) * 1000)
            service.append(create_ms - first * 1000)
            kafka.append(read * 1000 - create_ms)
    return {"total": total, "service": service, "kafka": kafka}


def _split(
    rows: dict[str, list[tuple[float, int, dict[str, Any]]]], level: int
) -> dict[str, list[tuple[float, int, dict[str, Any]]]]:
    prefix = f"lat-{level}-"
    return {cid: r for cid, r in rows.items() if cid.startswith(prefix)}


def busy_cores() -> float:
    """CPU seconds the whole box has been busy (every core), since boot."""
    t = psutil.cpu_times()
    return float(t.user + t.system + t.nice + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def run_curve(
    broker: h.Stack,
    bootstrap: str,
    coalesce_ms: int,
    levels: tuple[int, ...],
    seconds: float,
    tokens: int,
    service_env: dict[str, str] | None = None,
    warmup: int = 0,
) -> list[dict[str, Any]]:
    """One service, emulator and consumer; one phase per level of concurrency, lowest first.

    A phase offers prompts at the steady rate that keeps ``level`` streams in flight (Little's law)
    for ``seconds`` and ends when the service has finished all of them, so phases do not overlap.
    The service's MAX_IN_FLIGHT is the top level: when the box saturates, streams queue inside the
    service (and count as added latency) rather than in the prompts topic (which would not).
    """
    stack = h.Stack()
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    emit_path, dump = work / "emit.json", work / "records.jsonl"
    plan = [(level, int(level / (0.4 + tokens / 80) * seconds)) for level in levels]
    try:
        prefix = f"lat{coalesce_ms}-{time.monotonic_ns()}"
        topics = h.create_topics(bootstrap, prefix)
        emu = stack.start_emulator(
            ttft_ms=400,
            tokens_per_second=80,
            output_tokens=tokens,
            tokens_per_delta=None,
            emit_log=emit_path,
            name=f"emulator-lat{coalesce_ms}",
        )
        consumer = start_consumer(
            stack, f"consumer-lat{coalesce_ms}", bootstrap, topics, warmup + sum(n for _, n in plan), dump
        )
        env = {
            "MAX_IN_FLIGHT": str(max(levels)),
            "DELTA_COALESCE_MS": str(coalesce_ms),
            **h.topic_env(prefix),
            **(service_env or {}),
        }
        service, port = stack.start_service(bootstrap, emu.base_url, env, name=f"service-lat{coalesce_ms}")
        h.wait_assigned(port)
        done = 0
        if warmup:
            # The SDK's lazy imports and first-request paths, outside every phase (the bare-SDK probe
            # of bench/ratios.py warms up the same way).
            h.produce_prompts(bootstrap, (f"warm-{i}" for i in range(warmup)), topics["prompts"])
            done = warmup
            h.wait_until(
                lambda: h.counter(h.scrape(port), "claude_kafka_prompts_finished_total") >= warmup,
                60,
                0.25,
                "warm-up prompts finished",
            )
        phases: list[dict[str, Any]] = []
        for level, prompts in plan:
            rate = level / (0.4 + tokens / 80)
            cpu0, busy0 = service.cpu_seconds(), busy_cores()
            others0 = {**stack.cpu_by_process(), **broker.cpu_by_process()}
            ids = (f"lat-{level}-{i}" for i in range(prompts))
            started = h.produce_paced(bootstrap, ids, topics["prompts"], rate)
            done += prompts
            h.wait_until(
                lambda d=done: h.counter(h.scrape(port), "claude_kafka_prompts_finished_total") >= d,
                120,
                0.25,  # each scrape renders /metrics in the service: polled slowly so it costs ~nothing
                f"{level}-stream phase finished",
            )
            elapsed = time.time() - started
            others = {**stack.cpu_by_process(), **broker.cpu_by_process()}
            phase: dict[str, Any] = {
                "streams": level,
                "prompts": prompts,
                "offered_prompts_per_s": rate,
                "started": started,
                "elapsed_s": elapsed,
                "service_cpu_utilisation": (service.cpu_seconds() - cpu0) / elapsed,
                "service_cpu_s": service.cpu_seconds() - cpu0,
                "box_busy_cores": (busy_cores() - busy0) / elapsed,
                "cpu_utilisation_by_process": {
                    k: round((others[k] - v) / elapsed, 3) for k, v in others0.items() if k in others
                },
            }
            phases.append(phase)
            h.log(f"  {level} streams: service CPU {phase['service_cpu_utilisation']:.0%}")
        h.wait_until(lambda: not consumer.alive(), 120, 0.2, "all completions read")
        stack.close()  # the emulator writes its emit log on SIGTERM
        deltas, completed = read_dump(dump)
        emit = json.loads(emit_path.read_text())
        points = []
        for phase in phases:
            level = phase["streams"]
            rows = _split(deltas, level)
            ms = added_latency(rows, emit)
            events = sum(len(r) for r in rows.values())
            ends = [t for cid, t in completed.items() if cid.startswith(f"lat-{level}-")]
            points.append(
                {
                    **{k: v for k, v in phase.items() if k != "started"},
                    "coalesce_ms": coalesce_ms,
                    "added_latency_ms": h.percentiles(ms["total"]),
                    "service_part_ms": h.percentiles(ms["service"]),
                    "kafka_part_ms": h.percentiles(ms["kafka"]),
                    "delta_events": events,
                    "completions": len(ends),
                    "prompts_per_s": len(ends) / (max(ends) - phase["started"]) if ends else 0,
                    "cpu_s_per_1000_deltas": phase["service_cpu_s"] / events * 1000 if events else None,
                }
            )
        return points
    finally:
        stack.close()


def run(quick: bool) -> dict[str, Any]:
    levels, seconds, tokens = (
        ((10, 25, 50, 100), 2.0, 120) if quick else ((10, 25, 50, 100, 250, 500), 8.0, 200)
    )
    headline = 100 if quick else 500
    stack = h.Stack()
    curves: list[dict[str, Any]] = []
    try:
        bootstrap = stack.start_broker()
        for coalesce in (0, 10):
            # Quick mode: the full curve with coalescing off, two points with it on (time budget).
            at = levels if coalesce == 0 or not quick else (levels[0], headline)
            h.log(f"scenario 3: added latency at {at} streams, coalescing {coalesce} ms")
            points = run_curve(stack, bootstrap, coalesce, at, seconds, tokens)
            for p in points:
                a = p["added_latency_ms"]
                h.log(f"  {p['streams']} streams: p50 {a['p50']} ms, p99 {a['p99']} ms, max {a['max']} ms")
            curves.append({"coalesce_ms": coalesce, "points": points})
    finally:
        stack.close()
    return {
        "config": {
            "ttft_ms": 400,
            "tokens_per_second": 80,
            "output_tokens": tokens,
            "tokens_per_delta": "1..3",
            "levels": list(levels),
            "seconds_per_level": seconds,
            "streams": headline,
            "consumer_fetch_max_wait_ms": 5,
            "cores": psutil.cpu_count(),
            "quick": quick,
        },
        "curves": curves,
        # The headline level per coalescing setting (the summary table and rq_compare read these).
        "variants": [next(p for p in c["points"] if p["streams"] == headline) for c in curves],
        "goal_p99_ms": 20,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["consume"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--deltas", required=True)
    parser.add_argument("--completions", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    main()
