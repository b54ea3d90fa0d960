"""The callback dispatcher: a consumer group of its own on the completion and error topics.

Each record asking for a callback becomes a delivery task (at most ``CALLBACK_MAX_IN_FLIGHT``; the
partitions are paused when full). A partition's offset moves only past records whose delivery ended:
delivered, or its ``callback_failed`` / ``callback_refused`` ErrorEvent acknowledged by the broker. The
pipeline (``claude-kafka run``) never waits for any of this.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractResolver

from schemas import ErrorDetail, ErrorEvent, SourceRecord
from service import tracing
from service.barrier import CrashBarrier
from service.callbacks.delivery import REFUSED, Deliverer
from service.callbacks.http import CallbackClient
from service.callbacks.outcomes import (
    CALLBACK_FAILED,
    CALLBACK_REFUSED,
    Outcome,
    failure,
    unreadable,
    wanted,
)
from service.callbacks.retry import Verdict
from service.callbacks.signing import secret_key
from service.errors import ConfigError
from service.kafka.consumeloop import ConsumeLoop
from service.kafka.inputs import InputRecord
from service.kafka.outputs import Outputs, publish_error_event
from service.kafka.probing import BrokerProbe
from service.kafka.workers import RecordWorkers
from service.metrics import Metrics
from service.settings import Settings, secret_values
from service.supervisor import Supervisor

log = logging.getLogger(__name__)


def signing_key(settings: Settings) -> bytes:
    """The HMAC key, or ``ConfigError`` naming every reason callbacks cannot run (no hosts, no secret)."""
    callbacks = settings.callbacks
    problems = []
    key = b""
    if not callbacks.allowed_hosts:
        problems.append("CALLBACK_ALLOWED_HOSTS: empty, so callbacks are off; list the receiver hosts")
    if callbacks.signing_secret is None:
        problems.append("CALLBACK_SIGNING_SECRET: required to sign callbacks")
    else:
        try:
            key = secret_key(callbacks.signing_secret.get_secret_value())
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("callbacks cannot run", problems=problems)
    return key


class CallbackDispatcher(ConsumeLoop):
    name = "callbacks"
    drain_messages = ("draining callbacks", "callbacks drained")

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        resolver: AbstractResolver | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        callbacks = settings.callbacks
        key = signing_key(settings)
        self._settings = settings
        self._metrics = metrics
        self._barrier = CrashBarrier(metrics, secret_values(settings))
        self._supervisor = supervisor or Supervisor()
        self._limit = callbacks.max_in_flight
        self._kinds = {settings.topics.completions: "completion", settings.topics.errors: "error"}
        self._source = f"/claude-kafka/{settings.pipeline.service_instance}/callbacks".encode()
        # Its own group, with dynamic membership: KAFKA_GROUP_INSTANCE_ID names a prompt-consumer member.
        kafka = settings.kafka.model_copy(update={"group_id": callbacks.group_id, "group_instance_id": None})
        self.workers = RecordWorkers(
            kafka,
            list(self._kinds),
            metrics,
            limits={"callbacks": self._limit},
            start=lambda record: (self._handle(record), "callbacks"),
            rebalance_grace=settings.pipeline.rebalance_grace_seconds,
            on_count=metrics.callbacks_in_flight.set,
        )
        self.inputs = self.workers.inputs
        self.outputs = Outputs(settings.kafka, metrics)
        self.probe = BrokerProbe(self.outputs, self.inputs, metrics.ready, topics=list(self._kinds))
        self.client = CallbackClient(callbacks, resolver)
        self.deliverer = Deliverer(self.client, callbacks, metrics, key)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.outputs.start()
        await self.client.start()
        await self.inputs.start()
        self.probe.bootstrapped()

    async def stop(self) -> None:
        await self.inputs.stop()
        await self.client.close()
        await self.outputs.stop()

    # -- one record --------------------------------------------------------------------------------
    async def _handle(self, record: InputRecord) -> None:
        """Deliver one record's outcome; a crash (a bug) ends it as an ``internal_error`` ErrorEvent."""
        source = SourceRecord(topic=record.topic, partition=record.partition, offset=record.offset)
        try:
            outcome = wanted(self._kinds[record.topic], record.value, source)
        except Exception as exc:  # the crash barrier, before there is an outcome to blame
            detail = self._barrier.caught("callback", exc)
            await self._publish(record, unreadable(record.value, source, detail))
            return
        if outcome is None:
            return

        async def crashed(detail: ErrorDetail) -> None:
            await self._publish(record, failure(outcome, detail.type, detail.message, retryable=True))

        await self._barrier.guard("callback", self._deliver(record, outcome), crashed)

    async def _deliver(self, record: InputRecord, outcome: Outcome) -> None:
        result = await self.deliverer.deliver(outcome)
        if result.delivered:
            return
        refused = result.verdict == REFUSED
        error_type = CALLBACK_REFUSED if refused else CALLBACK_FAILED
        # Only a receiver that kept failing might take the same outcome later; a refusal or a final
        # answer (4xx, 410) will not change by sending it again.
        retryable = result.verdict == Verdict.FAILED and (result.status is None or result.status >= 500)
        event = failure(outcome, error_type, result.message, retryable=retryable)
        log.warning(
            "callback not delivered",
            extra={"custom_id": outcome.custom_id, "error_type": error_type, "reason": result.message},
        )
        await self._publish(record, event)

    async def _publish(self, record: InputRecord, event: ErrorEvent) -> None:
        await publish_error_event(
            self.outputs, self._settings.topics.errors, self._source, event, tracing.incoming(record.headers)
        )
        self._metrics.error_events.labels(event.error.type).inc()
