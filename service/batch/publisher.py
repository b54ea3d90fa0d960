"""Publish batch outcomes (CompletionEvent / ErrorEvent, key = custom_id) and wait for the broker.

Sends are acknowledged in windows of ``WINDOW`` events, so a 100,000-line results file keeps at most
one window of futures and events alive. Kafka failures are retried here (a window is sent again),
so callers only see success; a duplicate is harmless downstream, which deduplicates by custom_id,
generation and attempt.
"""

from __future__ import annotations

import asyncio
import logging

from schemas import CompletionEvent, SourceRecord
from service import events, tracing
from service.batch.results import Publish
from service.cloudevents import TraceHeaders
from service.errors import KafkaError
from service.kafka.outputs import Outputs
from service.kafka.retry import publish_until_acknowledged, retry_delay
from service.metrics import Metrics
from service.settings import TopicSettings

log = logging.getLogger(__name__)

WINDOW = 500


class OutcomePublisher:
    def __init__(self, outputs: Outputs, topics: TopicSettings, metrics: Metrics, source: bytes) -> None:
        self._outputs = outputs
        self._topics = topics
        self._metrics = metrics
        self._source = source
        self._pending: list[tuple[Publish, TraceHeaders, asyncio.Future[object]]] = []

    @property
    def full(self) -> bool:
        return len(self._pending) >= WINDOW

    async def send(self, publish: Publish, trace: TraceHeaders) -> None:
        """Enqueue one final event; ``flush`` waits for it. Retries while the producer refuses."""
        future = await publish_until_acknowledged(
            lambda: self._enqueue(publish, trace), "batch outcome", logger=log
        )
        self._pending.append((publish, trace, future))

    async def flush(self) -> list[str]:
        """Wait until the broker acknowledged every pending event, sending the window again after a
        failure; return the acknowledged custom_ids."""
        failures = 0
        while self._pending:
            futures = [f for _, _, f in self._pending]
            try:
                await self._outputs.acknowledged(futures[:-1], futures[-1])
                break
            except KafkaError as exc:
                failures += 1
                log.warning("batch outcomes not acknowledged, sending again: %s", exc)
                await asyncio.sleep(retry_delay(failures))
                pending, self._pending = self._pending, []
                for publish, trace, _ in pending:
                    await self.send(publish, trace)
        pending, self._pending = self._pending, []
        for publish, _, _ in pending:
            self._observe(publish)
        return [str(publish.event.custom_id) for publish, _, _ in pending]

    async def _enqueue(self, publish: Publish, trace: TraceHeaders) -> asyncio.Future[object]:
        event = publish.event
        completion = isinstance(event, CompletionEvent)
        topic = self._topics.completions if completion else self._topics.errors
        kind = events.COMPLETION_TYPE if completion else events.ERROR_TYPE
        custom_id = event.custom_id
        key = custom_id.encode() if custom_id else None
        # Hours after its prompt: a new trace, whose send span links to the prompt's.
        with tracing.send(topic, key, trace, link=True) as carried:
            headers = events.final_headers(
                kind, self._source, custom_id, event.generation, event.attempt, _source_of(publish), carried
            )
            return await self._outputs.send(topic, key, event.model_dump_json().encode(), headers)

    def _observe(self, publish: Publish) -> None:
        event = publish.event
        if isinstance(event, CompletionEvent):
            model = str(event.message.get("model") or "unknown")
            self._metrics.completed(
                model,
                "batch",
                event.message,
                event.cost_usd,
                event.attributes,
                batch_saving_usd=publish.batch_saving_usd,
            )
        else:
            self._metrics.finished("batch", "errored", event.error.type, event.attributes)


def _source_of(publish: Publish) -> SourceRecord:
    event = publish.event
    if isinstance(event, CompletionEvent):
        # A completion carries no source; the headers only use it when custom_id is missing.
        return SourceRecord(topic="", partition=0, offset=0)
    return event.source
