"""Scenarios 1 and 2: one service process at zero pacing, and the ceilings it is measured against.

The prompts topic is pre-loaded, the service started, and a steady-state window (after the first
completions, before the backlog runs dry) is measured from the service's own ``/metrics`` counters
and its CPU time (psutil). The ceilings run in separate processes against the same emulator and
broker, one after another (never concurrently with the service, so each has the same two cores).
"""

from __future__ import annotations

import time
from typing import Any

from bench import harness as h

DELTAS = "claude_kafka_messages_produced_total"
FINISHED = "claude_kafka_prompts_finished_total"


def measure_service(
    bootstrap: str, base_url: str, prompts: int, window: float, env: dict[str, str]
) -> dict[str, Any]:
    stack = h.Stack()
    try:
        h.produce_prompts(bootstrap, (f"tp-{time.monotonic_ns()}-{i}" for i in range(prompts)))
        service, port = stack.start_service(bootstrap, base_url, env, name="service-throughput")

        def finished() -> float:
            return h.counter(h.scrape(port), FINISHED)

        h.wait_until(lambda: finished() >= max(20, prompts * 0.05), 60, 0.05, "first completions")
        m0, cpu0, t0 = h.scrape(port), service.cpu_seconds(), time.monotonic()
        rss = [service.rss()]
        while time.monotonic() - t0 < window and h.counter(h.scrape(port), FINISHED) < prompts * 0.9:
            time.sleep(0.25)
            rss.append(service.rss())
        m1, cpu1, t1 = h.scrape(port), service.cpu_seconds(), time.monotonic()
        elapsed = t1 - t0
        done = h.counter(m1, FINISHED) - h.counter(m0, FINISHED)
        deltas = h.counter(m1, DELTAS, topic="claude.deltas") - h.counter(m0, DELTAS, topic="claude.deltas")
        cpu = cpu1 - cpu0
        return {
            "prompts_per_s": done / elapsed,
            "delta_events_per_s": deltas / elapsed,
            "cpu_s_per_1000_deltas": cpu / deltas * 1000 if deltas else None,
            "cpu_utilisation": cpu / elapsed,
            "window_s": elapsed,
            "prompts_in_window": done,
            "peak_rss_mb": max(rss) / 2**20,
            "backlog_ran_dry": h.counter(m1, FINISHED) >= prompts * 0.9,
        }
    finally:
        stack.close()


def run(quick: bool) -> dict[str, Any]:
    seconds = 1.5 if quick else 10.0
    stack = h.Stack()
    try:
        bootstrap = stack.start_broker()
        h.create_topics(bootstrap)
        emu = stack.start_emulator(output_tokens=100, tokens_per_delta=1)
        h.log("scenario 1: service throughput at zero pacing")
        service = measure_service(
            bootstrap,
            emu.base_url,
            prompts=1500 if quick else 12000,
            window=seconds * 2,
            env={"MAX_IN_FLIGHT": "256"},
        )
        h.log(
            f"  service: {service['prompts_per_s']:.0f} prompts/s, "
            f"{service['delta_events_per_s']:.0f} deltas/s"
        )
        h.log("scenario 2: ceilings")
        ceilings: dict[str, Any] = {}
        ceilings["producer"] = h.run_worker(
            "bench.ceilings",
            "producer",
            "--bootstrap",
            bootstrap,
            "--base-url",
            emu.base_url,
            "--seconds",
            str(seconds),
        )
        for mode in ("raw", "typed", "helper"):
            ceilings[f"sdk_{mode}"] = h.run_worker(
                "bench.ceilings", "sdk", "--base-url", emu.base_url, "--mode", mode, "--seconds", str(seconds)
            )
        ceilings["emulator"] = h.run_worker(
            "bench.ceilings", "emulator", "--base-url", emu.base_url, "--seconds", str(seconds)
        )
        emulator_cpu = emu.child.cpu_seconds()
    finally:
        stack.close()
    lower_name = min(("producer", "sdk_raw"), key=lambda k: ceilings[k]["prompts_per_s"])
    lower = ceilings[lower_name]["prompts_per_s"]
    deltas_per_prompt = ceilings["producer"]["deltas_per_prompt"]
    return {
        "config": {
            "output_tokens": 100,
            "tokens_per_delta": 1,
            "deltas_per_prompt": deltas_per_prompt,
            "ttft_ms": 0,
            "tokens_per_second": 0,
            "max_in_flight": 256,
            "quick": quick,
        },
        "service": service,
        "ceilings": ceilings,
        "lower_ceiling": lower_name,
        "fraction_of_lower_ceiling": service["prompts_per_s"] / lower,
        "emulator_headroom": ceilings["emulator"]["sse_events_per_s"]
        / max(1.0, service["delta_events_per_s"]),
        "emulator_cpu_s_total": emulator_cpu,
        "goal_fraction": 0.6,
    }
