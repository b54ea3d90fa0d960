"""How an existing topic differs from what ``topics create`` asks for, as the line it prints."""

from __future__ import annotations

import pytest
from aiokafka.admin import NewTopic

from service.kafka.topics import TopicState, describe_outcome

COMPACT = {"cleanup.policy": "compact"}


@pytest.mark.parametrize(
    ("spec", "state", "created", "line"),
    [
        (NewTopic("p", 6, 1), None, True, "created"),
        (NewTopic("p", 6, 1), TopicState("p", 6), False, "exists"),
        (NewTopic("p", 12, 1), TopicState("p", 3), False, "exists with 3 partitions (asked 12)"),
        (NewTopic("b", 1, 1, topic_configs=COMPACT), TopicState("b", 1, COMPACT), False, "exists"),
        (
            NewTopic("b", 1, 1, topic_configs=COMPACT),
            TopicState("b", 1, {"cleanup.policy": "delete"}),
            False,
            "exists with cleanup.policy=delete (asked compact)",
        ),
        (
            NewTopic("b", 1, 1, topic_configs=COMPACT),
            TopicState("b", 4),
            False,
            "exists with 4 partitions (asked 1), cleanup.policy=default (asked compact)",
        ),
        (NewTopic("p", 6, 1), None, False, "exists"),
    ],
)
def test_outcome_line_names_each_difference(
    spec: NewTopic, state: TopicState | None, created: bool, line: str
) -> None:
    """Created, exists, or exists with every partition and config difference spelled out."""
    assert describe_outcome(spec, state, created) == line
