"""The streaming pipeline: prompts in, Claude streams, deltas/completions/errors out.

Pure modules (no I/O): ``offsets``, ``deltas``, ``accumulate``, ``coalesce``, ``intake``, ``pricing``,
``ratelimit``. Adapters: ``claude`` (the SDK), ``outputs`` (producer), ``inputs`` (consumer).
``prompts`` runs one prompt through its attempts; ``service`` owns the lifecycle.
"""
