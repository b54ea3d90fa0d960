"""Which prompts open batches hold, by their source record: what lets a redone prompt through.

A process killed after a batch's record and before its prompts' offsets were committed leaves those
prompts to be redone by whichever replica gets their partition. Every replica knows them from the
tail while the batch is open, and, when it closes, keeps those the group has not committed past, so
``hand_off`` lets them through without a second submission even when the batch finished before they
were consumed again (a dead member holds its partitions until its session times out).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from schemas import SourceRecord
from service.batch.records import OpenBatch
from service.errors import KafkaError
from service.kafka.committed import committed_positions
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

Offset = tuple[str, int, int]
"""A prompt's source record as an index key: (topic, partition, offset)."""


def offset_of(source: SourceRecord) -> Offset:
    """The key a prompt's source record has in the index."""
    return (source.topic, source.partition, source.offset)


class RecordedPrompts:
    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._recorded: dict[Offset, str] = {}  # source offset -> open batch holding that prompt
        self._redo_expected: set[Offset] = set()  # prompts of closed batches whose offsets were not committed

    def taken(self, source: SourceRecord) -> bool:
        """Is this prompt held (or was it held) by a batch already? A redo after a crash between its
        record and its commit: a resumed batch holds it, or held it and published its outcome."""
        at = offset_of(source)
        if at in self._recorded or at in self._redo_expected:
            self._redo_expected.discard(at)
            return True
        return False

    def add(self, batch: OpenBatch) -> None:
        for entry in batch.entries:
            self._recorded[offset_of(entry.source)] = batch.batch_id

    async def remove(self, closed: Sequence[OpenBatch]) -> None:
        """Forget closed batches' prompts, except those the group has not committed past yet."""
        sources = []
        for batch in closed:
            for entry in batch.entries:
                at = offset_of(entry.source)
                if self._recorded.get(at) == batch.batch_id:
                    del self._recorded[at]
                    sources.append(at)
        try:
            committed = await committed_positions(self._kafka, {(t, p) for t, p, _ in sources})
        except KafkaError as exc:
            log.warning("reading committed offsets failed; keeping closed batches' prompts: %s", exc)
            committed = {}
        self._redo_expected.update(w for w in sources if w[2] >= committed.get((w[0], w[1]), -1))
