"""Scenario 6: the service as a ratio to the bare SDK and raw aiokafka, measured in the same run.

Every figure here is a ratio of two processes measured one after the other on the same broker and
the same emulator pacing, so the box's noise (2 shared cores) cancels out as far as it can:

- **CPU per delta, paced** (TTFT 400 ms, 80 tokens/s, 1-3 tokens per delta) at 100, 250 and 500
  streams: ``claude-kafka run``'s CPU seconds per DeltaEvent (psutil, the whole phase: ramp, steady,
  drain; ``latency.run_curve``) divided by the floor = the bare SDK's CPU per SSE event at the same
  arrivals (``python -m bench.ratios sdk-paced``: ``AsyncAnthropic(http_client=<the service's
  transport>).messages.create(stream=True)`` + ``raw_events`` + ``json.loads``, nothing else) plus raw
  aiokafka's CPU per delta in the same produce pattern (``python -m bench.ratios producer-paced``: the
  same arrivals, each prompt's delta-sized records sent one at a time over the answer's duration and
  then its completion, with the service's producer settings (``service/kafka/config.py``: linger 2 ms,
  ``acks=all``), keyed by custom_id over topics of the same partition count; measured per level in
  the same run, minus the CPU of the same schedule without Kafka). Paced, aiokafka sends near one
  record per batch, which costs several times the zero-pacing figure (``bench.ceilings producer``,
  full batches), so that figure is kept only for the throughput ratio.
- **RSS per in-flight stream** at 1,000 slow streams (2 tokens/s), 1 KB and 8 KB prompts: the service
  (fresh process per size) against ``python -m bench.ratios sdk-rss`` holding the same streams open.
  Both are (RSS with the streams open - idle RSS) / streams.
- **Service part of the added latency**, p99 at 250 streams (from the same curve as the CPU figures),
  beside the bare SDK's own: each SSE event's emit (the emulator's log) to the bare-SDK probe's read
  of it, at the same arrivals (``sdk-paced --read-log``), which no service built on the SDK can beat.
- **Zero-pacing throughput** against the combined ceiling 1 / (1/producer + 1/bare SDK) (prompts/s).

The bare SDK uses ``ANTHROPIC_HTTP_TRANSPORT`` (default ``aiohttp``, the service's default).
The service runs with ``RATE_LIMIT_FROM_HEADERS=false``, as the bare SDK has no such pacing: the
emulator advertises 4,000 requests a minute (``service/emulator/wire.py``), and spreading those evenly
caps a header-respecting service at ~66 requests/s, below the 131 and 263 requests/s that keep 250
and 500 streams in flight.

    python -m bench.ratios sdk-paced --base-url U --streams N --tokens T --seconds S
    python -m bench.ratios sdk-rss --base-url U --streams N --prompt-bytes B
    python -m bench.ratios memory      # the RSS section alone (both prompt sizes), on its own broker
    python -m bench.ratios producer-paced --base-url U --bootstrap B --deltas-topic T --completions-topic T2
        --streams N --tokens T --seconds S
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench import harness as h
from bench import latency, throughput

LEVELS = (100, 250, 500)
RSS_STREAMS = 1000
PROMPT_BYTES = (1024, 8192)
CPU_GOAL = 1.3
RSS_GOAL = 1.2
LATENCY_GOAL_MS = 5.0
# See the module docstring; RATE_LIMIT_FROM_HEADERS=true in the bench's environment measures with it.
SERVICE_ENV = {"RATE_LIMIT_FROM_HEADERS": os.environ.get("RATE_LIMIT_FROM_HEADERS", "false")}
WARMUP = 8  # prompts each process streams before it is measured (imports, first-request paths)
THROUGHPUT_GOAL = 0.9


def transport() -> str:
    return os.environ.get("ANTHROPIC_HTTP_TRANSPORT", "aiohttp")


def prompt_text(size: int) -> str:
    return ("Benchmark prompt. " * (size // 18 + 1))[:size]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _client(base_url: str, connections: int) -> Any:
    return h.sdk_client(base_url, transport(), connections)


def _body(text: str) -> dict[str, Any]:
    return {"model": h.MODEL, "max_tokens": 4096, "messages": [{"role": "user", "content": text}]}


async def _read(
    client: Any, body: dict[str, Any], seen: list[int], reads: dict[str, list[float]] | None = None
) -> None:
    """One stream, read as the service reads it; ``reads`` gets each event's read time by message id."""
    from anthropic import AsyncStream

    response = await client.messages.create(**body, stream=True)
    times: list[float] = []
    try:
        async for sse in AsyncStream.raw_events(response.response):
            if sse.event == "ping" or not sse.data:
                continue
            if reads is not None:
                times.append(time.time())  # the clock of the emulator's emit log and of CreateTime
            event = json.loads(sse.data)
            if reads is not None and event["type"] == "message_start":
                reads[event["message"]["id"]] = times
            seen[0] += 1
    finally:
        await response.close()


