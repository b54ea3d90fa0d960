"""Prices as data: the shipped price file, its arithmetic, effective dates, tiers, and overrides."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from service.errors import ConfigError
from service.metrics import Metrics
from service.models import SDK_MODELS
from service.pricing import PriceFile, PriceTable, cache_writes, shipped_prices
from service.settings import load_settings

TODAY = date(2026, 12, 1)
M = 1_000_000


def test_every_sdk_model_has_a_price_row_or_an_unpriced_reason() -> None:
    """Each id of the installed SDK's Model is priced, or listed as unpriced with a reason."""
    table = PriceTable()
    missing = [m for m in SDK_MODELS if table.row(m, TODAY) is None and m not in table.unpriced()]
    assert missing == []


def test_every_shipped_row_cites_a_docs_page() -> None:
    """Each shipped row names the Anthropic docs page its figures come from."""
    for row in shipped_prices().prices:
        assert row.source.startswith("https://platform.claude.com/docs/"), row.model


@pytest.mark.parametrize(
    ("model", "usage", "batch", "cost"),
    [
        # input / output per MTok
        ("claude-sonnet-5-5", {"input_tokens": M, "output_tokens": M}, False, 2.0 + 10.0),
        ("claude-opus-5-5", {"input_tokens": M, "output_tokens": M}, False, 4.0 + 20.0),
        ("claude-haiku-4-5-20251001", {"input_tokens": 0, "output_tokens": M}, False, 5.0),
        ("claude-opus-4-6", {"input_tokens": M, "output_tokens": M}, False, 5.0 + 25.0),  # not Opus 4's $15/$75
        ("claude-fable-5-2", {"input_tokens": M, "output_tokens": M}, False, 8.0 + 40.0),
        # batch: the row's discount (50%) on every figure, cache included
        ("claude-sonnet-5-5", {"input_tokens": M, "output_tokens": M}, True, 6.0),
        ("claude-sonnet-5-5", {"cache_read_input_tokens": M}, True, 0.05),
        # cache writes: 5m and 1h priced apart; no split -> all 5m
        ("claude-sonnet-5-5", {"cache_creation_input_tokens": M}, False, 2.5),
        (
            "claude-sonnet-5-5",
            {"cache_creation_input_tokens": 2 * M,
             "cache_creation": {"ephemeral_5m_input_tokens": M, "ephemeral_1h_input_tokens": M}},
            False, 2.5 + 4.0,
        ),
        ("claude-opus-4-8", {"cache_creation": {"ephemeral_1h_input_tokens": M}}, False, 10.0),
        # cache reads after the 2026-10-07 cut
        ("claude-sonnet-5-5", {"cache_read_input_tokens": M}, False, 0.10),
        ("claude-fable-5-1", {"cache_read_input_tokens": M}, False, 0.25),
        # no row, no prefix fallback
        ("claude-opus-4-6-20990101", {"input_tokens": 10}, False, None),
        ("gpt-4", {"input_tokens": 10}, False, None),
        ("claude-mythos-preview", {"input_tokens": 10}, False, None),
    ],
)  # fmt: skip
def test_cost_arithmetic(model: str, usage: dict[str, Any], batch: bool, cost: float | None) -> None:
    """Cost = tokens x the row's rate per MTok for each kind, times the batch discount; None unpriced."""
    got = PriceTable().cost_usd(model, usage, batch=batch, on=TODAY)
    assert got == (None if cost is None else pytest.approx(cost))


@pytest.mark.parametrize(
    ("on", "cost"), [(date(2026, 10, 6), 0.20), (date(2026, 10, 7), 0.10), (TODAY, 0.10)]
)
def test_the_row_in_effect_on_the_day_applies(on: date, cost: float) -> None:
    """Sonnet 5.5 cache reads cost $0.20/MTok before 2026-10-07 and $0.10 from that day on."""
    table = PriceTable()
    assert table.cost_usd("claude-sonnet-5-5", {"cache_read_input_tokens": M}, on=on) == pytest.approx(cost)


def test_a_model_has_no_price_before_its_first_row() -> None:
    """Haiku 5.5's prices start on its release day (2026-10-07); before that it is unpriced."""
    assert PriceTable().cost_usd("claude-haiku-5-5", {"input_tokens": 1}, on=date(2026, 10, 6)) is None


