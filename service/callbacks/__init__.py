"""Signed HTTP delivery of final outcomes: ``claude-kafka callbacks``, its own consumer group.

    dispatcher.py   the consumer of the completion and error topics; commits after delivery
    delivery.py     one outcome to one URL: attempts, backoff, Retry-After, max age, 410 memory
    http.py         the one aiohttp session: limits, timeouts, the checking resolver, redirects
    resolver.py     an aiohttp resolver that drops refused addresses (so connects use checked IPs)
    policy.py       pure: allowed hosts, schemes and addresses
    signing.py      pure: Standard Webhooks ids, timestamps and signatures
    retry.py        pure: response classification, Retry-After parsing, the next delay
    outcomes.py     pure: a Kafka record -> what to deliver, and the ErrorEvent of a failed delivery

See the README ("Callbacks") for why this is a separate consumer rather than part of ``claude-kafka run``.
"""
