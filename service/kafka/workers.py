"""Bounded tasks over consumed records, with in-order commits: the loop every consumer here shares.

``RecordWorkers`` owns the consumer-group member (``Inputs``) and turns each record into a task, at most
``limits[pool]`` per pool; when a pool is full the assigned partitions are paused while the consumer
keeps polling (so group membership stays alive). A finished task finishes its offset in the
``OffsetBook`` and commits move only past a partition's finished prefix. On revocation the partition's
tasks get ``rebalance_grace`` seconds, finished offsets are committed and the rest are cancelled: the
new owner redoes them. Used by the streaming pipeline and by the callback dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

from service import logs
from service.errors import KafkaError
from service.kafka.inputs import InputRecord, Inputs, Partition
from service.kafka.offsets import OffsetBook
from service.metrics import Metrics
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

FETCH_TIMEOUT_MS = 100
COMMIT_INTERVAL_SECONDS = 0.1
FETCH_ERROR_BACKOFF_SECONDS = 1.0

Work = tuple[Awaitable[None], str]
"""What a record becomes: the coroutine to run, and the name of the pool it counts against."""


class RecordWorkers:
    def __init__(
        self,
        kafka: KafkaSettings,
        topics: str | Sequence[str],
        metrics: Metrics,
        *,
        limits: Mapping[str, int],
        start: Callable[[InputRecord], Work],
        rebalance_grace: float,
        on_count: Callable[[int], None],
        on_revoked: Callable[[set[Partition]], None] | None = None,
        accepting: Callable[[], bool] | None = None,
    ) -> None:
        self.inputs = Inputs(kafka, topics, metrics, self._revoked, self._assigned)
        self._limits = dict(limits)
        self._start_work = start
        self._grace = rebalance_grace
        self._on_count = on_count
        self._after_revoke = on_revoked
        self._accepting = accepting  # False: take no new record (e.g. the circuit is open)
        self._book = OffsetBook()
        self._tasks: dict[asyncio.Task[None], tuple[Partition, int, str]] = {}
        self._pools: Counter[str] = Counter()
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._paused = False
        self._last_commit = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def request_stop(self) -> None:
        self._stopping.set()

    def move_current(self, pool: str) -> None:
        """Count the calling record task against ``pool`` from now on (a tool loop waiting for its
        results gives its stream slot back); moving back may overshoot a full pool until tasks end."""
        task = asyncio.current_task()
        entry = self._tasks.get(task) if task is not None else None
        if task is None or entry is None or entry[2] == pool:
            return
        where, offset, old = entry
        self._tasks[task] = (where, offset, pool)
        self._pools[old] -= 1
        self._pools[pool] += 1
        self._slot_freed.set()

    async def run(self) -> None:
        """Fetch and dispatch until ``request_stop``; never dies on one record or one Kafka error."""
        while not self._stopping.is_set():
            try:
                await self._fetch_once()
                if time.monotonic() - self._last_commit >= COMMIT_INTERVAL_SECONDS:
                    await self._commit()
            except KafkaError as exc:
                log.warning("kafka error in the consume loop, retrying: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), FETCH_ERROR_BACKOFF_SECONDS)

    async def drain(self, grace: float, flush: Callable[[], Awaitable[None]]) -> tuple[int, int]:
        """Let in-flight tasks finish within ``grace``, cancel the rest, ``flush`` outputs, commit."""
        finished, cancelled = await self._settle(list(self._tasks), grace)
        await flush()
        await self._commit(force=True)
        return finished, cancelled

    # -- fetch and dispatch ------------------------------------------------------------------------
    async def _fetch_once(self) -> None:
        free = min(limit - self._pools[pool] for pool, limit in self._limits.items())
        if self._accepting is not None and not self._accepting():
            free = 0
        if free <= 0:
            if not self._paused:
                self.inputs.pause()
                self._paused = True
            # Keep polling while paused: group membership and the poll interval stay alive.
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), FETCH_TIMEOUT_MS / 1000.0)
            records = await self.inputs.fetch(1, 0)
        else:
            if self._paused:
                self.inputs.resume()
                self._paused = False
            records = await self.inputs.fetch(free, FETCH_TIMEOUT_MS)
        for record in records:
            self._dispatch(record)

    def _dispatch(self, record: InputRecord) -> None:
        self._book.start(record.where, record.offset)
        # The task runs in its own context, so fields bound here (and by ``start``) reach every log
        # line it writes.
        context = contextvars.copy_context()
        context.run(logs.bind, topic=record.topic, partition=record.partition, offset=record.offset)
        coro, pool = context.run(self._start_work, record)
        task: asyncio.Task[None] = context.run(asyncio.ensure_future, coro)
        self._tasks[task] = (record.where, record.offset, pool)
        self._pools[pool] += 1
        self._on_count(len(self._tasks))
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        entry = self._tasks.pop(task, None)
        if entry is None:
            return
        where, offset, pool = entry
        self._pools[pool] -= 1
        self._on_count(len(self._tasks))
        self._slot_freed.set()
        if task.cancelled():
            return  # not finished: the offset stays uncommitted and the record is redone
        exc = task.exception()
        if exc is not None:
            # A bug, not an outcome. Leaving the offset open stalls the partition until a restart
            # redoes the record; say so loudly.
            log.error("record task crashed; its offset stays uncommitted", exc_info=exc)
            return
        self._book.finish(where, offset)

    # -- commits and rebalances ----------------------------------------------------------------------
    async def _commit(self, force: bool = False, only: set[Partition] | None = None) -> None:
        positions = self._book.committable()
        if only is not None:
            positions = {p: o for p, o in positions.items() if p in only}
        if not positions:
            return
        try:
            await self.inputs.commit(positions)  # type: ignore[arg-type]
        except KafkaError as exc:
            log.warning("commit failed (will retry): %s", exc)
            if force:
                raise
            return
        self._book.mark_committed(positions)
        self._last_commit = time.monotonic()

    async def _revoked(self, partitions: list[Partition]) -> None:
        revoked = set(partitions)
        tasks = [t for t, (where, _, _) in self._tasks.items() if where in revoked]
        finished, cancelled = await self._settle(tasks, self._grace)
        with contextlib.suppress(KafkaError):  # logged in _commit; the new owner redoes the rest
            await self._commit(only=revoked)
        self._book.forget(revoked)
        if self._after_revoke is not None:
            self._after_revoke(revoked)
        log.info(
            "partitions revoked",
            extra={"partitions": len(revoked), "finished": finished, "cancelled": cancelled},
        )

    async def _assigned(self, partitions: list[Partition]) -> None:
        self._paused = False  # a fresh assignment starts unpaused

    async def _settle(self, tasks: list[asyncio.Task[None]], grace: float) -> tuple[int, int]:
        if not tasks:
            return 0, 0
        done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in (*done, *pending):
            self._task_done(task)  # idempotent: bookkeeping is settled before the commit that follows
        return len(done), len(pending)
