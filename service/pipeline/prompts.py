"""Run one prompt through its attempts until one final event is acknowledged by the broker.

Per attempt: every SSE event (but ``ping``) becomes a DeltaEvent in order, then one CompletionEvent.
An answer paused with ``pause_turn`` is continued (up to ``PAUSE_TURN_MAX_CONTINUATIONS`` more
requests, see ``continuation.py``) within the same attempt: the deltas of every request follow each
other with one gap-free ``seq``, and the CompletionEvent carries the merged answer.
A stream that breaks is requested again as a new attempt (responses are not resumable); a request the
API refuses becomes an ErrorEvent at once; attempts exhausted becomes an ErrorEvent with
``retryable: true``. ``run`` returns only when the final event and every delta are acknowledged,
which is what lets the consumer commit the prompt's offset.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from schemas import ErrorDetail, Timings
from service import events, logs, tracing
from service.agents.loop import LoopResult, ToolLoop
from service.agents.sessions import Sessions, exchange
from service.backoff import attempt_delay
from service.barrier import CrashBarrier
from service.continuation import PAUSE_TURN, continuation_params, merge_messages
from service.errors import ClaudeError, ClaudeFatal, KafkaError, LoopFailed
from service.kafka.outputs import Acks, Outputs, encode_key, publish_error_event
from service.kafka.retry import retry_delay
from service.metrics import Metrics
from service.pipeline.accumulate import MessageAccumulator
from service.pipeline.circuit import Circuit, Verdict
from service.pipeline.claude import Claude
from service.pipeline.coalesce import Coalescer
from service.pipeline.deltas import DeltaEncoder, dumps
from service.pipeline.headroomwait import HeadroomQueue
from service.pipeline.ratelimit import RateGate
from service.pricing import PriceTable
from service.settings import Settings, secret_values

log = logging.getLogger(__name__)

Outcome = tuple[dict[str, Any], Timings, list[Any], LoopResult | None]
"""An attempt's answer, timings, delta acknowledgements to wait for, and a tool loop's turns."""


class PromptRunner:
    def __init__(
        self,
        settings: Settings,
        claude: Claude,
        outputs: Outputs,
        metrics: Metrics,
        prices: PriceTable,
        gate: RateGate,
        circuit: Circuit,
        loop: ToolLoop | None = None,
        sessions: Sessions | None = None,
    ) -> None:
        self._loop = loop  # runs prompts that ask for a tool loop (service.agents)
        self._sessions = sessions  # keeps the history of prompts that name a session
        self._pipeline = settings.pipeline
        self._topics = settings.topics
        self._claude = claude
        self._outputs = outputs
        self._metrics = metrics
        self._prices = prices
        self._gate = gate
        self._circuit = circuit
        self._source = f"/claude-kafka/{settings.pipeline.service_instance}".encode()
        self._rng = random.Random()
        self._barrier = CrashBarrier(metrics, secret_values(settings))
        self._headroom = HeadroomQueue(gate.server)

    async def run(self, job: events.Job) -> None:
        """Process ``job`` to exactly one acknowledged final event for its last attempt."""
        progress = _Progress()
        # The crash barrier is this function's own ``except``, not ``CrashBarrier.guard``: a stream in
        # flight then holds no guard coroutine and no publishing closures (~1 KB together; issue 19).
        session = job.prompt.session if self._sessions is not None else None
        if session is None or self._sessions is None:
            try:
                await self._run(job, progress)
            except Exception as exc:
                await self._crashed(job, progress, exc)
        else:
            async with self._sessions.hold(session):  # the first wait: taken in the order prompts came
                try:
                    await self._in_session(job, progress)
                except Exception as exc:
                    await self._crashed(job, progress, exc)
        if job.prompt.loop is not None and self._loop is not None:
            await self._loop.ended(job.prompt.custom_id)  # a final event is out: the run is over

    async def _crashed(self, job: events.Job, progress: _Progress, exc: Exception) -> None:
        """The prompt's ErrorEvent for an unexpected exception; without the parsed prompt's fields if
        the full event cannot be published (in case they are what it choked on)."""
        await self._barrier.crashed(
            "prompt",
            exc,
            functools.partial(self.publish_error, job, progress.attempt, retryable=True),
            functools.partial(self.publish_error, job, progress.attempt, retryable=True, bare=True),
        )

    async def _in_session(self, job: events.Job, progress: _Progress) -> None:
        """Run ``job`` after its session's history; on completion the history grows by its exchange."""
        assert self._sessions is not None and job.prompt.session is not None
        with_history, _ = await self._sessions.prepare(job)
        await self._run(with_history, progress)
        if progress.final is not None:
            message, _, _, loop = progress.final
            request = loop.messages if loop is not None else with_history.prompt.params.messages
            await self._sessions.record(job.prompt.session, exchange(request, message, loop is not None))

    async def _run(self, job: events.Job, progress: _Progress) -> None:
        attempt, claude_failures, kafka_failures = 1, 0, 0
        probe = False
        while True:
            progress.attempt = attempt
            logs.bind(attempt=attempt)  # this task's context: every log line of the attempt carries it
            try:
                probe = await self._circuit.permit()
                with tracing.attempt(attempt, job.prompt.params.model) as span:
                    outcome = await self._attempt(job, attempt)
                    span.answered(outcome[0])
                self._circuit.succeeded()
                await self._publish_final(job, attempt, outcome)
                progress.final = outcome
                return
            except ClaudeError as exc:
                verdict = self._circuit.failed(exc, probe=probe)
                if verdict is Verdict.HOLD:
                    # The organisation cannot be served: this attempt does not count, and the prompt
                    # waits in ``permit`` for the circuit to close instead of becoming an ErrorEvent.
                    # Counted as a repeat (``circuit_open``) so the retries metric adds up to attempts.
                    log.info("attempt held by the open circuit", extra={"reason": exc.type})
                    self._metrics.retries.labels("circuit_open").inc()
                    attempt += 1
                    continue
                if verdict is Verdict.REPORT and not isinstance(exc, ClaudeFatal):
                    # e.g. a spend limit (429): retrying it would only be held, so report it now.
                    detail = ErrorDetail(type=exc.type, message=exc.message, code=exc.code)
                    await self.publish_error(job, attempt, detail, True)
                    return
                if isinstance(exc, ClaudeFatal):
                    await self._refused(job, attempt, exc)
                    return
                claude_failures += 1
                if claude_failures >= self._pipeline.max_attempts:
                    detail = ErrorDetail(
                        type="attempts_exhausted",
                        message=f"{claude_failures} attempts failed; last: {exc.type}: {exc.message}",
                        code=exc.code,
                    )
                    await self.publish_error(job, attempt, detail, True)
                    return
                self._metrics.retries.labels(exc.type).inc()  # counted only when an attempt follows
                delay = attempt_delay(
                    claude_failures,
                    self._pipeline.retry_backoff_seconds,
                    self._pipeline.retry_backoff_max_seconds,
                    exc.retry_after,
                    self._rng,
                )
                log.info(
                    "attempt failed, retrying",
                    extra={
                        "custom_id": job.prompt.custom_id,
                        "attempt": attempt,
                        "reason": exc.type,
                        "delay": delay,
                    },
                )
            except LoopFailed as exc:
                await self.publish_error(job, attempt, ErrorDetail(type=exc.type, message=exc.message), False)
                return
            except KafkaError as exc:
                # The outputs were not acknowledged, so this attempt does not count: redo it once the
                # broker is back, however long that takes (the offset stays uncommitted meanwhile).
                kafka_failures += 1
                self._metrics.retries.labels("kafka").inc()
                delay = retry_delay(kafka_failures, self._rng)
                log.warning(
                    "outputs not acknowledged, retrying: %s", exc, extra={"custom_id": job.prompt.custom_id}
                )
            await asyncio.sleep(delay)
            attempt += 1

    async def _refused(self, job: events.Job, attempt: int, exc: ClaudeFatal) -> None:
        # The type only: an API message may quote the prompt, which stays out of INFO and up.
        log.warning("the API refused the request", extra={"reason": exc.type})
        await self.publish_error(
            job, attempt, ErrorDetail(type=exc.type, message=exc.message, code=exc.code), False
        )

    async def _attempt(self, job: events.Job, attempt: int) -> Outcome:
        prompt = job.prompt
        params = prompt.params.model_dump()
        model = prompt.params.model
        await self._wait_for_rate_limit(params)
        self._metrics.attempts.labels("stream").inc()
        trace = tracing.outgoing(job.trace)  # the attempt span's context, once per attempt
        encoder = DeltaEncoder(
            prompt.custom_id, job.generation, attempt, prompt.attributes, self._source, trace
        )
        encoder.partition = await self._outputs.partition(self._topics.deltas, encoder.key)
        acks = Acks()
        started_wall = time.time()
        started = time.monotonic()
        queued_ms = max(0.0, started_wall * 1000.0 - job.timestamp_ms)
        if attempt == 1:  # a retry's wait includes earlier attempts: not queueing
            self._metrics.queue_wait.labels("stream").observe(queued_ms / 1000.0)
        loop: LoopResult | None = None
        try:
            if prompt.loop is not None and self._loop is not None:
                loop, first_token = await self._looped(job, attempt, params, model, encoder, acks)
                message = loop.message
            else:
                # ``_turn``'s steps, not a call to it: one coroutine frame less per stream (issue 19).
                message, first_token = await self._stream_once(params, model, encoder, acks)
                if message.get("stop_reason") == PAUSE_TURN:
                    message, later = await self._continued(params, message, model, encoder, acks)
                    first_token = first_token or later
        finally:
            self._metrics.deltas.inc(encoder.seq)  # a broken attempt's deltas were published too
        finished = time.monotonic()
        timings = Timings(
            queued_ms=round(queued_ms, 3),
            ttft_ms=round((first_token - started) * 1000.0, 3) if first_token else None,
            duration_ms=round((finished - started) * 1000.0, 3),
        )
        if loop is None:  # a loop's time includes its tool runs: not a request's duration
            self._observe_stream(model, message, started, first_token, finished)
        return message, timings, acks.pending, loop

    async def _looped(
        self,
        job: events.Job,
        attempt: int,
        params: dict[str, Any],
        model: str,
        encoder: DeltaEncoder,
        acks: Acks,
    ) -> tuple[LoopResult, float | None]:
        """The attempt of a prompt with a tool loop: its turns, each streamed as deltas of the attempt."""
        first_token: float | None = None

        async def stream_turn(request: dict[str, Any]) -> dict[str, Any]:
            nonlocal first_token
            if encoder.seq:
                await self._wait_for_rate_limit(request)  # a tool loop's next turn
            message, turn_first_token = await self._turn(request, model, encoder, acks)
            first_token = first_token or turn_first_token
            return message

        async def replay(events_: list[dict[str, Any]]) -> None:
            for event in events_:
                value, headers = encoder.encode(dumps(event))
                acks.add(
                    await self._outputs.send(
                        self._topics.deltas, encoder.key, value, headers, encoder.partition
                    )
                )

        assert self._loop is not None
        loop = await self._loop.run(job, attempt, stream_turn, replay)
        return loop, first_token

    async def _turn(
        self, params: dict[str, Any], model: str, encoder: DeltaEncoder, acks: Acks
    ) -> tuple[dict[str, Any], float | None]:
        """One turn: a request, and the requests continuing it while it pauses (``pause_turn``)."""
        message, first_token = await self._stream_once(params, model, encoder, acks)
        if message.get("stop_reason") == PAUSE_TURN:
            message, later = await self._continued(params, message, model, encoder, acks)
            first_token = first_token or later
        return message, first_token

    async def _continued(
        self, params: dict[str, Any], message: dict[str, Any], model: str, encoder: DeltaEncoder, acks: Acks
    ) -> tuple[dict[str, Any], float | None]:
        """A paused turn continued, up to PAUSE_TURN_MAX_CONTINUATIONS more requests; a turn still
        paused after the last is delivered as it stands. Gives the merged message and the first-token
        time of the continuations."""
        first_token: float | None = None
        for _ in range(self._pipeline.pause_turn_max_continuations):
            request = continuation_params(params, message["content"])
            await self._wait_for_rate_limit(request)  # a continuation is one more request
            part, part_first_token = await self._stream_once(request, model, encoder, acks)
            first_token = first_token or part_first_token
            message = merge_messages(message, part)
            if part.get("stop_reason") != PAUSE_TURN:
                break
        return message, first_token

    async def _stream_once(
        self, params: dict[str, Any], model: str, encoder: DeltaEncoder, acks: Acks
    ) -> tuple[dict[str, Any], float | None]:
        """One API request: its events published as deltas; returns its Message and first-token time."""
        accumulator = MessageAccumulator()
        coalescer = (
            Coalescer(self._pipeline.delta_coalesce_ms / 1000.0) if self._pipeline.delta_coalesce_ms else None
        )
        send = self._outputs.send
        topic = self._topics.deltas
        key, partition = encoder.key, encoder.partition
        sse_event = self._metrics.sse_event
        first_token: float | None = None
        try:
            stream = self._claude.stream(params)
            try:  # ``aclosing``'s work, without its object and bound ``__aexit__`` per stream in flight
                source = stream if coalescer is None else _ticking(stream, coalescer)
                async for raw, event in source:
                    if event is None:  # a coalescing window closed with no new event
                        texts = coalescer.flush() if coalescer else []
                    else:
                        kind = event["type"]
                        sse_event(kind)
                        accumulator.add(event)
                        if first_token is None and kind == "content_block_delta":
                            first_token = time.monotonic()
                        if coalescer is None:  # the common case, without a list per event
                            value, headers = encoder.encode(raw)
                            acks.add(await send(topic, key, value, headers, partition))
                            continue
                        texts = coalescer.push(event, raw, time.monotonic())
                    for text in texts:
                        value, headers = encoder.encode(text)
                        acks.add(await send(topic, key, value, headers, partition))
            finally:
                await stream.aclose()
            if coalescer is not None:
                for text in coalescer.flush():
                    value, headers = encoder.encode(text)
                    acks.add(await send(topic, key, value, headers, partition))
            message = accumulator.result()
        except ClaudeError as exc:
            self._metrics.api_requests.labels(model, exc.type).inc()
            raise
        self._metrics.api_requests.labels(model, "ok").inc()
        return message, first_token

    def _observe_stream(
        self, model: str, message: dict[str, Any], started: float, first_token: float | None, finished: float
    ) -> None:
        self._metrics.request_duration.labels(model, "stream").observe(finished - started)
        if first_token is not None:
            self._metrics.ttft.labels(model).observe(first_token - started)
            output_tokens = (message.get("usage") or {}).get("output_tokens") or 0
            if output_tokens > 1:
                self._metrics.time_per_output_token.labels(model).observe(
                    (finished - first_token) / (output_tokens - 1)
                )

    async def _wait_for_rate_limit(self, params: dict[str, Any]) -> None:
        # A rough input estimate (4 bytes a token); the output budget counts too against a TPM limit.
        input_estimate = len(json.dumps(params.get("messages", ""))) // 4
        if self._pipeline.rate_limit_from_headers:
            # The organisation's headroom: re-checked after each wait, since other prompts and other
            # replicas spend it meanwhile; one waiter sleeps at a time (headroomwait.py).
            await self._headroom.take(input_estimate, self._headroom_waited)
        estimate = input_estimate + int(params.get("max_tokens", 0)) if self._gate.tokens is not None else 0
        wait = self._gate.reserve(estimate, time.monotonic())
        if wait > 0:
            self._metrics.rate_limit_waits.labels("client").inc()
            self._metrics.rate_limit_wait_seconds.inc(wait)
            await asyncio.sleep(wait)

    def _headroom_waited(self, seconds: float) -> None:
        self._metrics.rate_limit_waits.labels("headroom").inc()
        self._metrics.rate_limit_wait_seconds.inc(seconds)

    def headroom_observed(self) -> None:
        """An API response reported the organisation's headroom (``ServerLimits.observe``)."""
        self._headroom.observed()

    async def _publish_final(self, job: events.Job, attempt: int, outcome: Outcome) -> None:
        message, timings, futures, loop = outcome
        model = str(message.get("model") or job.prompt.params.model)
        usage = message.get("usage") or {}
        cost = self._prices.cost_usd(model, usage)
        event = events.completion(job, attempt, message, timings, cost, loop.turns if loop else None)
        key = encode_key(job.prompt.custom_id)
        with tracing.send(self._topics.completions, key, job.trace) as trace:
            headers = events.final_headers(
                events.COMPLETION_TYPE, self._source, job.prompt.custom_id, job.generation, attempt,
                job.source, trace,
            )  # fmt: skip
            final = await self._outputs.send(
                self._topics.completions, key, event.model_dump_json().encode(), headers
            )
        await self._outputs.acknowledged(futures, final)
        self._metrics.completed(job.prompt.params.model, "stream", message, cost, job.prompt.attributes)

    async def publish_error(
        self, job: events.Job, attempt: int, detail: ErrorDetail, retryable: bool, *, bare: bool = False
    ) -> None:
        """Publish the prompt's ErrorEvent; retried until acknowledged (the offset waits for it).

        ``bare`` leaves out everything taken from the parsed prompt (the raw record stays).
        """
        event = events.error(
            error=detail,
            source=job.source,
            generation=job.generation,
            attempt=attempt,
            retryable=retryable,
            prompt=None if bare else job.prompt,
            raw=job.raw,
        )
        trace = () if bare else job.trace
        await publish_error_event(self._outputs, self._topics.errors, self._source, event, trace)
        self._metrics.finished(job.prompt.mode.value, "errored", detail.type, job.prompt.attributes)


class _Progress:
    """How far a prompt got, for the crash barrier's ErrorEvent."""

    __slots__ = ("attempt", "final")

    def __init__(self) -> None:
        self.attempt = 1
        self.final: Outcome | None = None  # set once the completion is acknowledged


async def _ticking(
    stream: AsyncIterator[tuple[bytes, dict[str, Any]]], coalescer: Coalescer
) -> AsyncIterator[tuple[bytes, dict[str, Any] | None]]:
    """Yield the stream's events, plus ``(b"", None)`` whenever the coalescer's window closes first."""
    iterator = aiter(stream)
    pending: asyncio.Future[tuple[bytes, dict[str, Any]]] | None = None
    loop = asyncio.get_running_loop()
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            timeout = None if coalescer.deadline is None else max(0.0, coalescer.deadline - loop.time())
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if not done:
                yield b"", None
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
