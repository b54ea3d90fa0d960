"""One runner owns the process lifecycle: build -> start -> run -> drain -> stop, a log line per phase.

Signal handlers only set a flag: the first SIGINT/SIGTERM starts a graceful drain, a second one exits
at once (exit code 130), as with uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from service import gcpolicy
from service.backoff import attempt_delay
from service.batch import BatchCoordinator
from service.health import health_server, start_health, stop_health
from service.kafka.bootstrap import bootstrap_problem
from service.kafka.outputs import Outputs
from service.lifecycle import GracefulSignals
from service.metrics import Metrics
from service.pipeline.service import StreamingPipeline
from service.settings import Settings
from service.supervisor import Supervisor

log = logging.getLogger(__name__)

BOOTSTRAP_BACKOFF = (1.0, 30.0)  # first and longest wait between start-up attempts to reach Kafka


class Runner:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        observability = settings.observability
        self.metrics = metrics or Metrics(
            tenant_keys=observability.metrics_tenant_labels, tenant_limit=observability.metrics_tenant_limit
        )
        # Batch mode: started before the pipeline (its hand-off must be ready when intake begins),
        # stopped after the drain (which lets waiting batch prompts be submitted within the grace).
        # A crashed background task stops the process as a signal would, then fails it (exit_code).
        self.supervisor = Supervisor(self.request_stop)
        # One producer for the process: the pipeline's outputs, batch results and hand-off records.
        # Started first and stopped last, so every subsystem's drain can still publish.
        self.outputs = Outputs(settings.kafka, self.metrics)
        self.batches = BatchCoordinator(
            settings, self.metrics, supervisor=self.supervisor, outputs=self.outputs
        )
        self.pipeline = StreamingPipeline(
            settings,
            self.metrics,
            batch_hand_off=self.batches.hand_off,
            supervisor=self.supervisor,
            outputs=self.outputs,
        )
        self.health = health_server(self.metrics.registry, self.pipeline.ready, observability)
        self.signals = GracefulSignals(self.request_stop)
        self._stop = asyncio.Event()

    def install_signal_handlers(self) -> None:
        self.signals.install()

    def request_stop(self) -> None:
        self._stop.set()
        self.pipeline.request_stop()

    async def serve(self) -> None:
        log.info("starting", extra={"instance": self.settings.pipeline.service_instance})
        try:
            await start_health(self.health)
            if not await self._wait_for_kafka():
                return
            await self.outputs.start()
            await self.batches.start()
            await self.pipeline.start()
            gcpolicy.settle()  # what start-up built is never garbage: out of every collection's way
            log.info(
                "running",
                extra={"topic": self.settings.topics.prompts, "group": self.settings.kafka.group_id,
                       "max_in_flight": self.settings.pipeline.max_in_flight},
            )  # fmt: skip
            await self.pipeline.run()
            self.batches.flush()  # waiting batch prompts are submitted within the grace period
            await self.pipeline.drain(self.settings.pipeline.shutdown_grace_seconds)
        finally:
            # Everything, started or not: each was built with its clients, which must be closed.
            log.info("stopping")
            await self.batches.stop()
            await self.pipeline.stop()
            await self.outputs.stop()  # flushes what the drains left pending
            await stop_health(self.health)
            log.info("stopped", extra={"exit_code": self.exit_code})

    @property
    def exit_code(self) -> int:
        """Non-zero once a background task crashed: the process exits with it, to be restarted."""
        return self.supervisor.exit_code

    async def _wait_for_kafka(self) -> bool:
        """Retry until a bootstrap server answers (readiness stays false meanwhile); False on a signal."""
        failures = 0
        kafka = self.settings.kafka
        while (problem := await bootstrap_problem(kafka)) is not None:
            failures += 1
            delay = attempt_delay(failures, *BOOTSTRAP_BACKOFF)
            log.warning(
                "kafka not reachable, retrying",
                extra={"bootstrap_servers": kafka.bootstrap_servers, "reason": problem,
                       "attempt": failures, "retry_in_seconds": round(delay, 1)},
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return False
        if failures:
            log.info("kafka reachable", extra={"attempts": failures + 1})
        return True
