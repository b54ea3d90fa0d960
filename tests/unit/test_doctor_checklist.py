"""``claude-kafka doctor``'s verdicts and rendering: facts in, checklist lines out."""

from __future__ import annotations

from datetime import date

import pytest
from aiokafka.admin import NewTopic

from service.cli import checklist
from service.cli.checklist import Check, Status
from service.kafka.topics import TopicState
from service.models import Lifecycle

PROMPTS = NewTopic("claude.prompts", 6, 1)
BATCHES = NewTopic("claude.batches", 1, 1, topic_configs={"cleanup.policy": "compact"})
COMPACT = {"cleanup.policy": "compact"}


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (
            {"claude.prompts": TopicState("claude.prompts", 6), "claude.batches": TopicState("claude.batches", 1, COMPACT)},
            [("✓", "6 partitions", None), ("✓", "1 partition, cleanup.policy=compact", None)],
        ),
        (
            {"claude.prompts": TopicState("claude.prompts", 3), "claude.batches": TopicState("claude.batches", 1, COMPACT)},
            [("✓", "3 partitions (TOPIC_PARTITIONS is 6)", None), ("✓", "1 partition, cleanup.policy=compact", None)],
        ),
        (
            {"claude.batches": TopicState("claude.batches", 3)},
            [
                ("✗", "missing", "claude-kafka topics create -b k:9092"),
                ("✗", "has 3 partitions (asked 1), cleanup.policy=default (asked compact)",
                 "delete claude.batches (no open batches) and run `claude-kafka topics create -b k:9092`"),
            ],
        ),
    ],
)  # fmt: skip
def test_topic_checks_fail_only_missing_topics_and_a_wrong_batches_topic(
    states: dict[str, TopicState], expected: list[tuple[str, str, str | None]]
) -> None:
    """A missing topic or a batches topic not compacted to one partition fails; a partition count only shows."""
    checks = checklist.topics([PROMPTS, BATCHES], states, "k:9092")
    assert [(c.status.value, c.detail, c.fix) for c in checks] == expected


@pytest.mark.parametrize(
    ("state", "members", "lag", "status", "detail"),
    [
        ("Stable", 2, {0: 0, 1: 4}, "✓", "Stable, 2 members, lag 4"),
        ("Stable", 1, None, "✓", "Stable, 1 member, lag unknown"),
        ("Empty", 0, {0: 7}, "✗", "no member is consuming, lag 7"),
        ("Empty", 0, {0: 0}, "✗", "no member is consuming, lag 0"),
        ("Dead", 0, None, "✗", "no consumer has joined it yet"),
        (None, 0, None, "✗", "no consumer has joined it yet"),
        ("PreparingRebalance", 2, {0: 1}, "✗", "PreparingRebalance (rebalancing), lag 1"),
    ],
)
def test_group_check_wants_a_stable_group_and_reports_lag(
    state: str | None, members: int, lag: dict[int, int] | None, status: str, detail: str
) -> None:
    """Stable with members passes with the summed lag; empty, dead or rebalancing groups fail."""
    check = checklist.group("claude-kafka", state, members, lag)
    assert (check.status.value, check.detail) == (status, detail)
    assert (check.fix is None) == (status == "✓")


@pytest.mark.parametrize(
    ("model", "status", "detail"),
    [
        ("claude-sonnet-5-5", "✓", "current"),
        ("claude-opus-4-5", "✗", "deprecated, retires 2027-01-22"),
        ("claude-sonnet-4-5", "✗", "retired on 2026-11-30"),
        ("claude-sonnet-9", "✗", "not a model id of the installed SDK"),
    ],
)
def test_model_checks_follow_the_model_lifecycle(model: str, status: str, detail: str) -> None:
    """Only an active model passes; deprecated and retired ones name their date, unknown ids fail."""
    stage: dict[str, Lifecycle | None] = {
        "claude-sonnet-5-5": "active", "claude-opus-4-5": "deprecated", "claude-sonnet-4-5": "retired"
    }  # fmt: skip
    retires = {"claude-opus-4-5": date(2027, 1, 22), "claude-sonnet-4-5": date(2026, 11, 30)}
    (check,) = checklist.models([("default", model)], stage, retires, "claude-sonnet-5-5")
    assert (check.name, check.status.value, check.detail) == (f"default model {model}", status, detail)
    assert check.fix == (None if status == "✓" else "choose a current model id, e.g. claude-sonnet-5-5")


def test_model_checks_of_the_real_sdk_tables() -> None:
    """Against the installed SDK: the default model is current, a deprecated SDK id is not."""
    from anthropic._data import DEPRECATED_MODELS

    from service.cli.doctor import model_checks
    from service.models import lifecycle
    from service.settings import load_settings

    deprecated = next(m for m in DEPRECATED_MODELS if lifecycle(m) == "deprecated")
    settings = load_settings(env_file=None, pipeline={"allowed_models": f"claude-sonnet-5-5,{deprecated}"})
    checks = model_checks(settings)
    assert [c.status.value for c in checks] == ["✓", "✓", "✗"], checks
    assert checks[2].detail.startswith("deprecated, retires ")


@pytest.mark.parametrize(
    ("port", "in_use", "serving", "status", "detail"),
    [
        (0, False, None, "✓", "off (METRICS_PORT=0)"),
        (9464, False, None, "✓", "0.0.0.0:9464 free"),
        (9464, True, "ok", "✓", "9464 serves a running claude-kafka (/readyz: ok)"),
        (9464, True, None, "✗", "0.0.0.0:9464 is in use by another program"),
    ],
)
def test_metrics_port_check(port: int, in_use: bool, serving: str | None, status: str, detail: str) -> None:
    """Free or held by a claude-kafka that answers /readyz passes; held by anything else fails."""
    check = checklist.metrics_port("0.0.0.0", port, in_use, serving)
    assert (check.status.value, check.detail) == (status, detail)


def test_render_aligns_names_indents_fixes_and_counts_failures() -> None:
    """One line per check, each fix under its failure, skipped checks without a fix, a summary last."""
    checks = [
        checklist.broker("k:9092", None, 3),
        checklist.api_key("http://emu", "rejected by http://emu (401)", "set a valid ANTHROPIC_API_KEY"),
        checklist.skipped("group g", "broker unreachable"),
    ]
    assert checklist.render(checks) == [
        "✓ broker   k:9092 answered (3 brokers)",
        "✗ API key  rejected by http://emu (401)",
        "           fix: set a valid ANTHROPIC_API_KEY",
        "- group g  not checked: broker unreachable",
        "1 of 3 checks failed",
    ]
    assert checklist.render([Check("x", Status.PASS, "fine")]) == ["✓ x  fine", "all checks passed"]
