"""Is the cluster answering? One metadata round trip through a client's own connections, time-boxed."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaError as AIOKafkaError


async def metadata_answer(client: Any, within: float) -> str | None:
    """``None`` if the cluster answered a metadata refresh of ``client`` in ``within`` seconds, else why.

    ``force_metadata_update`` joins the client's own refresh (shielded, so the time limit here does not
    cancel it) instead of opening a connection of its own: it tests the connections the client uses.
    """
    try:
        updated = await asyncio.wait_for(client.force_metadata_update(), within)
    except TimeoutError:
        return f"no metadata answer within {within:g}s"
    except AIOKafkaError as exc:
        return f"metadata request failed: {exc!r}"
    return None if updated else "no broker answered the metadata request"


async def topic_names(client: Any, within: float) -> frozenset[str] | None:
    """Every topic the cluster has, from one all-topics metadata request in ``within`` s; ``None`` if no
    answer. All topics, not the ones wanted: naming a missing topic makes some brokers create it."""
    try:
        cluster = await asyncio.wait_for(client.fetch_all_metadata(), within)
    except (TimeoutError, AIOKafkaError):
        return None
    return frozenset(cluster.topics())
