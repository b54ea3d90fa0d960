"""Memory of the service's batch results path: stream a 100,000-line results file through
``BatchApi.results`` and the result mapping, sampling this process's RSS.

    .venv/bin/python -m bench.batch_results_rss [--requests 100000]

The emulator runs as a child process (its memory is not counted). Events are built and serialised
as the coordinator does, but not produced to Kafka (the producer's window bounds that side).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import psutil
from anthropic import Anthropic
from pydantic import SecretStr

from schemas import SourceRecord
from service.batch.api import BatchApi
from service.batch.records import Entry
from service.batch.results import Publish, outcome
from service.pricing import PriceTable
from service.settings import AnthropicSettings

MB = 1024 * 1024
PARAMS = '{"model":"claude-haiku-4-5","max_tokens":256,"messages":[{"role":"user","content":"Summarise."}]}'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    n = parser.parse_args().requests
    cli = os.path.join(os.path.dirname(sys.executable), "claude-kafka")
    server = subprocess.Popen(
        [cli, "emulator", "--port", "0", "--batch-time-scale", "0.00001", "--output-tokens", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        match = re.search(r"http://\S+", server.stdout.readline())
        assert match, "emulator did not start"
        url = match.group(0)
        client = Anthropic(base_url=url, api_key="bench", timeout=600)
        requests = [
            {
                "custom_id": f"r-{i:06d}",
                "params": {
                    "model": "claude-haiku-4-5",
                    "max_tokens": 256,
                    "messages": [{"role": "user", "content": "Summarise."}],
                },
            }
            for i in range(n)
        ]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        del requests
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            time.sleep(0.05)
        asyncio.run(stream(url, batch.id, n))
    finally:
        server.terminate()
        server.wait(10)


async def stream(url: str, batch_id: str, n: int) -> None:
    # The coordinator keeps one Entry per request of an open batch; build them as it would.
    source = SourceRecord(topic="p", partition=0, offset=0)
    entries = {
        f"r-{i:06d}": Entry(
            custom_id=f"r-{i:06d}", generation=1, attempt=1, source=source, timestamp_ms=0, params=PARAMS
        )
        for i in range(n)
    }
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.005):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    api = BatchApi(AnthropicSettings(api_key=SecretStr("bench"), base_url=url))
    prices, now, lines, size = PriceTable(), datetime.now(UTC), 0, 0
    started = time.monotonic()
    async for custom_id, result in api.results(batch_id):
        decided = outcome(
            result, entries[custom_id], prices=prices, max_attempts=3, submitted_at=now, now=now
        )
        assert isinstance(decided, Publish)
        size += len(decided.event.model_dump_json())
        lines += 1
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    await api.close()
    print(f"result lines: {lines} ({size / MB:.0f} MB of event JSON) in {elapsed:.1f} s")
    print(
        f"RSS with {n} entries held: {baseline / MB:.1f} MB; peak while streaming: {peak / MB:.1f} MB "
        f"(+{(peak - baseline) / MB:.1f} MB)"
    )


if __name__ == "__main__":
    main()
