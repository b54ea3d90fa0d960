"""Scenario 5: the obvious alternative, a Redis + RQ worker pool, against the service.

RQ: ``redis-server`` (Debian package; installed with apt-get if missing and allowed, else the
scenario is skipped) as a child, ``rq worker --burst`` processes (one per core, the default forking
``Worker``), each job a blocking ``messages.create`` whose answer is POSTed to a local callback
receiver (the downstream reader). Service: the same prompts, produced at once, one process; the
downstream reader is a Kafka consumer and "first output" is the first ``content_block_delta``.
Same emulator pacing (TTFT 400 ms, 80 tokens/s). Time to first output counts from enqueue/produce.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import harness as h
from bench.latency import read_dump, start_consumer

WORKERS = 2


def redis_available() -> str | None:
    path = shutil.which("redis-server")
    if path is None:
        h.log("redis-server not found; trying apt-get install -y redis-server")
        subprocess.run(["apt-get", "install", "-y", "redis-server"], capture_output=True, check=False)
        path = shutil.which("redis-server")
    return path


class Receiver:
    """The callback endpoint: records when each custom_id's answer arrived."""

    def __init__(self) -> None:
        arrivals: dict[str, float] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                arrivals[body["custom_id"]] = time.time()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.arrivals = arrivals
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_rq(redis_server: str, base_url: str, prompts: int) -> dict[str, Any]:
    from redis import Redis
    from rq import Queue

    stack = h.Stack()
    receiver = Receiver()
    try:
        port = h.free_port()
        stack.add(
            h.Child(
                "redis",
                [
                    redis_server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
        )
        h.wait_until(lambda: h.wait_for_port("127.0.0.1", port, 0.2), 20, what="redis")
        url = f"redis://127.0.0.1:{port}"
        queue = Queue("bench", connection=Redis.from_url(url))
        enqueued: dict[str, float] = {}
        for i in range(prompts):
            cid = f"rq-{i}"
            enqueued[cid] = time.time()
            queue.enqueue("bench.rq_job.call_claude", cid, base_url, receiver.url, "Benchmark prompt.")
        rq = str(Path(sys.executable).with_name("rq"))
        workers = [
            stack.add(h.Child(f"rq-worker-{n}", [rq, "worker", "--burst", "--url", url, "bench"]))
            for n in range(WORKERS)
        ]
        started = time.time()
        cpu0 = sum(w.cpu_seconds() for w in workers)
        h.wait_until(lambda: len(receiver.arrivals) >= prompts, 600, 0.1, "all RQ callbacks")
        elapsed = max(receiver.arrivals.values()) - started
        ttfo = [(receiver.arrivals[c] - t) * 1000 for c, t in enqueued.items()]
        with_children = 0.0
        for w in workers:  # forked job processes are children of the worker
            try:
                t = w.ps.cpu_times()
                with_children += t.user + t.system + t.children_user + t.children_system
            except Exception:
                pass
        return {
            "workers": WORKERS,
            "prompts": prompts,
            "prompts_per_s": prompts / elapsed,
            "prompts_per_s_per_process": prompts / elapsed / WORKERS,
            "time_to_first_output_ms": h.percentiles(ttfo),
            "worker_cpu_s": with_children - cpu0 if with_children else None,
        }
    finally:
        receiver.close()
        stack.close()


def run_service(bootstrap: str, base_url: str, prompts: int) -> dict[str, Any]:
    stack = h.Stack()
    work = Path(tempfile.mkdtemp(prefix="bench-rq-"))
    dump = work / "records.jsonl"
    try:
        topics = h.create_topics(bootstrap, f"ttfo-{time.monotonic_ns()}")
        prefix = topics["prompts"].rsplit(".", 1)[0]
        consumer = start_consumer(stack, "consumer-ttfo", bootstrap, topics, prompts, dump)
        _, port = stack.start_service(bootstrap, base_url, h.topic_env(prefix), name="service-ttfo")
        h.wait_assigned(port)
        time.sleep(1.0)
        started = h.produce_prompts(bootstrap, (f"svc-{i}" for i in range(prompts)), topics["prompts"])
        h.wait_until(lambda: not consumer.alive(), 300, 0.2, "all completions read")
        deltas, completed = read_dump(dump)
        ttfo = []
        for rows in deltas.values():
            first = next(t for t, _, d in rows if d["event"]["type"] == "content_block_delta")
            ttfo.append((first - started) * 1000)
        return {
            "prompts": prompts,
            "prompts_per_s": len(completed) / (max(completed.values()) - started),
            "time_to_first_output_ms": h.percentiles(ttfo),
        }
    finally:
        stack.close()


def run(quick: bool, service_rate: float | None) -> dict[str, Any]:
    output_tokens = 120 if quick else 200
    prompts = 4 if quick else 20
    redis_server = redis_available()
    if redis_server is None:
        h.log("scenario 5 skipped: redis-server is not installed and could not be installed")
        return {"skipped": "redis-server unavailable (apt-get install -y redis-server)"}
    stack = h.Stack()
    try:
        bootstrap = stack.start_broker()
        emu = stack.start_emulator(
            ttft_ms=400,
            tokens_per_second=80,
            output_tokens=output_tokens,
            tokens_per_delta=None,
            name="emulator-rq",
        )
        h.log(f"scenario 5: RQ pool ({WORKERS} workers), {prompts} prompts")
        rq = run_rq(redis_server, emu.base_url, prompts)
        h.log(f"  RQ: {rq['prompts_per_s_per_process']:.2f} prompts/s per process")
        h.log("scenario 5: service, same prompts")
        service = run_service(bootstrap, emu.base_url, prompts)
    finally:
        stack.close()
    result: dict[str, Any] = {
        "config": {"ttft_ms": 400, "tokens_per_second": 80, "output_tokens": output_tokens, "quick": quick},
        "rq": rq,
        "service": service,
        "ttfo_over_emulator_ttft_ms": service["time_to_first_output_ms"]["p50"] - 400,
        "goal_ttfo_over_ttft_ms": 50,
        "goal_ratio": 20,
    }
    if service_rate is not None:
        result["service_prompts_per_s_per_process"] = service_rate
        result["ratio_per_process"] = service_rate / rq["prompts_per_s_per_process"]
    return result