@pytest.mark.parametrize(
    ("usage", "cost"),
    [
        # prompt = input + cache reads + cache writes; at 100,000 the base rates apply
        ({"input_tokens": 100_000, "output_tokens": 1_000}, (100_000 * 0.10 + 1_000 * 0.50) / M),
        # above 100,000: the tier's rates on every token, output included
        ({"input_tokens": 100_001, "output_tokens": 1_000}, (100_001 * 0.50 + 1_000 * 2.50) / M),
        (
            {"input_tokens": 1_000, "cache_read_input_tokens": 99_000, "cache_creation_input_tokens": 1_000,
             "output_tokens": 10},
            (1_000 * 0.50 + 99_000 * 0.05 + 1_000 * 0.625 + 10 * 2.50) / M,
        ),
        (
            {"input_tokens": 50_000, "cache_creation": {"ephemeral_1h_input_tokens": 60_000}},
            (50_000 * 0.50 + 60_000 * 1.00) / M,
        ),
    ],
)  # fmt: skip
def test_haiku_5_5_prompt_length_tier(usage: dict[str, Any], cost: float) -> None:
    """Haiku 5.5 prompts over 100k tokens pay $0.50/$2.50 (cache $0.625/$1/$0.05) on every token."""
    assert PriceTable().cost_usd("claude-haiku-5-5", usage, on=TODAY) == pytest.approx(cost)


@pytest.mark.parametrize(
    ("usage", "split"),
    [
        ({"cache_creation_input_tokens": 7}, (7, 0)),
        ({"cache_creation_input_tokens": 7, "cache_creation": {"ephemeral_5m_input_tokens": 3,
                                                               "ephemeral_1h_input_tokens": 4}}, (3, 4)),
        ({"cache_creation_input_tokens": 7, "cache_creation": None}, (7, 0)),
        ({}, (0, 0)),
    ],
)  # fmt: skip
def test_cache_write_split(usage: dict[str, Any], split: tuple[int, int]) -> None:
    """usage.cache_creation's 5m/1h split when present, else cache_creation_input_tokens as 5m."""
    assert cache_writes(usage) == split


def test_unknown_model_warns_once_and_counts_its_tokens(caplog: pytest.LogCaptureFixture) -> None:
    """A model with no row: cost None, one warning however many responses, tokens counted as unpriced."""
    table, metrics = PriceTable(), Metrics()
    usage = {"input_tokens": 10, "output_tokens": 5}
    with caplog.at_level(logging.WARNING, logger="service.pricing"):
        for _ in range(3):
            metrics.usage("claude-new-9", "stream", usage, table.cost_usd("claude-new-9", usage))
    assert [r.getMessage() for r in caplog.records if "claude-new-9" in r.getMessage()] == [
        "no price for model claude-new-9: cost_usd is null; add a row with PRICES_FILE"
    ]
    sample = metrics.registry.get_sample_value(
        "claude_kafka_unpriced_tokens_total", {"model": "claude-new-9"}
    )
    assert sample == 45


def _row(model: str, **rates: Any) -> dict[str, Any]:
    base = {"input": 1, "output": 2, "cache_write_5m": 3, "cache_write_1h": 4, "cache_read": 5}
    return {"model": model, "batch_discount": 0.5, "source": "https://example.test/p", **base, **rates}


def test_prices_file_overrides_and_adds_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PRICES_FILE rows replace the shipped rows of the models they name and add new models."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": [_row("claude-sonnet-5-5", input=7), _row("my-fine-tune")]}))
    monkeypatch.setenv("PRICES_FILE", str(path))
    settings = load_settings(env_file=None)
    table = PriceTable.load(settings.pipeline.prices_file)
    assert table.cost_usd("claude-sonnet-5-5", {"input_tokens": M}, on=TODAY) == 7.0
    assert table.cost_usd("claude-sonnet-5-5", {"input_tokens": M}, on=date(2026, 10, 1)) == 7.0
    assert table.cost_usd("my-fine-tune", {"output_tokens": M}, on=TODAY) == 2.0
    assert table.cost_usd("claude-opus-5-5", {"input_tokens": M}, on=TODAY) == 4.0  # shipped row kept


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "Invalid JSON"),
        (json.dumps({"prices": [{"model": "x"}]}), "prices.0.input: Field required"),
        (json.dumps({"prices": [_row("x", input=-1)]}), "greater than or equal to 0"),
        (json.dumps({"prices": [_row("x"), _row("x")]}), "two price rows for x"),
        (json.dumps({"prices": [_row("x", batch_discount=1)]}), "batch_discount"),
        (None, "cannot read"),
    ],
)
def test_a_bad_prices_file_stops_start_up_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, needle: str
) -> None:
    """A bad PRICES_FILE is one ConfigError line naming PRICES_FILE and what is wrong."""
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("PRICES_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    problems = caught.value.problems
    assert len(problems) == 1 and problems[0].startswith("PRICES_FILE: ") and "\n" not in problems[0]
    assert needle in problems[0]


def test_the_shipped_file_is_a_valid_price_file() -> None:
    """prices.json loads through PriceFile (unique rows; no model both priced and unpriced)."""
    prices = shipped_prices()
    assert isinstance(prices, PriceFile) and len(prices.prices) >= len(SDK_MODELS) - len(prices.unpriced)
