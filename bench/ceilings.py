"""Ceilings for scenario 1, each measured in its own process (one core's worth, like the service).

    python -m bench.ceilings producer --bootstrap B --base-url U --seconds S
        (a) raw aiokafka: the same DeltaEvent + CompletionEvent records, no Claude
    python -m bench.ceilings sdk --base-url U --mode raw|typed|helper --seconds S [--transport aiohttp]
        (b) the official SDK parsing the emulator's SSE streams, no Kafka:
            raw    = ``AsyncStream.raw_events`` + ``json.loads`` (what ``claude.py`` does)
            typed  = iterating ``messages.create(stream=True)`` (a pydantic model per event)
            helper = ``messages.stream()`` (typed events plus the SDK's own accumulation)
    python -m bench.ceilings emulator --base-url U --seconds S
        (c) the emulator's serving rate (raw aiohttp clients counting events; service/emulator/bench.py)

Each prints one JSON line: rates, and the process's own CPU seconds per 1,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

CONCURRENCY = 64
DERIVED = {"text", "citation", "thinking", "signature", "input_json"}
BODY: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 4096,
    "messages": [{"role": "user", "content": "Benchmark prompt."}],
}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _one_raw_stream(client: Any) -> list[tuple[bytes, dict[str, Any]]]:
    from anthropic import AsyncStream

    response = await client.messages.create(**BODY, stream=True)
    out = []
    async for sse in AsyncStream.raw_events(response.response):
        if sse.event and sse.event != "ping" and sse.data:
            out.append((sse.data.encode(), json.loads(sse.data)))
    await response.close()
    return out


async def sample_records(base_url: str) -> tuple[list[bytes], bytes]:
    """One emulator stream's SSE events as the service's delta texts, and its CompletionEvent value."""
    from anthropic import AsyncAnthropic

    from service.pipeline.accumulate import MessageAccumulator

    async with AsyncAnthropic(base_url=base_url, api_key="bench") as client:
        stream = await _one_raw_stream(client)
    acc = MessageAccumulator()
    for _, event in stream:
        acc.add(event)
    completion = json.dumps(
        {
            "custom_id": "x" * 12,
            "generation": 1,
            "attempt": 1,
            "mode": "stream",
            "message": acc.result(),
            "timings": {"queued_ms": 1.0, "ttft_ms": 1.0, "duration_ms": 1.0},
            "cost_usd": 0.001,
            "attributes": {},
        }
    ).encode()
    return [raw for raw, _ in stream], completion


async def producer(args: argparse.Namespace) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from service.kafka.config import producer_kwargs
    from service.pipeline.deltas import DeltaEncoder
    from service.settings import load_settings

    texts, completion = await sample_records(args.base_url)
    settings = load_settings(
        env_file=None, kafka={"bootstrap_servers": args.bootstrap, "enable_idempotence": False}
    )
    kafka = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    await kafka.start()
    prompts = 0
    deadline = time.monotonic() + args.seconds
    source = b"/claude-kafka/bench"

    async def worker(n: int) -> None:
        nonlocal prompts
        i = 0
        while time.monotonic() < deadline:
            custom_id = f"ceiling-{n}-{i}"
            i += 1
            encoder = DeltaEncoder(custom_id, 1, 1, {}, source, ())  # no trace headers
            futures = []
            for text in texts:
                value, headers = encoder.encode(text)
                futures.append(await kafka.send("claude.deltas", value, key=encoder.key, headers=headers))
            final = await kafka.send("claude.completions", completion, key=encoder.key, headers=headers)
            await asyncio.gather(*futures, final)
            prompts += 1

    try:
        started, cpu0 = time.monotonic(), cpu()
        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
        elapsed, cpu_s = time.monotonic() - started, cpu() - cpu0
    finally:
        await kafka.stop()
    deltas = prompts * len(texts)
    return {
        "prompts_per_s": prompts / elapsed,
        "delta_events_per_s": deltas / elapsed,
        "messages_per_s": prompts * (len(texts) + 1) / elapsed,
        "deltas_per_prompt": len(texts),
        "cpu_s_per_1000_deltas": cpu_s / deltas * 1000,
        "seconds": elapsed,
    }


async def sdk(args: argparse.Namespace) -> dict[str, Any]:
    from anthropic import AsyncStream

    from bench.harness import sdk_client

    events = streams = 0
    deadline = time.monotonic() + args.seconds

    async with sdk_client(args.base_url, args.transport) as client:

        async def raw() -> None:
            nonlocal events
            response = await client.messages.create(**BODY, stream=True)
            async for sse in AsyncStream.raw_events(response.response):
                if sse.event == "ping" or not sse.data:
                    continue
                json.loads(sse.data)
                events += 1
            await response.close()

        async def typed() -> None:
            nonlocal events
            response = await client.messages.create(**BODY, stream=True)
            async for _event in response:
                events += 1

        async def helper() -> None:
            nonlocal events
            async with client.messages.stream(**BODY) as stream:
                async for event in stream:
                    if event.type not in DERIVED:  # the helper adds its own "text"/... events
                        events += 1
                await stream.get_final_message()

        one = {"raw": raw, "typed": typed, "helper": helper}[args.mode]

        async def worker() -> None:
            nonlocal streams
            while time.monotonic() < deadline:
                await one()
                streams += 1

        await one()  # warm the connection pool and imports
        events = streams = 0
        started, cpu0 = time.monotonic(), cpu()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed, cpu_s = time.monotonic() - started, cpu() - cpu0
    return {
        "mode": args.mode,
        "prompts_per_s": streams / elapsed,
        "delta_events_per_s": events / elapsed,
        "cpu_s_per_1000_deltas": cpu_s / events * 1000,
        "seconds": elapsed,
    }


def emulator(args: argparse.Namespace) -> dict[str, Any]:
    # Reuses the emulator engineer's raw client (service/emulator/bench.py) rather than a copy.
    from service.emulator.bench import _raw_worker

    processes = 2
    with ProcessPoolExecutor(max_workers=processes) as pool:
        started = time.monotonic()
        futures = [pool.submit(_raw_worker, args.base_url, 16, args.seconds) for _ in range(processes)]
        served = sum(f.result() for f in futures)
        elapsed = time.monotonic() - started
    # _raw_worker counts every "event: " line, pings included; one ping per stream is not a delta.
    return {"sse_events_per_s": served / elapsed, "client_processes": processes, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["producer", "sdk", "emulator"])
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--mode", default="raw", choices=["raw", "typed", "helper"])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--transport", default="httpx", choices=["httpx", "aiohttp"], help="The SDK's.")
    args = parser.parse_args()
    if args.what == "producer":
        result = asyncio.run(producer(args))
    elif args.what == "sdk":
        result = asyncio.run(sdk(args))
    else:
        result = emulator(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
