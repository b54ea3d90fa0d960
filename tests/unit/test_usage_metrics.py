"""The usage metrics users look for: stop reasons, cache writes by TTL, server tools, batch savings, and
series that exist at 0 before their first observation. Pure mappings and a fresh registry per test."""

from __future__ import annotations

from datetime import date
from typing import Any, get_args

import pytest
from anthropic.types import ServerToolUsage, StopReason

from service.metrics import (
    SERVER_TOOLS,
    STOP_REASONS,
    Metrics,
    cache_write_tokens,
    server_tool_requests,
    stop_reason_label,
)
from service.pricing import PriceTable

TODAY = date(2026, 12, 1)
M = 1_000_000


def test_label_sets_come_from_the_installed_sdk() -> None:
    """stop_reason values are the SDK's StopReason literal, tools its ServerToolUsage fields, plus ``other``."""
    assert (*get_args(StopReason), "other") == STOP_REASONS
    assert set(SERVER_TOOLS) == {n.removesuffix("_requests") for n in ServerToolUsage.model_fields} | {
        "other"
    }


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("end_turn", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
        ("model_context_window_exceeded", "model_context_window_exceeded"),
        ("a_reason_from_a_newer_api", "other"),
        ("other", "other"),
        ("", "other"),
        (None, "other"),
        (3, "other"),
    ],
)
def test_stop_reason_is_bounded_to_the_sdk_values(value: object, label: str) -> None:
    """A known stop_reason is its own label; anything else (new, empty, null, not a string) is ``other``."""
    assert stop_reason_label(value) == label


@pytest.mark.parametrize(
    ("usage", "split"),
    [
        ({}, {"5m": 0, "1h": 0}),
        ({"cache_creation_input_tokens": 40}, {"5m": 40, "1h": 0}),  # no breakdown: the 5-minute default
        (
            {"cache_creation_input_tokens": 50,
             "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30}},
            {"5m": 20, "1h": 30},
        ),
        ({"cache_creation": {"ephemeral_1h_input_tokens": 7}}, {"5m": 0, "1h": 7}),
        ({"cache_creation": None, "cache_creation_input_tokens": 9}, {"5m": 9, "1h": 0}),
    ],
)  # fmt: skip
def test_cache_writes_split_by_ttl(usage: dict[str, Any], split: dict[str, int]) -> None:
    """usage.cache_creation gives the 5m/1h split; without it every cache write counts as 5m."""
    assert cache_write_tokens(usage) == split


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        ({}, {"web_search": 0, "web_fetch": 0, "other": 0}),
        ({"server_tool_use": None}, {"web_search": 0, "web_fetch": 0, "other": 0}),
        (
            {"server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1}},
            {"web_search": 2, "web_fetch": 1, "other": 0},
        ),
        # A tool the SDK does not know yet, and fields that are not request counts.
        (
            {"server_tool_use": {"code_execution_requests": 3, "tool_search_requests": 1, "note": "x",
                                 "web_search_requests": True}},
            {"web_search": 0, "web_fetch": 0, "other": 4},
        ),
    ],
)  # fmt: skip
def test_server_tool_requests_by_tool(usage: dict[str, Any], counts: dict[str, int]) -> None:
    """Each ``<tool>_requests`` count of usage.server_tool_use goes to its tool, an unknown tool to ``other``."""
    assert server_tool_requests(usage) == counts


