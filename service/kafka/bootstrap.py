"""Is the cluster there at all? One bootstrap with a throwaway client, before the real clients start.

aiokafka's ``start()`` raises when no bootstrap server answers, and a client that failed half-way is
not safe to start again, so the runner asks here first and retries with backoff instead of exiting
(an exit on start-up is a crash loop under Kubernetes or compose).
"""

from __future__ import annotations

import asyncio

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError as AIOKafkaError

from service.kafka.config import common_kwargs
from service.settings import KafkaSettings


async def bootstrap_problem(kafka: KafkaSettings, within: float = 10.0) -> str | None:
    """``None`` once a bootstrap server answered a metadata request within ``within`` s, else why not."""
    client = AIOKafkaClient(**common_kwargs(kafka), request_timeout_ms=int(within * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), within)
    except TimeoutError:
        return f"no answer from {kafka.bootstrap_servers} within {within:g}s"
    except (AIOKafkaError, OSError) as exc:
        return str(exc) or repr(exc)
    finally:
        await client.close()
    return None
