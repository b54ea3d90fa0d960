"""Scenario 4: RSS and CPU per delta of one service process with 100, 1,000 and 2,000 streams in flight.

The emulator paces slowly (2 tokens/s, 400 tokens: a stream lasts minutes) so every stream stays in
flight while it is measured. Per level: produce prompts up to the level, wait until the service's
``in_flight_prompts`` gauge reaches it and a few seconds more, then measure RSS (median of samples)
and CPU seconds per 1,000 delta events over a window. Bytes per stream = (RSS - idle RSS) / streams.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import harness as h

LEVELS = (100, 1000, 2000)
QUICK_LEVELS = (100, 500, 1000)  # the 2,000 ramp alone takes ~10 s
TOKENS_PER_SECOND = 2.0


def run(quick: bool) -> dict[str, Any]:
    window = 2.0 if quick else 10.0
    levels_wanted = QUICK_LEVELS if quick else LEVELS
    stack = h.Stack()
    levels: list[dict[str, Any]] = []
    try:
        bootstrap = stack.start_broker()
        topics = h.create_topics(bootstrap, "mem")
        emu = stack.start_emulator(tokens_per_second=TOKENS_PER_SECOND, output_tokens=400, tokens_per_delta=1)
        env = {"MAX_IN_FLIGHT": str(max(levels_wanted) + 100), **h.topic_env("mem")}
        service, port = stack.start_service(bootstrap, emu.base_url, env, name="service-memory")
        h.wait_assigned(port)
        time.sleep(1.0)
        idle = statistics.median(_rss_samples(service, 1.0))
        h.log(f"scenario 4: idle service RSS {idle / 2**20:.1f} MB")
        produced = 0
        for level in levels_wanted:
            h.produce_prompts(bootstrap, (f"mem-{i}" for i in range(produced, level)), topics["prompts"])
            produced = level

            def in_flight() -> float:
                return h.counter(h.scrape(port), "claude_kafka_in_flight_prompts")

            h.wait_until(lambda lv=level: in_flight() >= lv, 120, 0.2, f"{level} in flight")  # type: ignore[misc]
            time.sleep(1.0 + 1 / TOKENS_PER_SECOND)  # every stream past its first events
            m0, cpu0, t0 = h.scrape(port), service.cpu_seconds(), time.monotonic()
            samples = _rss_samples(service, window)
            m1, cpu1, t1 = h.scrape(port), service.cpu_seconds(), time.monotonic()
            deltas = h.counter(
                m1, "claude_kafka_messages_produced_total", topic=topics["deltas"]
            ) - h.counter(m0, "claude_kafka_messages_produced_total", topic=topics["deltas"])
            rss = statistics.median(samples)
            row = {
                "streams": level,
                "in_flight_gauge": h.counter(m1, "claude_kafka_in_flight_prompts"),
                "rss_mb": rss / 2**20,
                "bytes_per_stream": (rss - idle) / level,
                "delta_events_per_s": deltas / (t1 - t0),
                "expected_delta_events_per_s": level * TOKENS_PER_SECOND,
                "cpu_s_per_1000_deltas": (cpu1 - cpu0) / deltas * 1000 if deltas else None,
                "cpu_utilisation": (cpu1 - cpu0) / (t1 - t0),
            }
            h.log(
                f"  {level} streams: RSS {row['rss_mb']:.1f} MB, "
                f"{row['bytes_per_stream'] / 1024:.1f} KB/stream"
            )
            levels.append(row)
    finally:
        stack.close()
    marginal = (
        (levels[-1]["rss_mb"] - levels[0]["rss_mb"]) * 2**20 / (levels[-1]["streams"] - levels[0]["streams"])
    )
    return {
        "config": {
            "tokens_per_second": TOKENS_PER_SECOND,
            "output_tokens": 400,
            "window_s": window,
            "quick": quick,
        },
        "idle_rss_mb": idle / 2**20,
        "levels": levels,
        "marginal_bytes_per_stream": marginal,
        "goal_bytes_per_stream": 30 * 1024,
    }


def _rss_samples(child: h.Child, seconds: float) -> list[int]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(child.rss())
        time.sleep(0.1)
    return samples
