"""The Message Batches adapter: the only batch module that imports the ``anthropic`` SDK.

SDK errors are translated as the streaming adapter does (``ClaudeRetryable`` for 408/409/429/5xx and
connection failures, ``ClaudeFatal`` for the request's own faults). Results come from
``batches.results(id)``, the SDK's JSONL iterator: one line is decoded at a time, so a 100,000-line
file never sits in memory.

A batch create's headers apply to all of its requests, so the header-borne params
(``service.headers``) of a batch's requests are equal (the assembler sees to it); they are
taken out of every request's params and given to the SDK's ``batches.create`` as keyword arguments
(``beta.messages.batches.create`` when there are ``betas``), which sends them as headers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anthropic
import httpx2

from service.apierrors import refuse_final_retries, translate_api_error
from service.batch.records import Entry
from service.errors import ClaudeRetryable
from service.headers import header_key, split_params
from service.sdkclient import build_client
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
        self._client = build_client(settings, on_response=refuse_final_retries)

    async def close(self) -> None:
        await self._client.close()

    async def create(self, entries: Sequence[Entry]) -> BatchStatus:
        requests: list[Any] = []
        headers: dict[str, Any] = {}
        for i, entry in enumerate(entries):
            params, headers_i = split_params(json.loads(entry.params))
            if i == 0:
                headers = headers_i
            elif header_key(headers_i) != header_key(headers):
                raise ValueError("one batch's requests must share their header-borne params")
            requests.append({"custom_id": entry.custom_id, "params": params})
        workspace_id = headers.get("workspace_id", anthropic.omit)
        user_profile_id = headers.get("user_profile_id", anthropic.omit)
        try:
            if "betas" in headers:
                batch: Any = await self._client.beta.messages.batches.create(
                    requests=requests,
                    betas=headers["betas"],
                    workspace_id=workspace_id,
                    user_profile_id=user_profile_id,
                )
            else:
                batch = await self._client.messages.batches.create(
                    requests=requests, workspace_id=workspace_id, user_profile_id=user_profile_id
                )
        except anthropic.APIError as exc:
            raise translate_api_error(exc) from None
        return _status(batch)

    async def retrieve(self, batch_id: str, *, workspace_id: str | None = None) -> BatchStatus:
        """``workspace_id``: the batch's own (a credential for several workspaces must name it)."""
        try:
            return _status(
                await self._client.messages.batches.retrieve(batch_id, workspace_id=_given(workspace_id))
            )
        except anthropic.APIError as exc:
            raise translate_api_error(exc) from None

    async def results(
        self, batch_id: str, *, workspace_id: str | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(custom_id, result)`` per line, as the file streams in."""
        try:
            lines = await self._client.messages.batches.results(batch_id, workspace_id=_given(workspace_id))
            async for line in lines:
                result = line.result.to_dict(mode="json")
                yield line.custom_id, result
        except anthropic.APIError as exc:
            raise translate_api_error(exc) from None
        except httpx2.HTTPError as exc:  # a body broken mid-way is not wrapped by the SDK
            raise ClaudeRetryable(f"results stream broken: {exc}", type="stream_interrupted") from None


def _given(value: str | None) -> str | anthropic.Omit:
    return anthropic.omit if value is None else value


def workspace_of(entries: Sequence[Entry]) -> str | None:
    """The ``workspace_id`` a batch was created in (all of its requests share it), if any."""
    if not entries or '"workspace_id"' not in entries[0].params:
        return None
    value = json.loads(entries[0].params).get("workspace_id")
    return value if isinstance(value, str) else None


def _status(batch: Any) -> BatchStatus:
    counts = batch.request_counts
    return BatchStatus(
        id=batch.id,
        processing_status=batch.processing_status,
        counts={name: int(getattr(counts, name)) for name in COUNT_NAMES},
        created_at=batch.created_at,
    )
