"""The one default model is a current model of the installed SDK."""

from __future__ import annotations

import typing

from anthropic._data import DEPRECATED_MODELS
from anthropic.types import Model

from schemas.models import DEFAULT_MODEL
from service.cli.demo import DEMO_MODEL
from service.cli.send import build_prompt


def _sdk_model_ids() -> set[str]:
    literal, _str = typing.get_args(Model)
    return set(typing.get_args(literal))


def test_default_model_is_a_current_sdk_model() -> None:
    """DEFAULT_MODEL is listed by the SDK's ``Model`` and not in its deprecation table."""
    assert DEFAULT_MODEL in _sdk_model_ids()
    assert DEFAULT_MODEL not in DEPRECATED_MODELS


def test_send_and_demo_use_the_default_model() -> None:
    """``send`` without ``--model`` and the demo both use DEFAULT_MODEL."""
    event = build_prompt(
        text="hi", raw_json=None, model=None, max_tokens=None, system=None, mode=None, custom_id="x", attrs={}
    )
    assert event.params.model == DEFAULT_MODEL
    assert DEMO_MODEL == DEFAULT_MODEL
