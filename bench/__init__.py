"""Benchmarks: ``python -m bench.run --quick|--full`` (``make bench-quick`` / ``make bench``).

Every moving part runs as its own process (broker, emulator, service, load/measurement workers), so
nothing shares a GIL with the thing being measured. Results land in ``bench/results/``.
"""
