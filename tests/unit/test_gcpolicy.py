"""The GC policy the runner applies once start-up is done (service/gcpolicy.py)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest

from service import gcpolicy


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    # ``settle`` collects: garbage an earlier test on this worker left (an unclosed client's
    # ResourceWarning from ``__del__``) would fail this test instead. Collected here, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector can free it


@pytest.mark.usefixtures("restored_gc")
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((700, 10, 10), (gcpolicy.YOUNG_THRESHOLD, 10, 10)),  # CPython's defaults
        ((50_000, 20, 5), (50_000, 20, 5)),  # a larger young threshold someone chose is kept
    ],
)
def test_settle_freezes_start_up_and_raises_only_the_young_threshold(
    before: tuple[int, int, int], after: tuple[int, int, int]
) -> None:
    gc.set_threshold(*before)
    gcpolicy.settle()
    assert gc.get_threshold() == after
    assert gc.get_freeze_count() > 0  # what was alive at start-up is out of every collection's way


@pytest.mark.usefixtures("restored_gc")
def test_cycles_made_after_settling_are_still_collected() -> None:
    import weakref

    gcpolicy.settle()
    node = _Node()
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is None
