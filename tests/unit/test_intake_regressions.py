"""Prompts that passed intake but could not be sent on: refused at intake instead of crashing later.

Both used to end in an exception inside the prompt's task (no ErrorEvent, the partition's committed
offset stuck behind the record until a restart, which hit it again): a lone surrogate escape fails
UTF-8 encoding in the SDK's request, and nesting past pydantic's serialisation depth fails the batch
path's ``params.model_dump_json()``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas import PromptEvent
from service.pipeline.intake import Rejection, decode_prompt
from service.settings import PipelineSettings
from tests.services import prompt

RULES = PipelineSettings()
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def with_content(content: str, **fields: str) -> bytes:
    document = {**json.loads(prompt("reg-1")[1]), **fields}
    return json.dumps(document).replace('"Hello"', content).encode()


@pytest.mark.parametrize(
    ("content", "error_type"),
    [
        ('"\\ud800"', "invalid_encoding"),
        ('"a\\udfffb"', "invalid_encoding"),
        ('"\\udbff\\ud800x"', "invalid_encoding"),
        ('"\\ud83d"', "invalid_encoding"),
        ("[" * 300 + '"x"' + "]" * 300, "invalid_prompt"),
        ('{"a":' * 600 + "1" + "}" * 600, "invalid_prompt"),
    ],
)
def test_unsendable_prompt_is_rejected_at_intake(content: str, error_type: str) -> None:
    """A lone surrogate escape or nesting too deep to serialise is refused with a reason at intake."""
    for mode in ("stream", "batch"):
        decoded = decode_prompt(with_content(content, mode=mode), RULES, NOW)
        assert isinstance(decoded, Rejection), mode
        assert decoded.error.type == error_type


@pytest.mark.parametrize("content", ['"\\ud83d\\ude00"', "[" * 200 + '"x"' + "]" * 200, '"\\\\ud800"'])
def test_sendable_lookalikes_still_pass_intake(content: str) -> None:
    """A surrogate pair, moderate nesting and an escaped backslash before ``ud800`` are ordinary prompts."""
    decoded = decode_prompt(with_content(content), RULES, NOW)
    assert isinstance(decoded, PromptEvent)
    decoded.params.model_dump_json()
    json.dumps(decoded.params.model_dump(), ensure_ascii=False).encode("utf-8")
