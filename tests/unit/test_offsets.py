"""Offset bookkeeping: commits move in order even when prompts finish out of order."""

from __future__ import annotations

import pytest

from service.kafka.offsets import OffsetBook, PartitionOffsets


@pytest.mark.parametrize(
    ("started", "finished", "committable"),
    [
        ([], [], None),
        ([0], [], 0),  # nothing finished: the committed position stays at the first unfinished record
        ([0], [0], 1),
        ([0, 1, 2], [1, 2], 0),  # later records finished first: wait for offset 0
        ([0, 1, 2], [0, 2], 1),
        ([0, 1, 2], [2, 1, 0], 3),
        ([5, 6, 9], [5, 9], 6),  # gaps in offsets (compacted or transactional topics) are fine
        ([5, 6, 9], [6, 9, 5], 10),
    ],
)
def test_committable_offset_is_one_past_the_finished_prefix(
    started: list[int], finished: list[int], committable: int | None
) -> None:
    """The position to commit is the lowest unfinished offset, or one past the highest when all are done."""
    book = PartitionOffsets()
    for offset in started:
        book.start(offset)
    for offset in finished:
        book.finish(offset)
    assert book.committable() == committable


def test_a_committed_position_is_not_offered_twice() -> None:
    """After mark_committed, the same position is not committable again until progress is made."""
    book = PartitionOffsets()
    book.start(0)
    book.finish(0)
    book.mark_committed(1)
    assert book.committable() is None
    book.start(1)
    book.finish(1)
    assert book.committable() == 2


def test_an_offset_cannot_start_twice() -> None:
    """Restarting an offset is a bookkeeping bug and raises instead of corrupting the commit position."""
    book = PartitionOffsets()
    book.start(3)
    with pytest.raises(ValueError, match="started again"):
        book.start(3)


def test_revoked_partition_commits_only_finished_prompts() -> None:
    """Across partitions each moves independently; a forgotten (revoked) partition ignores late finishes."""
    book = OffsetBook()
    a, b = ("prompts", 0), ("prompts", 1)
    for offset in range(3):
        book.start(a, offset)
        book.start(b, offset)
    book.finish(a, 0)
    book.finish(b, 1)
    assert book.committable() == {a: 1, b: 0}
    book.forget([b])
    book.finish(b, 0)
    assert book.committable() == {a: 1}
    assert book.in_flight(a) == 2 and book.in_flight(b) == 0
