"""The /readyz reason for topics the process needs but the cluster does not have."""

from __future__ import annotations

import pytest

from service.kafka.readiness import missing_topics

HINT = "(create them with `claude-kafka topics create`)"


@pytest.mark.parametrize(
    ("present", "reason"),
    [
        ({"p", "e", "b", "other"}, None),
        ({"p", "b"}, f"topic e does not exist {HINT}"),
        (set(), f"topics p, e, b do not exist {HINT}"),
        ({"e"}, f"topics p, b do not exist {HINT}"),
    ],
)
def test_missing_topics_are_named_in_the_wanted_order(present: set[str], reason: str | None) -> None:
    """No reason when every wanted topic exists; otherwise each missing one, in the order wanted."""
    assert missing_topics(("p", "e", "b"), present) == reason
