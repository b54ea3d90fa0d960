"""The batch path's I/O: accumulate -> submit -> record -> poll -> publish results -> tombstone.

``hand_off(job)`` is the pipeline's seam. It returns only once the prompt is part of a created API
batch whose hand-off record the broker has acknowledged, so the pipeline commits the prompt's offset
only after that record is durable. A prompt whose hand-off is cancelled (rebalance, shutdown) before
it was taken into a batch is withdrawn; its offset stays uncommitted and it is redone.

The coordinator wires three jobs and follows the hand-off topic for them: ``Submitter`` (assemble
and submit, write the batch's record), ``RecordedPrompts`` (which prompts open batches hold, so a
redone prompt is not submitted twice) and ``BatchFollower`` (only on the batch leader, the member of
``<KAFKA_GROUP_ID>.batches`` assigned the hand-off partition, see ``service.kafka.leadership``).
Every replica follows the hand-off topic (a tail from its beginning); every task is supervised.
"""

from __future__ import annotations

import asyncio
import logging

from service import events
from service.batch.api import BatchApi
from service.batch.following import BatchFollower
from service.batch.index import RecordedPrompts
from service.batch.parts import BatchParts
from service.batch.publisher import OutcomePublisher
from service.batch.records import Entry, HandOffState
from service.batch.submitter import Submitter
from service.errors import KafkaError
from service.kafka.handoff_log import HandOffLog, HandOffTail
from service.kafka.leadership import BatchLeadership
from service.kafka.outputs import Outputs
from service.kafka.retry import retry_delay
from service.metrics import Metrics
from service.pricing import PriceTable
from service.settings import Settings
from service.supervisor import Supervisor

log = logging.getLogger(__name__)

TAIL_POLL_MS = 500


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


class BatchCoordinator:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        prices: PriceTable | None = None,
        supervisor: Supervisor | None = None,
        outputs: Outputs | None = None,
    ) -> None:
        """``outputs``: the process's producer, started and stopped by its owner; without one the
        coordinator builds and owns its own."""
        self._supervisor = supervisor or Supervisor()
        self._owns_outputs = outputs is None
        self.outputs = outputs or Outputs(settings.kafka, metrics)
        topic = settings.topics.batches
        source = f"/claude-kafka/{settings.pipeline.service_instance}".encode()
        self.api = BatchApi(settings.anthropic)
        self.records = HandOffLog(self.outputs, topic)
        self._tail = HandOffTail(settings.kafka, topic)
        self._state = HandOffState()
        self._index = RecordedPrompts(settings.kafka)
        publisher = OutcomePublisher(self.outputs, settings.topics, metrics, source)
        parts = BatchParts(settings, metrics, self.api, self.records, publisher)
        self._submitter = Submitter(parts, self._index.add)
        self._follower = BatchFollower(
            parts, self._state, prices or PriceTable.load(settings.pipeline.prices_file),
            self._supervisor, self._submitter.resubmit,
        )  # fmt: skip
        self.leadership = BatchLeadership(
            settings.kafka, topic, self._follower.lead, self._follower.unlead, self._supervisor
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Read the hand-off topic up to now, then follow it, submit, and join the leadership group."""
        if self._owns_outputs:
            await self.outputs.start()
        await self._tail.start()
        changes = self._state.apply(await self._tail.catch_up())
        for batch in changes.completed:
            self._index.add(batch)
        incomplete = self._state.incomplete_keys()
        if incomplete:
            # Written half-way by a process that died before its hand-off returned: those prompts
            # were never committed and are redone, so the partial record is ignored.
            log.warning("ignoring incomplete batch records", extra={"keys": len(incomplete)})
        self._tasks = [
            self._supervisor.spawn(self._follow_topic(), "batch-follow-topic"),
            self._supervisor.spawn(self._submitter.run(), "batch-assemble"),
        ]
        self.leadership.start()
        log.info(
            "batch coordinator started",
            extra={"open_batches": len(changes.completed), "leadership_group": self.leadership.group_id},
        )

    def flush(self) -> None:
        """Submit everything waiting now instead of at its bound (shutdown, resubmissions)."""
        self._submitter.flush()

    async def stop(self) -> None:
        await self.leadership.stop()  # stops following first, then leaves: the next leader takes over
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        withdrawn = self._submitter.withdraw_all()
        await self._tail.stop()
        if self._owns_outputs:
            await self.outputs.stop()
        await self.api.close()
        log.info("batch coordinator stopped", extra={"withdrawn": withdrawn})

    @property
    def open_batches(self) -> list[str]:
        return self._follower.open_batches

    # -- the seam ----------------------------------------------------------------------------------
    async def hand_off(self, job: events.Job) -> None:
        """Return once ``job`` is in a created batch whose record the broker acknowledged."""
        if self._index.taken(job.source):
            return
        await self._submitter.submit(entry_of(job))

    # -- the hand-off topic --------------------------------------------------------------------------
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
            self._index.add(batch)
            self._follower.recorded(batch, self.leadership.leading)
        if changes.closed:
            self._follower.closed(changes.closed)
            await self._index.remove(changes.closed)
