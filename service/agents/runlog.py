"""``TOPIC_RUNS``: the durable record of tool-loop runs (the Kafka ``RunStore``).

A run is recorded as one record per turn, keyed ``<custom_id>/<turn index>`` (``record_key`` of the
batch hand-off records): a turn, with the results its calls got, is the unit that changes, so a save
writes only the turns that changed since the last acknowledged write, and a long conversation is
chunked by turn instead of being one ever-growing record. The end of a run is a tombstone per key;
the topic is compacted, so only open runs stay. ``load`` reads the table after catching up (see
``compacted``), so a replica that takes a prompt over sees every turn its previous owner recorded.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from service.agents.run import Run, Turn
from service.batch.records import record_key
from service.errors import LoopFailed
from service.kafka.compacted import CompactedTable
from service.kafka.outputs import Outputs
from service.settings import KafkaSettings

__all__ = ["LoopFailed", "RunLog"]

log = logging.getLogger(__name__)


class RunLog(CompactedTable):
    def __init__(self, kafka: KafkaSettings, topic: str, outputs: Outputs) -> None:
        super().__init__(kafka, topic, outputs)
        self._written: dict[str, dict[int, bytes]] = {}  # what this process had acknowledged, per run

    async def load(self, custom_id: str) -> Run | None:
        await self.caught_up_now()
        turns: list[Turn] = []
        # The contiguous prefix: a turn is recorded only after the one before it.
        while (value := self.view.get(record_key(custom_id, len(turns)))) is not None:
            try:
                turns.append(Turn.model_validate_json(value))
            except ValidationError:
                log.warning(
                    "runs: unreadable turn record, resuming before it", extra={"custom_id": custom_id}
                )
                break
        return Run(custom_id=custom_id, turns=tuple(turns)) if turns else None

    async def save(self, run: Run) -> None:
        written = self._written.setdefault(run.custom_id, {})
        changed = {
            i: value
            for i, turn in enumerate(run.turns)
            if written.get(i) != (value := turn.model_dump_json().encode())
        }
        await self.write({record_key(run.custom_id, i): v for i, v in changed.items()})
        written.update(changed)

    async def end(self, custom_id: str) -> None:
        written = self._written.pop(custom_id, {})
        count = 0
        while record_key(custom_id, count) in self.view:
            count += 1
        indices = set(written) | set(range(count))
        await self.write({record_key(custom_id, i): None for i in sorted(indices)})

    def release(self, custom_id: str) -> None:
        """This process no longer runs ``custom_id`` (its partition moved): forget what it wrote."""
        self._written.pop(custom_id, None)