async def _paced(
    rate: float, prompts: int, start: Callable[[int], Coroutine[Any, Any, None]]
) -> tuple[float, float]:
    """Start ``start(i)`` for ``prompts`` prompts at ``rate`` a second (``latency.run_curve``'s steady
    arrivals); CPU seconds and wall seconds until all have finished."""
    loop = asyncio.get_running_loop()
    started, cpu0 = loop.time(), _cpu()
    tasks = []
    for i in range(prompts):
        delay = started + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start(i)))
    await asyncio.gather(*tasks)
    return _cpu() - cpu0, loop.time() - started


async def sdk_paced(args: argparse.Namespace) -> dict[str, Any]:
    """The arrivals of ``latency.run_curve``'s phase (steady, Little's law), bare SDK only."""
    body = _body("Benchmark prompt.")
    rate = args.streams / (0.4 + args.tokens / 80)
    prompts = int(rate * args.seconds)
    async with _client(args.base_url, args.streams + 100) as client:
        # imports and first-request paths, outside the window, as the service's warm-up prompts
        await asyncio.gather(*(_read(client, body, [0]) for _ in range(WARMUP)))
        seen = [0]
        reads: dict[str, list[float]] = {}
        busy0 = latency.busy_cores()
        cpu_s, elapsed = await _paced(rate, prompts, lambda _: _read(client, body, seen, reads))
        box_busy = (latency.busy_cores() - busy0) / elapsed
    if args.read_log:
        with open(args.read_log, "w") as out:  # noqa: ASYNC230 - once, after every stream has ended
            json.dump(reads, out)
    return {
        "streams": args.streams,
        "prompts": prompts,
        "events": seen[0],
        "elapsed_s": elapsed,
        "cpu_s": cpu_s,
        "cpu_us_per_event": cpu_s / seen[0] * 1e6,
        "box_busy_cores": box_busy,  # the emulator and this probe: what the read latency was measured on
        "transport": transport(),
    }


