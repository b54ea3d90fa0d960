"""Following batches (the leader's job): poll -> publishing marker -> results -> events -> tombstones.

One supervised task per open batch polls it, writes a publishing marker, streams its results,
publishes the events, resubmits expired/canceled requests and finally writes the tombstones. A new
leader (a restart, a crash, a scale event) takes over every open batch; it re-records one attempt
higher only a batch with a publishing marker, whose results may be out already.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from service.backoff import attempt_delay
from service.barrier import CrashBarrier
from service.batch.api import COUNT_NAMES, workspace_of
from service.batch.parts import BatchParts
from service.batch.records import Entry, HandOffState, OpenBatch, chunk_records, marker_key, superseded
from service.batch.results import Publish, Resubmit, error_event, outcome
from service.errors import ClaudeError, ClaudeFatal
from service.pricing import PriceTable
from service.settings import secret_values
from service.supervisor import Supervisor

log = logging.getLogger(__name__)

POLL_BACKOFF_FACTOR = 1.5
POLL_BACKOFF_CAP = 8  # the poll interval grows to at most 8 x BATCH_POLL_SECONDS
RESULTS_BACKOFF = (0.5, 30.0)  # between failed reads of a results file (API errors, not Kafka)


def poll_delay(polls: int, base: float) -> float:
    """``base`` growing by half each poll, capped: quick for short batches, gentle for 24 h ones."""
    return min(base * POLL_BACKOFF_FACTOR**polls, base * POLL_BACKOFF_CAP)


@dataclass(eq=False)
class _Tracked:
    batch: OpenBatch
    skip: frozenset[str]
    takeover: bool  # opened before this replica led: another follower may have published some results
    counts: dict[str, int] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class BatchFollower:
    def __init__(
        self,
        parts: BatchParts,
        state: HandOffState,
        prices: PriceTable,
        supervisor: Supervisor,
        resubmit: Callable[[list[Entry]], Awaitable[None]],
    ) -> None:
        self._settings, self._metrics, self._api = parts.settings, parts.metrics, parts.api
        self._records, self._publisher = parts.records, parts.publisher
        self._state = state
        self._prices = prices
        self._supervisor = supervisor
        self._resubmit = resubmit
        self._barrier = CrashBarrier(parts.metrics, secret_values(parts.settings))
        self._open: dict[str, _Tracked] = {}  # batches this replica follows (while it leads)
        self._finished: set[str] = set()  # followed to the end here; their tombstones not read back yet

    @property
    def open_batches(self) -> list[str]:
        return list(self._open)

    def recorded(self, batch: OpenBatch, leading: bool) -> None:
        """A batch record completed on the tail: the leader follows it unless it does already."""
        if leading and self._unfollowed(batch):
            self._follow_batch(batch, takeover=False)

    def closed(self, batches: Sequence[OpenBatch]) -> None:
        for batch in batches:
            self._finished.discard(batch.batch_id)

    async def lead(self) -> None:
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

    async def unlead(self) -> None:
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

    async def _advance(self, batch: OpenBatch) -> OpenBatch:
        """Re-record a resumed batch one attempt higher before following it.

        Its results may have been published before the crash that left it open; published again,
        they must carry a higher (generation, attempt) than the first time, as every redo does.
        """
        entries = tuple(entry.next_attempt() for entry in batch.entries)
        records = chunk_records(batch.batch_id, entries, batch.submitted_at, batch.instance)
        await self._records.write(records)
        stale = set(batch.keys) - {record.key for record in records}
        if stale:
            await self._records.tombstone(sorted(stale))
        return OpenBatch(batch.batch_id, batch.submitted_at, batch.instance, len(records), entries)

    async def _follow(self, tracked: _Tracked) -> None:
        if tracked.takeover and self._state.publishing(tracked.batch.batch_id):
            tracked.batch = await self._advance(tracked.batch)
        batch = tracked.batch
        ended = await self._poll(tracked)
        resubmit = await self._publish_results(tracked, ended)
        if resubmit:
            await self._resubmit(resubmit)
        await self._records.tombstone([*batch.keys, marker_key(batch.batch_id)])
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
                status = await self._api.retrieve(
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
        await self._records.mark_publishing(batch.batch_id)  # acknowledged before the first event
        entries = {e.custom_id: e for e in batch.entries}
        done: set[str] = set(tracked.skip)
        resubmit: list[Entry] = []
        failures = 0
        while ended:
            try:
                async for custom_id, result in self._api.results(
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

    def _export(self) -> None:
        m = self._metrics
        m.batches_open.set(len(self._open))
        for name in COUNT_NAMES:
            m.batch_requests.labels(name).set(sum(t.counts.get(name, 0) for t in self._open.values()))
        oldest = min((t.batch.submitted_at for t in self._open.values()), default=None)
        m.batch_oldest_age.set(0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds())
