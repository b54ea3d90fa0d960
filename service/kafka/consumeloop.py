"""The shape `run` and `callbacks` share: a consumer-group member's workers, one producer, the probe.

``request_stop`` marks the probe draining and stops fetching; ``run`` fetches and dispatches until
then, with the broker probe (and a subclass's ``background`` tasks) supervised beside it; ``drain``
lets in-flight records finish within the grace period, cancels the rest, flushes and commits.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, ClassVar

from service.kafka.inputs import Inputs
from service.kafka.outputs import Outputs
from service.kafka.probing import BrokerProbe
from service.kafka.workers import RecordWorkers
from service.supervisor import Supervisor

log = logging.getLogger(__name__)


class ConsumeLoop:
    name: ClassVar[str]  # task names: "<name>-probe"
    drain_messages: ClassVar[tuple[str, str]] = ("draining", "drained")

    workers: RecordWorkers
    inputs: Inputs
    outputs: Outputs
    probe: BrokerProbe
    _supervisor: Supervisor

    def request_stop(self) -> None:
        self.probe.draining()
        self.workers.request_stop()

    async def run(self) -> None:
        """Fetch and dispatch until ``request_stop``; never dies on one record or one Kafka error."""
        tasks = [self._supervisor.spawn(self.probe.run(), f"{self.name}-probe")]
        tasks += [self._supervisor.spawn(coro, f"{self.name}-{what}") for what, coro in self.background()]
        try:
            await self.workers.run()
        finally:
            for task in tasks:
                task.cancel()

    def background(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """Further tasks that live as long as ``run``: (name, coroutine)."""
        return []

    async def drain(self, grace: float) -> None:
        """Let in-flight records finish within ``grace``, cancel the rest (redone later), flush, commit."""
        draining, drained = self.drain_messages
        log.info(draining, extra={"in_flight": self.workers.in_flight, "grace_seconds": grace})
        finished, cancelled = await self.workers.drain(grace, self.outputs.flush)
        log.info(drained, extra={"finished": finished, "cancelled": cancelled})

    def ready(self) -> tuple[bool, str]:
        """Draining, cluster answering both clients, group joined (``service.kafka.readiness``)."""
        return self.probe.verdict()
