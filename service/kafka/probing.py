"""The broker probe behind ``/readyz``: every second, ask the cluster through the process's producer and
consumer, record the answers, and log and export the verdict when it changes.

Shared by ``claude-kafka run`` (the pipeline) and ``claude-kafka callbacks`` (the dispatcher): both are
a consume loop with a producer, and both must report a frozen broker as not ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from prometheus_client import Gauge

from service.kafka.inputs import Inputs
from service.kafka.outputs import Outputs
from service.kafka.readiness import (
    PROBE_INTERVAL_SECONDS,
    PROBE_TIMEOUT_SECONDS,
    TOPIC_CHECK_SECONDS,
    Probe,
    Readiness,
    missing_topics,
)

log = logging.getLogger(__name__)


class BrokerProbe:
    def __init__(
        self,
        outputs: Outputs,
        inputs: Inputs,
        ready_gauge: Gauge,
        *,
        topics: Sequence[str] = (),
        holding: Callable[[], str | None] | None = None,
    ) -> None:
        self._outputs, self._inputs, self._gauge = outputs, inputs, ready_gauge
        self._holding = holding  # why the process holds its work (the open circuit), if it does
        self.readiness = Readiness()
        self._was_ready = False
        # The topics the process reads or writes: a missing one is a reason not to be ready. Checked
        # every TOPIC_CHECK_SECONDS; the cached reason is what /readyz reads.
        self._topics = tuple(topics)
        self._topics_reason: str | None = "topics not checked yet" if self._topics else None
        self._topics_checked_at = float("-inf")

    def bootstrapped(self) -> None:
        """Both clients just connected: a probe that answered, so readiness need not wait a second."""
        self.readiness.record(Probe(time.monotonic(), None, None))

    def draining(self) -> None:
        self.readiness.draining = True
        self._gauge.set(0)

    def verdict(self) -> tuple[bool, str]:
        """What ``/readyz`` answers: an open circuit first, then ``readiness.Readiness.verdict``, then
        the topic check."""
        held = self._holding() if self._holding is not None else None
        if held is not None and not self.readiness.draining:
            return False, held
        ready, reason = self.readiness.verdict(joined=self._inputs.in_group, now=time.monotonic())
        if ready and self._topics_reason is not None:
            return False, self._topics_reason
        return ready, reason

    async def _check_topics(self) -> None:
        now = time.monotonic()
        if not self._topics or now - self._topics_checked_at < TOPIC_CHECK_SECONDS:
            return
        present = await self._inputs.topic_names(PROBE_TIMEOUT_SECONDS)
        if present is not None:  # no answer: the broker probe reports that; keep the last verdict
            self._topics_reason = missing_topics(self._topics, present)
            self._topics_checked_at = now

    async def run(self) -> None:
        while True:
            producer, consumer = await asyncio.gather(
                self._outputs.reachable(PROBE_TIMEOUT_SECONDS), self._inputs.reachable(PROBE_TIMEOUT_SECONDS)
            )
            self.readiness.record(Probe(time.monotonic(), producer, consumer))
            if producer is None and consumer is None:
                await self._check_topics()
            ready, reason = self.verdict()
            self._gauge.set(1 if ready else 0)
            if ready != self._was_ready:
                log.log(logging.INFO if ready else logging.WARNING, "readiness: %s", reason)
                self._was_ready = ready
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
