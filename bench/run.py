"""Run the benchmarks: ``python -m bench.run --quick`` (< 2 min) or ``--full`` (~10 min).

    python -m bench.run --quick [--only throughput,latency,memory,rq_compare,ratios]

Writes ``bench/results/<scenario>.json``, ``summary.md`` and ``summary.png``.
"""

from __future__ import annotations

import argparse
import time
import traceback

from bench import harness as h
from bench import latency, memory, ratios, report, rq_compare, throughput

SCENARIOS = ("throughput", "latency", "memory", "rq_compare", "ratios")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="Small sizes; under two minutes.")
    mode.add_argument("--full", action="store_true", help="The sizes the README quotes (~10 minutes).")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="Comma-separated scenarios.")
    args = parser.parse_args()
    quick = not args.full
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    started = time.monotonic()
    failed = []
    for name in wanted:
        try:
            if name == "throughput":
                result = throughput.run(quick)
            elif name == "latency":
                result = latency.run(quick)
            elif name == "memory":
                result = memory.run(quick)
            elif name == "ratios":
                result = ratios.run(quick)
            elif name == "rq_compare":
                lat = report._load("latency")
                rate = None
                if lat:  # the service's rate at realistic pacing, from scenario 3 (coalescing off)
                    rate = lat["variants"][0]["prompts_per_s"]
                result = rq_compare.run(quick, rate)
            else:
                raise SystemExit(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
            result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            h.log(f"wrote {h.save(name, result)}")
        except Exception:
            failed.append(name)
            h.log(f"scenario {name} failed:\n{traceback.format_exc()}")
    report.write()
    h.log(f"summary: {h.RESULTS / 'summary.md'} ({time.monotonic() - started:.0f} s)")
    print(report.markdown())
    if failed:
        raise SystemExit(f"failed scenarios: {', '.join(failed)}")


if __name__ == "__main__":
    main()
