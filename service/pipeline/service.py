"""The streaming pipeline's lifecycle: start -> run (fetch, dispatch, commit) -> drain -> stop.

Data flows one way: ``RecordWorkers`` hands prompt records to ``PromptRunner`` tasks (at most
``MAX_IN_FLIGHT``; batch-mode prompts wait in their own pool for the batch hand-off), each task
publishes through ``Outputs``, and a partition's offset is committed only past records whose outputs
the broker acknowledged (see ``workers.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from schemas import Mode, SourceRecord
from service import events, logs, tracing
from service.agents.loop import STREAM_POOL, WAITING_POOL, ToolLoop
from service.agents.runlog import RunLog
from service.agents.sessions import Sessions
from service.barrier import CrashBarrier
from service.breaker import Policy
from service.kafka.compacted import CompactedTable
from service.kafka.consumeloop import ConsumeLoop
from service.kafka.inputs import InputRecord, Partition
from service.kafka.outputs import Outputs, publish_error_event
from service.kafka.probing import BrokerProbe
from service.kafka.tool_results import ToolResults
from service.kafka.workers import RecordWorkers, Work
from service.metrics import Metrics
from service.models import DeprecationNotice
from service.pipeline.circuit import Circuit
from service.pipeline.claude import Claude
from service.pipeline.headroom import read_headroom
from service.pipeline.intake import Rejection, decode_prompt
from service.pipeline.prompts import PromptRunner
from service.pipeline.ratelimit import RateGate
from service.pricing import PriceTable
from service.settings import Settings, secret_values
from service.supervisor import Supervisor

BatchHandOff = Callable[[events.Job], Awaitable[None]]
"""Takes a batch-mode prompt; returns once it is durably recorded for the batch path."""

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 5.0
BATCH_POOL = "batch"


class StreamingPipeline(ConsumeLoop):
    name = "pipeline"

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        batch_hand_off: BatchHandOff | None = None,
        supervisor: Supervisor | None = None,
        outputs: Outputs | None = None,
    ) -> None:
        """``outputs``: the process's producer, started and stopped by its owner; without one the
        pipeline builds and owns its own."""
        self._settings = settings
        self._batch_hand_off = batch_hand_off
        self._supervisor = supervisor or Supervisor()
        self._metrics = metrics
        self._deprecations = DeprecationNotice(
            lambda model: metrics.deprecated_model_prompts.labels(model).inc()
        )
        self._source = f"/claude-kafka/{settings.pipeline.service_instance}".encode()
        self._barrier = CrashBarrier(metrics, secret_values(settings))
        self.gate = RateGate(
            settings.pipeline.rate_limit_rpm, settings.pipeline.rate_limit_tpm, time.monotonic()
        )
        self._owns_outputs = outputs is None
        self.outputs = outputs or Outputs(settings.kafka, metrics)
        self.claude = Claude(
            settings.anthropic, observe=self._on_api_response, connections=settings.pipeline.max_in_flight
        )
        pipeline = settings.pipeline
        self.circuit = Circuit(
            Policy(
                backoff=pipeline.circuit_backoff_seconds,
                backoff_max=pipeline.circuit_backoff_max_seconds,
                overload_share=pipeline.circuit_overload_share,
                overload_window=pipeline.circuit_overload_window_seconds,
                overload_attempts=pipeline.circuit_overload_attempts,
                overload_min_attempts=pipeline.circuit_overload_min_attempts,
            ),
            metrics.circuit_open,
            enabled=pipeline.circuit_breaker,
        )
        self.tool_results = ToolResults(settings.kafka, settings.topics.tool_results, metrics)
        self.runs = RunLog(settings.kafka, settings.topics.runs, self.outputs)
        self.session_table = CompactedTable(settings.kafka, settings.topics.sessions, self.outputs)
        sessions = Sessions(self.session_table, settings.pipeline.session_max_tokens, metrics)
        self.loop = ToolLoop(
            self.outputs, settings.topics.tool_calls, self.tool_results, self.runs, metrics, self._source
        )
        self.runner = PromptRunner(
            settings,
            self.claude,
            self.outputs,
            metrics,
            PriceTable.load(settings.pipeline.prices_file),
            self.gate,
            self.circuit,
            self.loop,
            sessions,
        )
        self.workers = RecordWorkers(
            settings.kafka,
            settings.topics.prompts,
            metrics,
            # Batch-mode prompts wait in their own pool (up to one API batch), not in MAX_IN_FLIGHT.
            # Tool loops waiting for results give their stream slot back (service.agents.loop).
            limits={
                STREAM_POOL: settings.pipeline.max_in_flight,
                BATCH_POOL: settings.batch.max_requests,
                WAITING_POOL: settings.pipeline.max_waiting_for_tools,
            },
            start=tracing.traced_intake(self._start_work, settings.kafka.group_id),
            rebalance_grace=settings.pipeline.rebalance_grace_seconds,
            on_count=metrics.in_flight.set,
            on_revoked=self._forget_lag,
            accepting=self.circuit.accepting,
        )
        self.inputs = self.workers.inputs
        self._loop_tasks: list[asyncio.Task[None]] = []
        self.loop.move = self.workers.move_current
        metrics.max_in_flight.set(settings.pipeline.max_in_flight)
        metrics.max_waiting_for_tools.set(settings.pipeline.max_waiting_for_tools)
        needed = (settings.topics.prompts, *settings.topics.outputs(), settings.topics.batches)
        self.probe = BrokerProbe(
            self.outputs, self.inputs, metrics.ready, topics=needed, holding=self._circuit_open
        )

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._owns_outputs:
            await self.outputs.start()
        await self.tool_results.start()  # positioned before any prompt can publish a tool call
        await self.runs.start()
        await self.session_table.start()
        # Until stop, not run: runs still draining wait for results and read their records.
        self._loop_tasks = [
            self._supervisor.spawn(self.tool_results.run(), "pipeline-tool-results"),
            self._supervisor.spawn(self.runs.follow(), "pipeline-runs"),
            self._supervisor.spawn(self.session_table.follow(), "pipeline-sessions"),
        ]
        await self.inputs.start()
        self.probe.bootstrapped()

    def background(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [("lag", self._report_lag())]

    async def stop(self) -> None:
        for task in self._loop_tasks:
            task.cancel()
        await asyncio.gather(*self._loop_tasks, return_exceptions=True)
        await self.inputs.stop()
        await self.tool_results.stop()
        await self.runs.stop()
        await self.session_table.stop()
        if self._owns_outputs:
            await self.outputs.stop()
        await self.claude.close()

    @property
    def in_flight(self) -> int:
        return self.workers.in_flight

    def _circuit_open(self) -> str | None:
        reason = self.circuit.open_reason
        return None if reason is None else f"circuit open: {reason}"

    # -- one record -------------------------------------------------------------------------------
    def _start_work(self, record: InputRecord) -> Work:
        try:
            return self._work_for(record)
        except Exception as exc:  # the crash barrier of intake, which runs before any task exists
            detail = self._barrier.caught("intake", exc)
            source = SourceRecord(topic=record.topic, partition=record.partition, offset=record.offset)
            work = self._reject(record, source, self.inputs.generation, Rejection(detail), retryable=True)
            return work, STREAM_POOL

    def _work_for(self, record: InputRecord) -> Work:
        decoded = decode_prompt(record.value, self._settings.pipeline, datetime.now(UTC))
        logs.bind(custom_id=decoded.custom_id)
        generation = self.inputs.generation
        if isinstance(decoded, Rejection):
            self._metrics.prompts_received.labels(
                events.mode_of(decoded.prompt) if decoded.prompt else "unknown"
            ).inc()
            source = SourceRecord(topic=record.topic, partition=record.partition, offset=record.offset)
            return self._reject(record, source, generation, decoded), STREAM_POOL
        self._metrics.prompts_received.labels(decoded.mode.value).inc()
        self._deprecations.seen(decoded.params.model)
        job = events.Job(
            decoded,
            (record.topic, record.partition, record.offset),
            generation,
            record.timestamp_ms,
            tracing.incoming(record.headers),
            events.pack(record.value or b""),
        )
        if decoded.mode is Mode.BATCH and self._batch_hand_off is not None:
            hand_off = self._batch_hand_off(job)
            crashed = functools.partial(self.runner.publish_error, job, 1, retryable=True)
            return self._barrier.guard("batch_hand_off", hand_off, crashed), BATCH_POOL
        return self.runner.run(job), STREAM_POOL

    async def _reject(
        self, record: InputRecord, source: SourceRecord, generation: int, rejection: Rejection,
        retryable: bool = False,
    ) -> None:  # fmt: skip
        event = events.error(
            error=rejection.error,
            source=source,
            generation=generation,
            attempt=1,
            retryable=retryable,
            prompt=rejection.prompt,
            raw=record.value,
            custom_id=rejection.custom_id,
        )
        await publish_error_event(
            self.outputs, self._settings.topics.errors, self._source, event, tracing.incoming(record.headers)
        )
        attributes = rejection.prompt.attributes if rejection.prompt else None
        self._metrics.finished(events.mode_of(rejection.prompt), "errored", rejection.error.type, attributes)

    def _forget_lag(self, revoked: set[Partition]) -> None:
        for topic, partition in revoked:  # the new owner reports these; a stale value would mislead
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(topic, str(partition))

    # -- observability hooks -------------------------------------------------------------------------
    def _on_api_response(self, status: int, retry_after: float | None, headers: Mapping[str, str]) -> None:
        self._metrics.http_responses.labels(str(status)).inc()
        headroom = read_headroom(headers)
        for kind, value in headroom.items():
            self._metrics.rate_limit_remaining.labels(kind).set(value.remaining)
        if self._settings.pipeline.rate_limit_from_headers:
            self.gate.server.observe(headroom)
            self.runner.headroom_observed()
        if status == 429 and retry_after:
            self.gate.pause(retry_after, time.monotonic())
            self._metrics.rate_limit_waits.labels("server").inc()

    async def _report_lag(self) -> None:
        while True:
            for (topic, partition), lag in self.inputs.lag().items():
                self._metrics.lag.labels(topic, str(partition)).set(lag)
            await asyncio.sleep(LAG_INTERVAL_SECONDS)
