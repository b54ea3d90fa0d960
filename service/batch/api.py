"""The Message Batches adapter: the only batch module that imports the ``anthropic`` SDK.

SDK errors are translated as the streaming adapter does (``ClaudeRetryable`` for 408/409/429/5xx and
connection failures, ``ClaudeFatal`` for the request's own faults). Results come from
``batches.results(id)``, the SDK's JSONL iterator: one line is decoded at a time, so a 100,000-line
file never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic

from service.batch.records import Entry
from service.errors import ClaudeError, ClaudeRetryable
from service.pipeline.claude import translate_status_error
from service.settings import AnthropicSettings

COUNT_NAMES = ("processing", "succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True, slots=True)
class BatchStatus:
    id: str
    processing_status: str  # in_progress | canceling | ended
    counts: dict[str, int]
    created_at: datetime

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"


class BatchApi:
    def __init__(self, settings: AnthropicSettings) -> None:
        self._client = AsyncAnthropic(
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            base_url=settings.base_url,
            max_retries=settings.max_retries,
            timeout=httpx2.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds),
        )

    async def close(self) -> None:
        await self._client.close()

    async def create(self, entries: Sequence[Entry]) -> BatchStatus:
        requests: list[Any] = [{"custom_id": e.custom_id, "params": json.loads(e.params)} for e in entries]
        try:
            batch = await self._client.messages.batches.create(requests=requests)
        except anthropic.APIError as exc:
            raise _translate(exc) from None
        return _status(batch)

    async def retrieve(self, batch_id: str) -> BatchStatus:
        try:
            return _status(await self._client.messages.batches.retrieve(batch_id))
        except anthropic.APIError as exc:
            raise _translate(exc) from None

    async def results(self, batch_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(custom_id, result)`` per line, as the file streams in."""
        try:
            lines = await self._client.messages.batches.results(batch_id)
            async for line in lines:
                result = line.result.to_dict(mode="json")
                yield line.custom_id, result
        except anthropic.APIError as exc:
            raise _translate(exc) from None
        except httpx2.HTTPError as exc:  # a body broken mid-way is not wrapped by the SDK
            raise ClaudeRetryable(f"results stream broken: {exc}", type="stream_interrupted") from None


def _translate(exc: anthropic.APIError) -> ClaudeError:
    if isinstance(exc, anthropic.APIStatusError):
        return translate_status_error(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        return ClaudeRetryable("request timed out", type="api_timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return ClaudeRetryable(f"connection failed: {exc.__cause__ or exc}", type="api_connection_error")
    return ClaudeRetryable(str(exc), type="api_error")


def _status(batch: Any) -> BatchStatus:
    counts = batch.request_counts
    return BatchStatus(
        id=batch.id,
        processing_status=batch.processing_status,
        counts={name: int(getattr(counts, name)) for name in COUNT_NAMES},
        created_at=batch.created_at,
    )
