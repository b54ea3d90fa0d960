"""Memory of the emulator's Message Batches path: a 100,000-request batch, created and fully streamed.

Runs ``claude-kafka emulator`` as a child process and samples *its* RSS (the client's memory is not
counted), then prints baseline, peak while creating, resident after create, peak while streaming
the results and resident at the end.

    .venv/bin/python -m bench.batch_rss [--requests 100000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time

import psutil
from anthropic import Anthropic

MB = 1024 * 1024


class RssSampler:
    """Peak RSS of one process, sampled every few milliseconds on a thread."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        return int(self._process.memory_info().rss)

    def reset_peak(self) -> None:
        self.peak = self.now()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> RssSampler:
        self.reset_peak()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    cli = os.path.join(os.path.dirname(sys.executable), "claude-kafka")
    server = subprocess.Popen(
        [cli, "emulator", "--port", "0", "--batch-time-scale", "0.0001", "--output-tokens", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"http://\S+", line)
        if match is None:
            raise SystemExit(f"emulator did not start: {line!r}")
        run(match.group(0), server.pid, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(base_url: str, pid: int, n: int) -> None:
    client = Anthropic(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
    requests = [
        {
            "custom_id": f"req-{i:06d}",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 256,
                "messages": [{"role": "user", "content": f"Summarise ticket #{i} in two sentences, please."}],
            },
        }
        for i in range(n)
    ]
    with RssSampler(pid) as rss:
        baseline = rss.now()
        started = time.monotonic()
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        create_s = time.monotonic() - started
        del requests
        create_peak, after_create = rss.peak, rss.now()
        while (batch := client.messages.batches.retrieve(batch.id)).processing_status != "ended":
            time.sleep(0.01)
        rss.reset_peak()
        started = time.monotonic()
        lines = sum(1 for _ in client.messages.batches.results(batch.id))
        stream_s = time.monotonic() - started
        stream_peak, final = rss.peak, rss.now()
    assert lines == n, (lines, n)
    print(f"requests: {n}, result lines: {lines}, succeeded: {batch.request_counts.succeeded}")
    print(f"emulator RSS baseline:         {baseline / MB:7.1f} MB")
    print(f"  peak while creating:         {create_peak / MB:7.1f} MB   (create took {create_s:.1f} s)")
    print(f"  resident after create:       {after_create / MB:7.1f} MB")
    print(f"  peak while streaming results:{stream_peak / MB:7.1f} MB   (streaming took {stream_s:.1f} s)")
    print(f"  resident at the end:         {final / MB:7.1f} MB")


if __name__ == "__main__":
    main()
