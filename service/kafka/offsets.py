"""In-order commits over out-of-order completion. Pure bookkeeping, no Kafka types.

A partition's committable offset is one past the longest prefix of finished records: a prompt that
finishes early waits for every lower offset in its partition before the group offset moves past it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    """Offsets of one partition that were handed out and not yet committed."""

    _pending: list[int] = field(default_factory=list)  # min-heap of unfinished offsets
    _finished: set[int] = field(default_factory=set)
    _highest: int = -1  # highest offset ever started
    _committed: int | None = None  # last offset given to commit()

    def start(self, offset: int) -> None:
        if offset <= self._highest:
            raise ValueError(f"offset {offset} started again (highest so far {self._highest})")
        heapq.heappush(self._pending, offset)
        self._highest = offset

    def finish(self, offset: int) -> None:
        self._finished.add(offset)
        while self._pending and self._pending[0] in self._finished:
            self._finished.discard(heapq.heappop(self._pending))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def committable(self) -> int | None:
        """The offset to commit now (next record to read), or None when nothing new is finished."""
        if self._highest < 0:
            return None
        position = self._pending[0] if self._pending else self._highest + 1
        return None if position == self._committed else position

    def mark_committed(self, position: int) -> None:
        self._committed = position


class OffsetBook:
    """``PartitionOffsets`` per partition key (anything hashable, e.g. an aiokafka TopicPartition)."""

    def __init__(self) -> None:
        self._partitions: dict[object, PartitionOffsets] = {}

    def start(self, partition: object, offset: int) -> None:
        self._partitions.setdefault(partition, PartitionOffsets()).start(offset)

    def finish(self, partition: object, offset: int) -> None:
        book = self._partitions.get(partition)
        if book is not None:  # a revoked partition's late finish is ignored: its new owner redoes it
            book.finish(offset)

    def committable(self) -> dict[object, int]:
        out = {}
        for partition, book in self._partitions.items():
            position = book.committable()
            if position is not None:
                out[partition] = position
        return out

    def mark_committed(self, positions: dict[object, int]) -> None:
        for partition, position in positions.items():
            if partition in self._partitions:
                self._partitions[partition].mark_committed(position)

    def forget(self, partitions: Iterable[object]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)

    def in_flight(self, partition: object) -> int:
        book = self._partitions.get(partition)
        return book.in_flight if book else 0