async def producer_paced(args: argparse.Namespace) -> dict[str, Any]:
    """Raw aiokafka in the service's produce pattern at one level, with the service's producer settings.

    Prompts start at the steady rate of ``latency.run_curve``'s phase; each waits the TTFT, sends its
    deltas one at a time spread over the answer's duration (80 tokens/s), then its CompletionEvent,
    and waits for the last delta's and the completion's acknowledgements (``Outputs.acknowledged``).
    The same schedule runs first without Kafka: the difference in CPU is what the encoder and
    aiokafka cost per delta, without the loop wake-ups the bare-SDK probe already counts."""
    from aiokafka import AIOKafkaProducer

    from bench.ceilings import sample_records
    from service.kafka.config import producer_kwargs
    from service.pipeline.deltas import DeltaEncoder
    from service.settings import load_settings

    texts, completion = await sample_records(args.base_url)
    rate = args.streams / (0.4 + args.tokens / 80)
    prompts = int(rate * args.seconds)
    gap = args.tokens / 80 / len(texts)
    source = b"/claude-kafka/bench"
    settings = load_settings(
        env_file=None, kafka={"bootstrap_servers": args.bootstrap, "enable_idempotence": False}
    )
    kafka = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    await kafka.start()

    async def prompt(custom_id: str, send: bool) -> None:
        await asyncio.sleep(0.4)
        encoder = DeltaEncoder(custom_id, 1, 1, {}, source, ())  # no trace headers, as the bench's service
        futures = []
        for text in texts:
            await asyncio.sleep(gap)
            if send:
                value, headers = encoder.encode(text)
                futures.append(await kafka.send(args.deltas_topic, value, key=encoder.key, headers=headers))
        if send:
            final = await kafka.send(args.completions_topic, completion, key=encoder.key, headers=headers)
            await asyncio.gather(futures[-1], final)
            for future in futures:  # done by now (a partition acknowledges in order), as the service checks
                if not future.done():
                    await future

    async def phase(send: bool) -> tuple[float, float]:
        return await _paced(rate, prompts, lambda i: prompt(f"paced-{send}-{i}", send))

    try:
        # the first sends fetch metadata and open connections: outside the window
        await asyncio.gather(
            *[
                await kafka.send(t, completion, key=b"warm")
                for t in (args.deltas_topic, args.completions_topic)
            ]
        )
        idle_cpu, _ = await phase(send=False)
        cpu_s, elapsed = await phase(send=True)
    finally:
        await kafka.stop()
    deltas = prompts * len(texts)
    return {
        "streams": args.streams,
        "prompts": prompts,
        "deltas": deltas,
        "deltas_per_s": deltas / elapsed,
        "partitions": args.partitions,
        "elapsed_s": elapsed,
        "cpu_s": cpu_s,
        "schedule_cpu_s": idle_cpu,
        "cpu_us_per_delta": (cpu_s - idle_cpu) / deltas * 1e6,
        "linger_ms": settings.kafka.linger_ms,
    }


async def sdk_rss(args: argparse.Namespace) -> dict[str, Any]:
    """RSS per open stream of a bare SDK client holding ``--streams`` slow streams."""
    text = prompt_text(args.prompt_bytes)
    async with _client(args.base_url, args.streams + 100) as client:
        warm = asyncio.create_task(_read(client, _body(text), [0]))
        await asyncio.sleep(1.0)
        warm.cancel()
        await asyncio.gather(warm, return_exceptions=True)
        gc.collect()
        idle = statistics.median(await _samples(1.0))
        seen = [0]
        # Each stream builds its own body, as each service prompt has its own record.
        tasks = [
            asyncio.create_task(_read(client, _body(prompt_text(args.prompt_bytes)), seen))
            for _ in range(args.streams)
        ]
        deadline = time.monotonic() + 120
        # message_start and a delta per stream; polled, as the service's gauge is
        while seen[0] < args.streams * 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        rss = statistics.median(await _samples(2.0))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": args.streams,
        "prompt_bytes": args.prompt_bytes,
        "idle_rss_mb": idle / 2**20,
        "rss_mb": rss / 2**20,
        "bytes_per_stream": (rss - idle) / args.streams,
        "transport": transport(),
    }


async def _samples(seconds: float) -> list[int]:
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.append(_rss())
        await asyncio.sleep(0.1)
    return out


def _service_rss(stack: h.Stack, bootstrap: str, base_url: str, size: int, streams: int) -> dict[str, Any]:
    prefix = f"rss{size}-{time.monotonic_ns()}"
    topics = h.create_topics(bootstrap, prefix)
    env = {"MAX_IN_FLIGHT": str(streams + 100), **h.topic_env(prefix), **SERVICE_ENV}
    service, port = stack.start_service(bootstrap, base_url, env, name=f"service-rss{size}")
    try:
        h.wait_assigned(port)
        time.sleep(1.0)
        idle = statistics.median(_child_samples(service, 1.0))
        text = prompt_text(size)
        items = [(f"r-{i}".encode(), h.prompt_value(f"r-{i}", text=text)) for i in range(streams)]
        asyncio.run(h._produce(bootstrap, topics["prompts"], items))

        def all_in_flight() -> bool:
            try:  # a service taking 1,000 prompts at once may answer /metrics late
                return h.counter(h.scrape(port), "claude_kafka_in_flight_prompts") >= streams
            except OSError:
                return False

        h.wait_until(all_in_flight, 120, 0.2, f"{streams} in flight")
        time.sleep(1.5)
        rss = statistics.median(_child_samples(service, 2.0))
    finally:
        service.stop()
        stack.children.remove(service)
    return {
        "streams": streams,
        "prompt_bytes": size,
        "idle_rss_mb": idle / 2**20,
        "rss_mb": rss / 2**20,
        "bytes_per_stream": (rss - idle) / streams,
    }


