"""The streaming pipeline: prompts in, Claude streams, deltas/completions/errors out.

Pure modules (no I/O): ``deltas``, ``accumulate``, ``coalesce``, ``continuation``, ``intake``,
``ratelimit``, ``headroom``. Adapter: ``claude`` (the SDK). ``prompts`` runs one prompt through its
attempts; ``service`` is the streaming consume loop. Kafka is ``service.kafka`` (the bus); only the
runner imports this package.
"""
