"""The batch path's I/O: accumulate -> submit -> record -> poll -> publish results -> tombstone.

``hand_off(job)`` is the pipeline's seam. It returns only once the prompt is part of a created API
batch whose hand-off record the broker has acknowledged, so the pipeline commits the prompt's offset
only after that record is durable. A prompt whose hand-off is cancelled (rebalance, shutdown) before
it was taken into a batch is withdrawn; its offset stays uncommitted and it is redone.

One task assembles and submits (one ``create`` at a time, retried with backoff on 429/5xx while the
prompts stay in hand) and writes the batch's record. Every replica follows the hand-off topic (a tail
from its beginning) to know which prompts open batches hold; only the batch leader (the member of
``<KAFKA_GROUP_ID>.batches`` assigned the hand-off partition, see ``leadership``) follows batches: one
task per open batch polls it, writes a publishing marker, streams its results, publishes the events,
resubmits expired/canceled requests and finally writes the tombstones. A new leader (a restart, a
crash, a scale event) takes over every open batch; it re-records one attempt higher only a batch with a
publishing marker, whose results may be out already.

A process killed after a batch's record and before its prompts' offsets were committed leaves those
prompts to be redone by whichever replica gets their partition. Every replica knows them from the
tail while the batch is open, and, when it closes, keeps those the group has not committed past, so
``hand_off`` lets them through without a second submission even when the batch finished before they
were consumed again (a dead member holds its partitions until its session times out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas import ErrorDetail, SourceRecord
from service import events
from service.backoff import attempt_delay
from service.barrier import CrashBarrier
from service.batch.api import COUNT_NAMES, BatchApi, BatchStatus, workspace_of
from service.batch.assembly import Assembler, Waiting, blame
from service.batch.publisher import OutcomePublisher
from service.batch.records import Entry, HandOffState, OpenBatch, chunk_records, marker_key, superseded
from service.batch.results import Publish, Resubmit, error_event, outcome
from service.breaker import OVERLOAD, organisation_failure
from service.errors import ClaudeError, ClaudeFatal, KafkaError
from service.kafka.committed import committed_positions
from service.kafka.handoff_log import HandOffLog, HandOffTail
from service.kafka.leadership import BatchLeadership
from service.kafka.outputs import Outputs
from service.kafka.retry import retry_delay
from service.metrics import Metrics
from service.pricing import PriceTable
from service.settings import Settings, secret_values
from service.supervisor import Supervisor

log = logging.getLogger(__name__)

CREATE_BACKOFF = (1.0, 60.0)  # first and longest wait between failed creates, seconds
POLL_BACKOFF_FACTOR = 1.5
POLL_BACKOFF_CAP = 8  # the poll interval grows to at most 8 x BATCH_POLL_SECONDS
RESULTS_BACKOFF = (0.5, 30.0)
TAIL_POLL_MS = 500

Where = tuple[str, int, int]


def where(source: SourceRecord) -> Where:
    """The key a prompt's source record has in the coordinator's indexes."""
    return (source.topic, source.partition, source.offset)


@dataclass(eq=False)
class _Tracked:
    batch: OpenBatch
    skip: frozenset[str]
    takeover: bool  # opened before this replica led: another follower may have published some results
    counts: dict[str, int] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


def entry_of(job: events.Job) -> Entry:
    prompt = job.prompt
    return Entry(
        custom_id=prompt.custom_id,
        generation=job.generation,
        attempt=1,
        source=job.source,
        timestamp_ms=job.timestamp_ms,
        attributes=prompt.attributes,
        **{name: value.decode("latin-1") for name, value in job.trace},
        callback=prompt.callback,
        params=prompt.params.model_dump_json(),
    )


def poll_delay(polls: int, base: float) -> float:
    """``base`` growing by half each poll, capped: quick for short batches, gentle for 24 h ones."""
    return min(base * POLL_BACKOFF_FACTOR**polls, base * POLL_BACKOFF_CAP)


class BatchCoordinator:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        prices: PriceTable | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._prices = prices or PriceTable.load(settings.pipeline.prices_file)
        self._barrier = CrashBarrier(metrics, secret_values(settings))
        self._supervisor = supervisor or Supervisor()
        b = settings.batch
        self._assembler = Assembler(b.max_requests, b.max_bytes, b.max_wait_seconds)
        self._instance = settings.pipeline.service_instance
        source = f"/claude-kafka/{self._instance}".encode()
        self.api = BatchApi(settings.anthropic)
        self.outputs = Outputs(settings.kafka, metrics)
        self.records = HandOffLog(settings.kafka, settings.topics.batches)
        self._tail = HandOffTail(settings.kafka, settings.topics.batches)
        self.leadership = BatchLeadership(
            settings.kafka, settings.topics.batches, self._lead, self._unlead, self._supervisor
        )
        self._publisher = OutcomePublisher(self.outputs, settings.topics, metrics, source)
        self._source = source
        self._state = HandOffState()
        self._open: dict[str, _Tracked] = {}  # batches this replica follows (while it leads)
        self._finished: set[str] = set()  # followed to the end here; their tombstones not read back yet
        self._recorded: dict[Where, str] = {}  # source offset -> open batch holding that prompt
        self._redo_expected: set[Where] = set()  # prompts of closed batches whose offsets were not committed
        self._wake = asyncio.Event()
        self._flush = False
        self._assembling: asyncio.Task[None] | None = None
        self._tailing: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the producers, read the hand-off topic up to now, then follow it and join the group."""
        await self.outputs.start()
        await self.records.start()
        await self._tail.start()
        changes = self._state.apply(await self._tail.catch_up())
        for batch in changes.completed:
            self._index(batch)
        incomplete = self._state.incomplete_keys()
        if incomplete:
            # Written half-way by a process that died before its hand-off returned: those prompts
            # were never committed and are redone, so the partial record is ignored.
            log.warning("ignoring incomplete batch records", extra={"keys": len(incomplete)})
        self._tailing = self._supervisor.spawn(self._follow_topic(), "batch-follow-topic")
        self._assembling = self._supervisor.spawn(self._assemble(), "batch-assemble")
        self.leadership.start()
        log.info(
            "batch coordinator started",
            extra={"open_batches": len(changes.completed), "leadership_group": self.leadership.group_id},
        )

    def flush(self) -> None:
        """Submit everything waiting now instead of at its bound (shutdown, resubmissions)."""
        self._flush = True
        self._wake.set()

    async def stop(self) -> None:
        await self.leadership.stop()  # stops following first, then leaves: the next leader takes over
        tasks = [t for t in (self._assembling, self._tailing) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        waiting = len(self._assembler)
        for item in self._assembler.take(time.monotonic(), force=True):
            _cancel(item.token)
        await self._tail.stop()
        await self.records.stop()
        await self.outputs.stop()
        await self.api.close()
        log.info("batch coordinator stopped", extra={"withdrawn": waiting})

    @property
    def open_batches(self) -> list[str]:
        return list(self._open)

    # -- the seam ----------------------------------------------------------------------------------
    async def hand_off(self, job: events.Job) -> None:
        """Return once ``job`` is in a created batch whose record the broker acknowledged."""
        at = where(job.source)
        if at in self._recorded or at in self._redo_expected:
            # Redone after a crash between its record and its commit: a resumed batch holds it (or
            # held it and has published its outcome already).
            self._redo_expected.discard(at)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = self._assembler.add(entry_of(job), time.monotonic(), future)
        self._wake.set()
        try:
            await future
        except asyncio.CancelledError:
            self._assembler.discard(item)
            raise

    # -- assembly and submission --------------------------------------------------------------------
    async def _assemble(self) -> None:
        while True:
            now = time.monotonic()
            if self._flush and not self._assembler:
                self._flush = False
            items = self._assembler.take(now, force=self._flush)
            if items:
                await self._submit(items)
                continue
            deadline = self._assembler.deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _submit(self, items: list[Waiting]) -> None:
        failures = 0
        while True:
            items = [i for i in items if not _withdrawn(i.token)]
            if not items:
                return
            try:
                status = await self.api.create([i.entry for i in items])
                break
            except ClaudeFatal as exc:
                if self._organisation_failure(exc):
                    failures += 1
                    await asyncio.sleep(self._held(exc, failures, len(items)))
                    continue
                index = blame(exc.message)
                if index is not None and index < len(items) and len(items) > 1:
                    await self._refuse(items.pop(index), exc)  # the rest go again without it
                    continue
                for item in items:
                    await self._refuse(item, exc)
                return
            except ClaudeError as exc:
                failures += 1
                if self._organisation_failure(exc):
                    await asyncio.sleep(self._held(exc, failures, len(items)))
                    continue
                delay = attempt_delay(failures, *CREATE_BACKOFF, exc.retry_after)
                self._metrics.retries.labels(f"batch_{exc.type}").inc()
                log.warning(
                    "batch create failed, retrying",
                    extra={"requests": len(items), "reason": exc.type, "delay": round(delay, 3)},
                )
                await asyncio.sleep(delay)
        await self._record(status, items)

    def _organisation_failure(self, exc: ClaudeError) -> bool:
        """A create refused for the whole organisation (revoked key, spend limit, ...; see
        ``pipeline/breaker.py``): the waiting prompts are held and the create retried, never
        dead-lettered. Overload keeps the ordinary retry path (it is retryable already)."""
        reason = organisation_failure(exc)
        return self._settings.pipeline.circuit_breaker and reason is not None and reason != OVERLOAD

    def _held(self, exc: ClaudeError, failures: int, requests: int) -> float:
        pipeline = self._settings.pipeline
        delay = attempt_delay(
            failures, pipeline.circuit_backoff_seconds, pipeline.circuit_backoff_max_seconds
        )
        self._metrics.retries.labels(f"batch_{exc.type}").inc()
        log.warning(
            "batch create refused for the organisation; prompts held, retrying",
            extra={"requests": requests, "reason": organisation_failure(exc), "delay": delay},
        )
        return delay

    async def _record(self, status: BatchStatus, items: list[Waiting]) -> None:
        entries = [i.entry for i in items]
        submitted_at = datetime.now(UTC)
        records = chunk_records(status.id, entries, submitted_at, self._instance)
        await self.records.write(records)
        # The leader picks the batch up from the tail; the index sees redone prompts at once.
        self._index(OpenBatch(status.id, submitted_at, self._instance, len(records), tuple(entries)))
        self._metrics.batches_submitted.inc()
        self._metrics.attempts.labels("batch").inc(len(entries))
        log.info(
            "batch submitted",
            extra={"batch_id": status.id, "requests": len(entries), "records": len(records),
                   "bytes": sum(i.size for i in items)},
        )  # fmt: skip
        for item in items:
            _resolve(item.token)

    async def _refuse(self, item: Waiting, exc: ClaudeError) -> None:
        """The API refused the request itself at create time: an ErrorEvent, then the hand-off ends."""
        if not _withdrawn(item.token):
            event = error_event(
                item.entry, ErrorDetail(type=exc.type, message=exc.message, code=exc.code), retryable=False
            )
            await self._publisher.send(Publish(event, "errored"), item.entry.trace)
            await self._publisher.flush()
        _resolve(item.token)

    # -- following a batch --------------------------------------------------------------------------
    async def _advance(self, batch: OpenBatch) -> OpenBatch:
        """Re-record a resumed batch one attempt higher before following it.

        Its results may have been published before the crash that left it open; published again,
        they must carry a higher (generation, attempt) than the first time, as every redo does.
        """
        entries = tuple(entry.next_attempt() for entry in batch.entries)
        records = chunk_records(batch.batch_id, entries, batch.submitted_at, batch.instance)
        await self.records.write(records)
        stale = set(batch.keys) - {record.key for record in records}
        if stale:
            await self.records.tombstone(sorted(stale))
        return OpenBatch(batch.batch_id, batch.submitted_at, batch.instance, len(records), entries)

    async def _follow_topic(self) -> None:
        """Apply the hand-off topic as it grows: index every open batch; the leader follows new ones."""
        failures = 0
        while True:
            try:
                records = await self._tail.read(TAIL_POLL_MS)
            except KafkaError as exc:
                failures += 1
                delay = retry_delay(failures)
                log.warning("following the hand-off topic failed, retrying: %s", exc, extra={"delay": delay})
                await asyncio.sleep(delay)
                continue
            failures = 0
            if not records:
                continue
            try:
                await self._apply(records)
            except Exception:  # a bug here must not stop batch following for the life of the process
                log.exception("applying hand-off records failed", extra={"records": len(records)})

    async def _apply(self, records: list[tuple[str, bytes | None]]) -> None:
        changes = self._state.apply(records)
        for batch in changes.completed:
            self._index(batch)
            if self.leadership.leading and self._unfollowed(batch):
                self._follow_batch(batch, takeover=False)
        if changes.closed:
            await self._unindex(changes.closed)

    async def _lead(self) -> None:
        """Leadership gained: follow every open batch nobody here follows yet."""
        open_batches = self._state.open()
        skips = superseded(open_batches)  # decided on the recorded versions, before any advance
        for batch in open_batches:
            if self._unfollowed(batch):
                self._follow_batch(batch, takeover=True, skip=skips[batch.batch_id])
                log.info(
                    "batch resumed",
                    extra={"batch_id": batch.batch_id, "requests": len(batch.entries), "by": batch.instance},
                )
        self._metrics.batch_leader.set(1)
        self._export()

    async def _unlead(self) -> None:
        """Leadership lost (or stopping): stop following; the next leader resumes these batches."""
        tasks = [t.task for t in self._open.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._open.clear()
        self._metrics.batch_leader.set(0)
        self._export()

    def _unfollowed(self, batch: OpenBatch) -> bool:
        return batch.batch_id not in self._open and batch.batch_id not in self._finished

    def _follow_batch(self, batch: OpenBatch, takeover: bool, skip: frozenset[str] = frozenset()) -> None:
        tracked = _Tracked(batch, skip, takeover, {"processing": len(batch.entries)})
        self._open[batch.batch_id] = tracked
        tracked.task = self._supervisor.spawn(self._follow(tracked), f"batch-follow-{batch.batch_id}")
        self._export()

    def _index(self, batch: OpenBatch) -> None:
        for entry in batch.entries:
            self._recorded[where(entry.source)] = batch.batch_id

    async def _unindex(self, closed: Sequence[OpenBatch]) -> None:
        """Forget closed batches' prompts, except those the group has not committed past yet."""
        sources = []
        for batch in closed:
            self._finished.discard(batch.batch_id)
            for entry in batch.entries:
                at = where(entry.source)
                if self._recorded.get(at) == batch.batch_id:
                    del self._recorded[at]
                    sources.append(at)
        try:
            committed = await committed_positions(self._settings.kafka, {(t, p) for t, p, _ in sources})
        except KafkaError as exc:
            log.warning("reading committed offsets failed; keeping closed batches' prompts: %s", exc)
            committed = {}
        self._redo_expected.update(w for w in sources if w[2] >= committed.get((w[0], w[1]), -1))

    async def _follow(self, tracked: _Tracked) -> None:
        if tracked.takeover and self._state.publishing(tracked.batch.batch_id):
            tracked.batch = await self._advance(tracked.batch)
        batch = tracked.batch
        ended = await self._poll(tracked)
        resubmit = await self._publish_results(tracked, ended)
        if resubmit:
            await self._resubmit(resubmit)
        await self.records.tombstone([*batch.keys, marker_key(batch.batch_id)])
        self._open.pop(batch.batch_id, None)
        self._finished.add(batch.batch_id)
        self._export()
        turnaround = (datetime.now(UTC) - batch.submitted_at).total_seconds()
        self._metrics.batch_turnaround.observe(turnaround)
        log.info(
            "batch finished",
            extra={"batch_id": batch.batch_id, "counts": tracked.counts, "resubmitted": len(resubmit),
                   "turnaround_seconds": round(turnaround, 3)},
        )  # fmt: skip

    async def _poll(self, tracked: _Tracked) -> bool:
        """Poll until the batch ends (True), or the API says it is gone (False)."""
        base = self._settings.batch.poll_seconds
        polls = failures = 0
        while True:
            try:
                status = await self.api.retrieve(
                    tracked.batch.batch_id, workspace_id=workspace_of(tracked.batch.entries)
                )
            except ClaudeFatal as exc:
                log.error("batch lost", extra={"batch_id": tracked.batch.batch_id, "reason": str(exc)})
                return False
            except ClaudeError as exc:
                failures += 1
                await asyncio.sleep(attempt_delay(failures, base, base * POLL_BACKOFF_CAP, exc.retry_after))
                continue
            failures = 0
            tracked.counts = status.counts
            self._export()
            log.info(
                "batch progress",
                extra={"batch_id": status.id, "status": status.processing_status, "counts": status.counts},
            )
            if status.ended:
                return True
            await asyncio.sleep(poll_delay(polls, base))
            polls += 1

    async def _publish_results(self, tracked: _Tracked, ended: bool) -> list[Entry]:
        """Publish every request's final event; return the requests to submit again."""
        batch = tracked.batch
        await self.records.mark_publishing(batch.batch_id)  # acknowledged before the first event
        entries = {e.custom_id: e for e in batch.entries}
        done: set[str] = set(tracked.skip)
        resubmit: list[Entry] = []
        failures = 0
        while ended:
            try:
                async for custom_id, result in self.api.results(
                    batch.batch_id, workspace_id=workspace_of(batch.entries)
                ):
                    entry = entries.get(custom_id)
                    if entry is not None and custom_id not in done:
                        resubmit += await self._settle(entry, result, batch, done)
                await self._publisher.flush()
                break
            except ClaudeFatal as exc:
                log.error("batch results unavailable", extra={"batch_id": batch.batch_id, "reason": str(exc)})
                break
            except ClaudeError as exc:
                # Sent events stay pending and are acknowledged with a later window; the file is
                # read again from the start, skipping what is done.
                failures += 1
                delay = attempt_delay(failures, *RESULTS_BACKOFF)
                log.warning("publishing batch results failed, retrying: %s", exc, extra={"delay": delay})
                await asyncio.sleep(delay)
        # A request the results never mentioned is treated like an expired one.
        for custom_id, entry in entries.items():
            if custom_id not in done:
                resubmit += await self._settle(entry, None, batch, done)
        await self._publisher.flush()
        return resubmit

    async def _settle(
        self, entry: Entry, result: dict[str, object] | None, batch: OpenBatch, done: set[str]
    ) -> list[Entry]:
        try:
            decided: Publish | Resubmit = outcome(
                result,
                entry,
                prices=self._prices,
                max_attempts=self._settings.pipeline.max_attempts,
                submitted_at=batch.submitted_at,
                now=datetime.now(UTC),
            )
        except Exception as exc:  # the crash barrier of one result's mapping: the rest of the file goes on
            detail = self._barrier.caught("batch_result", exc)
            decided = Publish(error_event(entry, detail, retryable=True), "errored")
        done.add(entry.custom_id)  # sent events are acknowledged by a later flush, never dropped
        if isinstance(decided, Resubmit):
            self._metrics.retries.labels(f"batch_{decided.reason}").inc()
            return [decided.entry]
        await self._publisher.send(decided, entry.trace)
        if self._publisher.full:
            await self._publisher.flush()
        return []

    async def _resubmit(self, entries: list[Entry]) -> None:
        """Queue the next attempts and wait until a new batch's record holds them all."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        now = time.monotonic()
        for entry in entries:
            future: asyncio.Future[None] = loop.create_future()
            self._assembler.add(entry, now, future)
            futures.append(future)
        self.flush()  # they have waited a whole batch already
        await asyncio.gather(*futures)

    # -- observability -------------------------------------------------------------------------------
    def _export(self) -> None:
        m = self._metrics
        m.batches_open.set(len(self._open))
        for name in COUNT_NAMES:
            m.batch_requests.labels(name).set(sum(t.counts.get(name, 0) for t in self._open.values()))
        oldest = min((t.batch.submitted_at for t in self._open.values()), default=None)
        m.batch_oldest_age.set(0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds())


def _withdrawn(token: object) -> bool:
    return isinstance(token, asyncio.Future) and token.cancelled()


def _resolve(token: object) -> None:
    if isinstance(token, asyncio.Future) and not token.done():
        token.set_result(None)


def _cancel(token: object) -> None:
    if isinstance(token, asyncio.Future) and not token.done():
        token.cancel()