def _child_samples(child: h.Child, seconds: float) -> list[int]:
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.append(child.rss())
        time.sleep(0.1)
    return out


def read_latency(emit: dict[str, list[list[float]]], reads: dict[str, list[float]]) -> list[float]:
    """Milliseconds from each SSE event's emit to the bare SDK's read of it: what the SDK alone adds
    (the same clock and the same definition as ``latency.added_latency``'s service part)."""
    return [
        (read - frame[0]) * 1000
        for message_id, times in reads.items()
        for read, frame in zip(times, emit[message_id], strict=True)
    ]


def run(quick: bool) -> dict[str, Any]:
    seconds, tokens = (2.0, 120) if quick else (8.0, 200)
    stack = h.Stack()
    result: dict[str, Any] = {
        "config": {
            "ttft_ms": 400,
            "tokens_per_second": 80,
            "tokens_per_delta": "1..3",
            "output_tokens": tokens,
            "seconds_per_level": seconds,
            "levels": list(LEVELS),
            "rss_streams": RSS_STREAMS,
            "transport": transport(),
            "quick": quick,
        }
    }
    try:
        bootstrap = stack.start_broker()
        h.create_topics(bootstrap)
        h.log("scenario 6 (ratios): zero pacing, service vs producer + bare SDK")
        emu0 = stack.start_emulator(output_tokens=100, tokens_per_delta=1, name="emulator-ratios0")
        service0 = throughput.measure_service(
            bootstrap, emu0.base_url, prompts=1500 if quick else 8000, window=seconds * 2,
            env={"MAX_IN_FLIGHT": "256", **SERVICE_ENV},
        )  # fmt: skip
        producer = h.run_worker(
            "bench.ceilings", "producer", "--bootstrap", bootstrap, "--base-url", emu0.base_url,
            "--seconds", str(seconds),
        )  # fmt: skip
        sdk0 = h.run_worker(
            "bench.ceilings", "sdk", "--base-url", emu0.base_url, "--mode", "raw", "--seconds", str(seconds),
            "--transport", transport(),
        )  # fmt: skip
        combined = 1 / (1 / producer["prompts_per_s"] + 1 / sdk0["prompts_per_s"])
        result["zero_pacing"] = {
            "service": service0,
            "producer": producer,
            "sdk": sdk0,
            "combined_prompts_per_s": combined,
            "ratio": service0["prompts_per_s"] / combined,
        }
        h.log(f"  service {service0['prompts_per_s']:.0f} prompts/s, combined ceiling {combined:.0f}")

        h.log(f"scenario 6 (ratios): paced curve at {LEVELS} streams, service")
        points = latency.run_curve(stack, bootstrap, 0, LEVELS, seconds, tokens, SERVICE_ENV, warmup=WARMUP)
        emu1 = stack.start_emulator(
            ttft_ms=400, tokens_per_second=80, output_tokens=tokens, tokens_per_delta=None,
            name="emulator-ratios-paced",
        )  # fmt: skip
        paced = []
        work = Path(tempfile.mkdtemp(prefix="bench-ratios-"))
        for point in points:
            level = point["streams"]
            # Its own emulator, for the emit log it writes when stopped (``bench.emutap``).
            emit_log, read_log = work / f"emit-{level}.json", work / f"read-{level}.json"
            emu_sdk = stack.start_emulator(
                ttft_ms=400, tokens_per_second=80, output_tokens=tokens, tokens_per_delta=None,
                emit_log=emit_log, name=f"emulator-sdk-{level}",
            )  # fmt: skip
            bare = h.run_worker(
                "bench.ratios", "sdk-paced", "--base-url", emu_sdk.base_url, "--streams", str(level),
                "--tokens", str(tokens), "--seconds", str(seconds), "--read-log", str(read_log),
            )  # fmt: skip
            emu_sdk.child.stop()
            bare["read_latency_ms"] = h.percentiles(
                read_latency(json.loads(emit_log.read_text()), json.loads(read_log.read_text()))
            )
            probe_topics = h.create_topics(bootstrap, f"pp{level}-{time.monotonic_ns()}")
            kafka = h.run_worker(
                "bench.ratios", "producer-paced", "--base-url", emu1.base_url, "--bootstrap", bootstrap,
                "--deltas-topic", probe_topics["deltas"], "--completions-topic", probe_topics["completions"],
                "--streams", str(level), "--tokens", str(tokens), "--seconds", str(seconds),
            )  # fmt: skip
            producer_us = kafka["cpu_us_per_delta"]
            service_us = point["cpu_s_per_1000_deltas"] * 1000
            floor = bare["cpu_us_per_event"] + producer_us
            paced.append(
                {
                    "streams": level,
                    "service_cpu_us_per_delta": service_us,
                    "sdk_cpu_us_per_event": bare["cpu_us_per_event"],
                    "producer_cpu_us_per_record": producer_us,
                    "producer_zero_pacing_cpu_us_per_record": producer["cpu_s_per_1000_deltas"] * 1000,
                    "service_deltas_per_s": point["delta_events"] / point["elapsed_s"],
                    "producer": kafka,
                    "ratio": service_us / floor,
                    "service_part_ms": point["service_part_ms"],
                    "added_latency_ms": point["added_latency_ms"],
                    "service_cpu_utilisation": point["service_cpu_utilisation"],
                    # The service's phase shares the box with the emulator, the broker and the downstream
                    # consumer; the bare SDK's with the emulator only (its ``box_busy_cores``).
                    "box_busy_cores": point["box_busy_cores"],
                    "box_cores": os.cpu_count(),  # of the box measured, not the one rendering the table
                    "cpu_utilisation_by_process": point["cpu_utilisation_by_process"],
                    "sdk": bare,
                }
            )
            h.log(
                f"  {level} streams: service {service_us:.1f} us/delta, SDK {bare['cpu_us_per_event']:.1f} "
                f"+ producer {producer_us:.1f} us: {service_us / floor:.2f}x"
            )
        result["paced"] = paced

        result["memory"] = memory_section(stack, bootstrap)
    finally:
        stack.close()
    return result