@pytest.mark.parametrize(
    ("model", "usage", "saving"),
    [
        # 50% off every figure: the saving equals the batch price.
        ("claude-sonnet-5-5", {"input_tokens": M, "output_tokens": M}, 6.0),
        ("claude-sonnet-5-5", {"cache_read_input_tokens": M}, 0.05),
        (
            "claude-sonnet-5-5",
            {"cache_creation": {"ephemeral_5m_input_tokens": M, "ephemeral_1h_input_tokens": M}},
            (2.5 + 4.0) / 2,
        ),
        ("claude-sonnet-5-5", {"input_tokens": 0, "output_tokens": 0}, 0.0),
        ("claude-new-9", {"input_tokens": M}, None),  # unpriced: nothing known to be saved
    ],
)
def test_batch_saving_is_standard_minus_batch_price(
    model: str, usage: dict[str, Any], saving: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    """The saving is the standard price of the same usage minus its batch price; unpriced gives None."""
    table = PriceTable()
    got = table.batch_saving_usd(model, usage, on=TODAY)
    if saving is None:
        assert got is None
        return
    assert got == pytest.approx(saving)
    standard, batched = (
        table.cost_usd(model, usage, on=TODAY),
        table.cost_usd(model, usage, batch=True, on=TODAY),
    )
    assert standard is not None and batched is not None
    assert got == pytest.approx(standard - batched)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_completion_records_stop_reason_cache_split_server_tools_and_saving() -> None:
    """One batch completion: its stop_reason, cache writes by TTL, web searches, saving and the finish."""
    metrics = Metrics()
    message = {
        "stop_reason": "refusal",
        "usage": {
            "input_tokens": 3, "output_tokens": 4, "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
            "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0},
        },
    }  # fmt: skip
    metrics.completed("m", "batch", message, 0.25, batch_saving_usd=0.25)
    labels = {"model": "m", "mode": "batch"}
    assert sample(metrics, "claude_kafka_stop_reasons_total", **labels, stop_reason="refusal") == 1
    assert sample(metrics, "claude_kafka_cache_creation_tokens_total", **labels, ttl="5m") == 10
    assert sample(metrics, "claude_kafka_cache_creation_tokens_total", **labels, ttl="1h") == 20
    assert sample(metrics, "claude_kafka_server_tool_requests_total", **labels, tool="web_search") == 2
    assert sample(metrics, "claude_kafka_batch_savings_usd_total", model="m") == 0.25
    assert sample(metrics, "claude_kafka_cost_usd_total", **labels) == 0.25
    assert sample(metrics, "claude_kafka_prompts_finished_total", mode="batch", outcome="completed") == 1


def test_bounded_label_sets_are_exported_at_zero_before_any_observation() -> None:
    """A fresh registry has modes, outcomes, rate-limit reasons and Kafka operations at 0, so rate() sees
    the first burst; a model's first completion puts all its stop reasons, TTLs, tools and token types at 0."""
    metrics = Metrics()
    for mode in ("stream", "batch"):
        assert sample(metrics, "claude_kafka_prompts_received_total", mode=mode) == 0
        assert sample(metrics, "claude_kafka_attempts_total", mode=mode) == 0
        assert sample(metrics, "claude_kafka_queue_wait_seconds_count", mode=mode) == 0
        for outcome in ("completed", "errored"):
            assert sample(metrics, "claude_kafka_prompts_finished_total", mode=mode, outcome=outcome) == 0
    for reason in ("client", "server", "headroom"):
        assert sample(metrics, "claude_kafka_rate_limit_waits_total", reason=reason) == 0
    for operation in ("fetch", "produce", "commit"):
        assert sample(metrics, "claude_kafka_kafka_errors_total", operation=operation) == 0
    assert (
        sample(metrics, "claude_kafka_stop_reasons_total", model="m", mode="stream", stop_reason="refusal")
        is None
    )

    metrics.completed("m", "stream", {"stop_reason": "end_turn", "usage": {"output_tokens": 5}}, 0.1)
    labels = {"model": "m", "mode": "stream"}
    assert {
        r: sample(metrics, "claude_kafka_stop_reasons_total", **labels, stop_reason=r) for r in STOP_REASONS
    } == {r: (1 if r == "end_turn" else 0) for r in STOP_REASONS}
    for kind in ("input", "cache_creation_input", "cache_read_input"):
        assert sample(metrics, "claude_kafka_tokens_total", **labels, type=kind) == 0
    for ttl in ("5m", "1h"):
        assert sample(metrics, "claude_kafka_cache_creation_tokens_total", **labels, ttl=ttl) == 0
    for tool in SERVER_TOOLS:
        assert sample(metrics, "claude_kafka_server_tool_requests_total", **labels, tool=tool) == 0
    assert sample(metrics, "claude_kafka_batch_savings_usd_total", model="m") is None  # batch mode only


def test_a_new_tenant_value_starts_its_outcomes_at_zero() -> None:
    """With tenant labels on, ``none`` and each newly seen tenant export every mode and outcome at 0."""
    metrics = Metrics(tenant_keys=("tenant",))
    assert (
        sample(metrics, "claude_kafka_prompts_finished_total", mode="batch", outcome="errored", tenant="none")
        == 0
    )
    metrics.finished("stream", "completed", attributes={"tenant": "acme"})
    finished = "claude_kafka_prompts_finished_total"
    assert sample(metrics, finished, mode="stream", outcome="completed", tenant="acme") == 1
    assert sample(metrics, finished, mode="stream", outcome="errored", tenant="acme") == 0
    assert sample(metrics, finished, mode="batch", outcome="completed", tenant="acme") == 0
