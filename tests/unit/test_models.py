"""Model lifecycle from the installed SDK, and the one default model being a current one."""

from __future__ import annotations

import logging
import typing
from datetime import date

import pytest
from anthropic._data import DEPRECATED_MODELS
from anthropic.types import Model

from schemas.models import DEFAULT_MODEL
from service.cli.demo import DEMO_MODEL
from service.cli.send import build_prompt
from service.metrics import Metrics
from service.models import RETIRED, SDK_MODELS, DeprecationNotice, is_current, lifecycle, retires_on


def _sdk_model_ids() -> set[str]:
    literal, _str = typing.get_args(Model)
    return set(typing.get_args(literal))


def test_default_model_is_a_current_sdk_model() -> None:
    """DEFAULT_MODEL is listed by the SDK's ``Model`` and not in its deprecation table."""
    assert DEFAULT_MODEL in _sdk_model_ids()
    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    assert is_current(DEFAULT_MODEL)


def test_send_and_demo_use_the_default_model() -> None:
    """``send`` without ``--model`` and the demo both use DEFAULT_MODEL."""
    event = build_prompt(
        text="hi", raw_json=None, model=None, max_tokens=None, system=None, mode=None, custom_id="x", attrs={}
    )
    assert event.params.model == DEFAULT_MODEL
    assert DEMO_MODEL == DEFAULT_MODEL


def test_sdk_models_are_read_from_the_installed_sdk() -> None:
    """SDK_MODELS is exactly the Literal ids of anthropic.types.Model."""
    assert set(SDK_MODELS) == _sdk_model_ids()


@pytest.mark.parametrize(
    ("model", "stage"),
    [
        ("claude-sonnet-5-5", "active"),
        ("claude-opus-4-5", "deprecated"),
        (
            "claude-mythos-preview",
            "retired",
        ),  # the SDK still lists it; its end of life (2026-06-30) has passed
        ("claude-sonnet-4-5", "retired"),
        ("claude-3-7-sonnet-20250219", "retired"),
        ("claude-nope", None),
    ],
)
def test_lifecycle(model: str, stage: str | None) -> None:
    """SDK ids are active unless in DEPRECATED_MODELS; the retired table wins; others are unknown."""
    assert lifecycle(model) == stage


@pytest.mark.parametrize(
    ("on", "stage"),
    [(date(2027, 1, 21), "deprecated"), (date(2027, 1, 22), "retired"), (date(2027, 6, 1), "retired")],
)
def test_a_deprecated_model_retires_on_its_sdk_end_of_life_date(on: date, stage: str) -> None:
    """The clock decides: claude-opus-4-5 ends on January 22nd, 2027 per the SDK's table."""
    assert lifecycle("claude-opus-4-5", on) == stage


def test_no_sdk_model_is_also_retired() -> None:
    """The retired table names no id the installed SDK still lists (it would be stale)."""
    assert set(RETIRED) & set(SDK_MODELS) == set()


def test_retirement_dates_parse_from_the_sdk_table() -> None:
    """The SDK's "January 22nd, 2027" style end-of-life dates parse, for every deprecated id."""
    assert retires_on("claude-opus-4-5") == date(2027, 1, 22)
    assert all(retires_on(model) is not None for model in DEPRECATED_MODELS)
    assert retires_on("claude-sonnet-5-5") is None


def test_deprecated_model_warns_once_and_counts_every_prompt(caplog: pytest.LogCaptureFixture) -> None:
    """Each prompt for a deprecated model counts; the warning is logged once per model."""
    metrics = Metrics()
    notice = DeprecationNotice(lambda m: metrics.deprecated_model_prompts.labels(m).inc())
    with caplog.at_level(logging.WARNING, logger="service.models"):
        for model in ["claude-opus-4-5", "claude-opus-4-5", "claude-sonnet-5-5", "claude-opus-4-5"]:
            notice.seen(model)
    warnings = [r.getMessage() for r in caplog.records if r.name == "service.models"]
    assert (
        len(warnings) == 1
        and "claude-opus-4-5 is deprecated and retires on January 22nd, 2027" in warnings[0]
    )
    count = metrics.registry.get_sample_value
    assert count("claude_kafka_deprecated_model_prompts_total", {"model": "claude-opus-4-5"}) == 3
    assert count("claude_kafka_deprecated_model_prompts_total", {"model": "claude-sonnet-5-5"}) is None