def memory_section(stack: h.Stack, bootstrap: str) -> list[dict[str, Any]]:
    """RSS per in-flight stream, service against bare SDK, at each of ``PROMPT_BYTES``."""
    h.log(f"scenario 6 (ratios): RSS at {RSS_STREAMS} streams, service vs bare SDK")
    emu = stack.start_emulator(
        tokens_per_second=2.0, output_tokens=400, tokens_per_delta=1, name="emulator-ratios-rss"
    )
    memory = []
    for size in PROMPT_BYTES:
        svc = _service_rss(stack, bootstrap, emu.base_url, size, RSS_STREAMS)
        bare = h.run_worker(
            "bench.ratios", "sdk-rss", "--base-url", emu.base_url, "--streams", str(RSS_STREAMS),
            "--prompt-bytes", str(size),
        )  # fmt: skip
        ratio = svc["bytes_per_stream"] / bare["bytes_per_stream"]
        memory.append({"prompt_bytes": size, "service": svc, "sdk": bare, "ratio": ratio})
        h.log(
            f"  {size} B prompts: service {svc['bytes_per_stream'] / 1024:.1f} KB/stream, "
            f"SDK {bare['bytes_per_stream'] / 1024:.1f} KB/stream: {ratio:.2f}x"
        )
    return memory


