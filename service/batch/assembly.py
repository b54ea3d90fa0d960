"""Which waiting requests go into the next API batch, and when. Pure: time is passed in.

A batch is due when the waiting requests reach ``BATCH_MAX_REQUESTS``, their request bodies reach
``BATCH_MAX_BYTES``, or the oldest has waited ``BATCH_MAX_WAIT_SECONDS``. ``take`` fills the batch in
arrival order; a custom_id already in the batch is skipped (the API refuses duplicates) and waits,
in its place, for the next one. So is a request whose header-borne params (``betas``, ``workspace_id``,
``user_profile_id``) differ from the first one's: a create's headers apply to the whole batch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from service.batch.records import Entry
from service.headers import HEADER_PARAMS, HeaderKey, header_key

_BLAME = re.compile(r"^requests\.(\d+)\.")


@dataclass(eq=False, slots=True)
class Waiting:
    """A request waiting for a batch. ``token`` is the caller's (e.g. a future to resolve)."""

    entry: Entry
    arrived: float
    token: object = None
    size: int = field(init=False)
    group: HeaderKey = field(init=False)

    def __post_init__(self) -> None:
        self.size = self.entry.request_bytes()
        self.group = _group(self.entry.params)


def _group(params: str) -> HeaderKey:
    # Most requests carry no header-borne param: a substring test spares parsing their params.
    if not any(f'"{name}"' in params for name in HEADER_PARAMS):
        return ()
    return header_key(json.loads(params))


class Assembler:
    def __init__(self, max_requests: int, max_bytes: int, max_wait: float) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_wait = max_wait
        self._waiting: dict[Waiting, None] = {}  # insertion-ordered set
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def waiting_bytes(self) -> int:
        return self._bytes

    def add(self, entry: Entry, now: float, token: object = None) -> Waiting:
        item = Waiting(entry, now, token)
        self._waiting[item] = None
        self._bytes += item.size
        return item

    def discard(self, item: Waiting) -> bool:
        """Withdraw a request that has not been taken yet; False if it already was."""
        if item not in self._waiting:
            return False
        del self._waiting[item]
        self._bytes -= item.size
        return True

    def deadline(self) -> float | None:
        """When the oldest waiting request forces a submit, or None when nothing waits."""
        oldest = next(iter(self._waiting), None)
        return None if oldest is None else oldest.arrived + self.max_wait

    def due(self, now: float) -> bool:
        if not self._waiting:
            return False
        deadline = self.deadline()
        return (
            len(self._waiting) >= self.max_requests
            or self._bytes >= self.max_bytes
            or (deadline is not None and now >= deadline)
        )

    def take(self, now: float, *, force: bool = False) -> list[Waiting]:
        """The next batch (removed from the waiting set), or ``[]`` when none is due."""
        if not (force or self.due(now)):
            return []
        chosen: list[Waiting] = []
        ids: set[str] = set()
        size = 0
        group = next(iter(self._waiting)).group if self._waiting else ()
        for item in self._waiting:
            if len(chosen) >= self.max_requests:
                break
            if item.entry.custom_id in ids or item.group != group:
                continue  # a duplicate, or other headers: it waits for a later batch
            if chosen and size + item.size > self.max_bytes:
                break
            chosen.append(item)
            ids.add(item.entry.custom_id)
            size += item.size
        for item in chosen:
            self.discard(item)
        return chosen


def blame(message: str) -> int | None:
    """The request index a create-time 400 names (``requests.3.params...``), if it names one."""
    match = _BLAME.match(message)
    return int(match.group(1)) if match else None
