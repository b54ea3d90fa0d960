"""What every job of batch mode works with: settings, metrics, the API, the hand-off log, the publisher."""

from __future__ import annotations

from dataclasses import dataclass

from service.batch.api import BatchApi
from service.batch.publisher import OutcomePublisher
from service.kafka.handoff_log import HandOffLog
from service.metrics import Metrics
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class BatchParts:
    settings: Settings
    metrics: Metrics
    api: BatchApi
    records: HandOffLog
    publisher: OutcomePublisher