def memory_only() -> list[dict[str, Any]]:
    """The RSS section alone, on its own broker (``python -m bench.ratios memory``)."""
    stack = h.Stack()
    try:
        bootstrap = stack.start_broker()
        return memory_section(stack, bootstrap)
    finally:
        stack.close()


def table(r: dict[str, Any]) -> list[str]:
    """The ratios as summary-table rows (``report.markdown``)."""

    def ok(met: bool) -> str:
        return "met" if met else "**missed**"

    t = r["config"]["transport"]
    lines = []
    for p in r.get("paced", []):
        lines.append(
            f"| CPU per delta, {p['streams']} streams paced / (bare SDK ({t}) per event + paced aiokafka per "
            f"record) | {p['service_cpu_us_per_delta']:.1f} / ({p['sdk_cpu_us_per_event']:.1f} + "
            f"{p['producer_cpu_us_per_record']:.1f}) us = {p['ratio']:.2f}x | <= {CPU_GOAL}x: "
            f"{ok(p['ratio'] <= CPU_GOAL)} |"
        )
    for p in r.get("paced", []):
        if p["streams"] == 250:
            sp = p["service_part_ms"]
            bare = p["sdk"].get("read_latency_ms")
            floor = (
                f"; the bare SDK's own emit -> read: p50 {bare['p50']:.1f} / p99 {bare['p99']:.1f} ms"
                if bare
                else ""
            )
            if "box_busy_cores" in p and "box_busy_cores" in p["sdk"]:
                floor += (
                    f" (box busy {p['box_busy_cores']:.1f} cores with the service, "
                    f"{p['sdk']['box_busy_cores']:.1f} with the bare SDK, of {p.get('box_cores', '?')})"
                )
            lines.append(
                f"| Service part of the added latency (emit -> send), 250 streams paced | "
                f"p50 {sp['p50']:.1f} / p99 {sp['p99']:.1f} ms{floor} | p99 <= {LATENCY_GOAL_MS:g} ms: "
                f"{ok(sp['p99'] <= LATENCY_GOAL_MS)} |"
            )
    for m in r.get("memory", []):
        lines.append(
            f"| RSS per stream, {r['config']['rss_streams']:,} streams, {m['prompt_bytes'] // 1024} KB "
            f"prompts / bare SDK's | {m['service']['bytes_per_stream'] / 1024:.1f} / "
            f"{m['sdk']['bytes_per_stream'] / 1024:.1f} KB = {m['ratio']:.2f}x | <= {RSS_GOAL}x: "
            f"{ok(m['ratio'] <= RSS_GOAL)} |"
        )
    z = r.get("zero_pacing")
    if z:
        lines.append(
            f"| Zero pacing: service / combined ceiling 1/(1/producer + 1/bare SDK) | "
            f"{z['service']['prompts_per_s']:.0f} / {z['combined_prompts_per_s']:.0f} prompts/s = "
            f"{z['ratio']:.0%} | >= {THROUGHPUT_GOAL:.0%}: {ok(z['ratio'] >= THROUGHPUT_GOAL)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["sdk-paced", "sdk-rss", "producer-paced", "memory"])
    parser.add_argument("--base-url", default="")
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--deltas-topic", default="")
    parser.add_argument("--completions-topic", default="")
    parser.add_argument("--partitions", type=int, default=h.PARTITIONS, help="Of both topics (reported).")
    parser.add_argument("--streams", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--prompt-bytes", type=int, default=1024)
    parser.add_argument("--read-log", default="", help="sdk-paced: write each event's read time here.")
    args = parser.parse_args()
    if args.what == "memory":  # the whole RSS section, with its own broker and emulator
        print(json.dumps(memory_only()))
        return
    if not args.base_url or not args.streams:
        parser.error(f"{args.what} needs --base-url and --streams")
    run_probe = {"sdk-paced": sdk_paced, "sdk-rss": sdk_rss, "producer-paced": producer_paced}[args.what]
    print(json.dumps(asyncio.run(run_probe(args))))


if __name__ == "__main__":
    main()
