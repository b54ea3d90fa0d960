"""The broker probe behind ``/readyz``: every second, ask the cluster through the process's producer and
consumer, record the answers, and log and export the verdict when it changes.

Shared by ``claude-kafka run`` (the pipeline) and ``claude-kafka callbacks`` (the dispatcher): both are
a consume loop with a producer, and both must report a frozen broker as not ready.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import Gauge

from service.pipeline.inputs import Inputs
from service.pipeline.outputs import Outputs
from service.pipeline.readiness import PROBE_INTERVAL_SECONDS, PROBE_TIMEOUT_SECONDS, Probe, Readiness

log = logging.getLogger(__name__)


class BrokerProbe:
    def __init__(self, outputs: Outputs, inputs: Inputs, ready_gauge: Gauge) -> None:
        self._outputs, self._inputs, self._gauge = outputs, inputs, ready_gauge
        self.readiness = Readiness()
        self._was_ready = False

    def bootstrapped(self) -> None:
        """Both clients just connected: a probe that answered, so readiness need not wait a second."""
        self.readiness.record(Probe(time.monotonic(), None, None))

    def draining(self) -> None:
        self.readiness.draining = True
        self._gauge.set(0)

    def verdict(self) -> tuple[bool, str]:
        """What ``/readyz`` answers: see ``readiness.Readiness.verdict``."""
        return self.readiness.verdict(joined=self._inputs.in_group, now=time.monotonic())

    async def run(self) -> None:
        while True:
            producer, consumer = await asyncio.gather(
                self._outputs.reachable(PROBE_TIMEOUT_SECONDS), self._inputs.reachable(PROBE_TIMEOUT_SECONDS)
            )
            self.readiness.record(Probe(time.monotonic(), producer, consumer))
            ready, reason = self.verdict()
            self._gauge.set(1 if ready else 0)
            if ready != self._was_ready:
                log.log(logging.INFO if ready else logging.WARNING, "readiness: %s", reason)
                self._was_ready = ready
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
