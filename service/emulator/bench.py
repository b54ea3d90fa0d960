"""Does the emulator out-serve the SDK? ``python -m service.emulator.bench [--seconds 5]``.

Starts the emulator in its own process at zero pacing, then measures:

1. *served*: SSE events/s delivered to raw aiohttp clients (several processes, many concurrent
   streams each) that only count ``event:`` lines; this is the emulator's ceiling.
2. *parsed*: SSE events/s one SDK client process can parse (sync ``Anthropic``, one stream at a
   time, iterating the raw event stream), which is what any single consumer can use.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import click

_BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 4000,
    "stream": True,
    "messages": [{"role": "user", "content": "Benchmark."}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int, output_tokens: int) -> subprocess.Popen[bytes]:
    code = (
        "from service.emulator import run, EmulatorConfig;"
        f"run(EmulatorConfig(port={port}, output_tokens={output_tokens}, tokens_per_delta=1))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("emulator did not start")


def _raw_worker(url: str, concurrency: int, seconds: float) -> int:
    import aiohttp

    async def main() -> int:
        events = 0
        deadline = time.monotonic() + seconds
        body = json.dumps(_BODY).encode()
        headers = {"x-api-key": "bench", "content-type": "application/json"}
        async with aiohttp.ClientSession() as session:

            async def loop() -> None:
                nonlocal events
                while time.monotonic() < deadline:
                    async with session.post(url + "/v1/messages", data=body, headers=headers) as resp:
                        async for chunk in resp.content.iter_any():
                            events += chunk.count(b"event: ")

            await asyncio.gather(*(loop() for _ in range(concurrency)))
        return events

    return asyncio.run(main())


def _sdk_worker(url: str, seconds: float) -> tuple[int, int]:
    import anthropic

    events = streams = 0
    deadline = time.monotonic() + seconds
    with anthropic.Anthropic(base_url=url, api_key="bench") as client:
        while time.monotonic() < deadline:
            body = {k: v for k, v in _BODY.items() if k != "stream"}
            for _ in client.messages.create(**body, stream=True):  # type: ignore[call-overload]
                events += 1
            streams += 1
    return events, streams


@click.command()
@click.option("--seconds", default=5.0, show_default=True)
@click.option("--output-tokens", default=300, show_default=True, help="Tokens (= text deltas) per answer.")
@click.option("--raw-processes", default=3, show_default=True)
@click.option("--concurrency", default=16, show_default=True, help="Concurrent streams per raw process.")
def main(seconds: float, output_tokens: int, raw_processes: int, concurrency: int) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_server(port, output_tokens)
    try:
        with ProcessPoolExecutor(max_workers=raw_processes) as pool:
            started = time.monotonic()
            futures = [pool.submit(_raw_worker, url, concurrency, seconds) for _ in range(raw_processes)]
            served = sum(f.result() for f in futures)
            elapsed = time.monotonic() - started
        click.echo(
            f"served: {served / elapsed:,.0f} events/s "
            f"({raw_processes} raw client processes x {concurrency} streams, {output_tokens} deltas/stream)"
        )
        started = time.monotonic()
        parsed, streams = _sdk_worker(url, seconds)
        elapsed = time.monotonic() - started
        click.echo(f"parsed: {parsed / elapsed:,.0f} events/s by one SDK client process ({streams} streams)")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
