"""What ``/readyz`` answers, from the latest broker probe and the group state. Pure: callers pass ``now``.

Ready means: not draining, the consumer is a member of its group (with partitions, or idle with none),
and both Kafka clients got a metadata answer from the cluster at the last probe, which is recent. A
frozen or unreachable broker keeps TCP connections open, so connection state alone would say "fine";
a request answered within a short timeout is the proof.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

PROBE_INTERVAL_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 1.5
# A probe result older than this means the probe itself is stuck: not ready.
STALE_AFTER_SECONDS = PROBE_INTERVAL_SECONDS + 2 * PROBE_TIMEOUT_SECONDS
# Topics change rarely (an operator creates or deletes them): checking every few seconds is enough, and
# keeps the all-topics metadata request off the one-second probe.
TOPIC_CHECK_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Probe:
    """One round of broker checks: ``None`` for a client that answered, else why it did not."""

    at: float
    producer: str | None
    consumer: str | None


class Readiness:
    def __init__(self) -> None:
        self.last: Probe | None = None
        self.draining = False

    def record(self, probe: Probe) -> None:
        self.last = probe

    def verdict(self, *, joined: bool, now: float) -> tuple[bool, str]:
        """``(ready, reason)``; the reason names the first failed condition, or ``ok``."""
        if self.draining:
            return False, "draining"
        probe = self.last
        if probe is None:
            return False, "no broker probe yet"
        if now - probe.at > STALE_AFTER_SECONDS:
            return False, f"broker probe stalled ({now - probe.at:.1f}s since the last result)"
        if probe.producer is not None:
            return False, f"producer cannot reach the cluster: {probe.producer}"
        if probe.consumer is not None:
            return False, f"consumer cannot reach the cluster: {probe.consumer}"
        if not joined:
            return False, "consumer has not joined its group"
        return True, "ok"


def missing_topics(wanted: Sequence[str], present: Collection[str]) -> str | None:
    """The readiness reason when some of ``wanted`` are not in the cluster's metadata, else ``None``."""
    missing = [topic for topic in wanted if topic not in present]
    if not missing:
        return None
    hint = "create them with `claude-kafka topics create`"
    if len(missing) == 1:
        return f"topic {missing[0]} does not exist ({hint})"
    return f"topics {', '.join(missing)} do not exist ({hint})"
