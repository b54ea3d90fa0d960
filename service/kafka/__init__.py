"""The bus: the only modules that import aiokafka.

``inputs`` (the consumer-group member) and ``workers`` (record tasks, offsets committed past
acknowledged outputs, ``offsets``) feed records in; ``outputs`` is the producer with acknowledgement
futures; ``retry`` publishes until the broker acknowledges; ``probing``/``readiness`` answer
``/readyz``; ``handoff_log`` and ``leadership`` are batch mode's topic and group; ``clients`` are the
group-less readers and the CLI producer; ``topics``, ``committed``, ``bootstrap``, ``passthrough``,
``config``, ``auth``/``oauth`` and ``failures`` are the rest of the edge.
"""
