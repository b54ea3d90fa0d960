"""Where the service's CPU goes under the ratios scenario's paced load: py-spy on the service process.

    python -m bench.hotpath [--streams 250] [--seconds 8] [--top 25]

Broker, emulator (TTFT 400 ms, 80 tokens/s, 1-3 tokens per delta) and ``claude-kafka run``
(``bench.serve``) in their own processes, as in ``bench/ratios.py``; prompts arrive at the steady
rate that keeps ``--streams`` in flight while ``py-spy record`` samples the service (on-CPU samples
only). Prints the top functions by own time and the share by package (``service`` = our code).
Needs ``py-spy`` (``pip install py-spy``; not a project dependency).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import harness as h

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def package(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            top = rest.split("/", 1)[0]
            return top if marker == "site-packages/" else f"stdlib:{top}"
    if "/service/" in filename or "/bench/" in filename:
        return "service"
    return filename


def summarise(collapsed: Path, top: int) -> dict[str, object]:
    own: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        leaf = stack.split(";")[-1]
        match = _FRAME.match(leaf)
        func, file = (match["func"], match["file"]) if match else (leaf, "")
        own[f"{func} ({package(file)}: {Path(file).name})"] += n
        by_package[package(file)] += n
    return {
        "samples": total,
        "by_package": {k: round(100 * v / total, 1) for k, v in by_package.most_common(top)},
        "top_own": {k: round(100 * v / total, 1) for k, v in own.most_common(top)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--header-pacing", action="store_true", help="RATE_LIMIT_FROM_HEADERS=true.")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    out = Path(tempfile.mkdtemp(prefix="bench-hotpath-")) / "service.collapsed"
    stack = h.Stack()
    try:
        bootstrap = stack.start_broker()
        topics = h.create_topics(bootstrap, "hot")
        emu = stack.start_emulator(ttft_ms=400, tokens_per_second=80, output_tokens=args.tokens)
        env = {
            "MAX_IN_FLIGHT": str(args.streams + 50),
            "RATE_LIMIT_FROM_HEADERS": str(args.header_pacing).lower(),  # as bench/ratios.py runs it
            **h.topic_env("hot"),
        }
        service, port = stack.start_service(bootstrap, emu.base_url, env, name="service-hotpath")
        h.wait_assigned(port)
        rate = args.streams / (0.4 + args.tokens / 80)
        total = int(rate * (args.seconds + 3))
        ids = (f"hot-{i}" for i in range(total))
        feeder = threading.Thread(target=h.produce_paced, args=(bootstrap, ids, topics["prompts"], rate))
        feeder.start()
        time.sleep(3.0)  # streams in flight at the steady level before sampling starts
        subprocess.run(
            [spy, "record", "--pid", str(service.pid), "--duration", str(int(args.seconds)),
             "--format", "raw", "--output", str(out), "--nonblocking"],
            check=True, capture_output=True,
        )  # fmt: skip
        feeder.join()
    finally:
        stack.close()
    result = summarise(out, args.top)
    print(f"{result['samples']} samples; by package (% of on-CPU samples):")
    for name, pct in result["by_package"].items():  # type: ignore[attr-defined]
        print(f"  {pct:5.1f}  {name}")
    print("top functions by own time:")
    for name, pct in result["top_own"].items():  # type: ignore[attr-defined]
        print(f"  {pct:5.1f}  {name}")


if __name__ == "__main__":
    main()
