"""Decide what a consumed record is: a prompt to run, or a rejection with its reason. Pure.

Every rule here produces an ErrorEvent and no API call: bytes that are not UTF-8 or not JSON, a schema
violation, an oversize record, a model outside the allow-list, ``max_tokens`` above the cap, a passed
deadline, a param the service owns (``stream``) or a header-borne param that cannot be a header.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from schemas import ErrorDetail, Mode, PromptEvent
from schemas.events import CUSTOM_ID_PATTERN
from service.errors import describe_validation
from service.headers import header_problem
from service.settings import PipelineSettings

# A \uD800-\uDFFF escape: JSON allows it, but a lone one decodes to a str that cannot be encoded to
# UTF-8 again, so the SDK's request (and our own events) would fail on it after intake.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# pydantic serialises at most ~250 levels deep (json.loads takes ~1000), and the batch path serialises
# params: only a record with this many brackets can be that deep, so only those pay for a trial run.
_DEEP_BRACKETS = 200
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)
# An oversize record is still parsed for its custom_id (so its error reaches whoever waits on it), but
# only up to this size: the record is in memory already, the bound keeps one record's parse cheap.
_OVERSIZE_PARSE_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rejection:
    error: ErrorDetail
    prompt: PromptEvent | None = None  # set when the record parsed but broke a rule
    # A valid top-level custom_id read from a record that is not a valid prompt, so its error event
    # still correlates (and is keyed) like every other outcome of that custom_id.
    readable_id: str | None = None

    @property
    def custom_id(self) -> str | None:
        return self.prompt.custom_id if self.prompt else self.readable_id


def readable_custom_id(document: object) -> str | None:
    """The record's top-level ``custom_id`` if it is a valid one (schema rule), else ``None``."""
    if isinstance(document, dict):
        value = document.get("custom_id")
        if isinstance(value, str) and _CUSTOM_ID.fullmatch(value):
            return value
    return None


def _oversize_custom_id(value: bytes) -> str | None:
    if len(value) > _OVERSIZE_PARSE_LIMIT:
        return None
    try:
        return readable_custom_id(json.loads(value.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def decode_prompt(value: bytes | None, rules: PipelineSettings, now: datetime) -> PromptEvent | Rejection:
    if value is None:
        return Rejection(ErrorDetail(type="invalid_prompt", message="record has no value (tombstone)"))
    if len(value) > rules.max_prompt_bytes:
        return Rejection(
            ErrorDetail(
                type="prompt_too_large",
                message=f"record is {len(value)} bytes; MAX_PROMPT_BYTES is {rules.max_prompt_bytes}",
            ),
            readable_id=_oversize_custom_id(value),
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(ErrorDetail(type="invalid_encoding", message=f"record is not UTF-8: {exc.reason}"))
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return Rejection(ErrorDetail(type="invalid_json", message=f"record is not JSON: {exc}"))
    readable = readable_custom_id(document)
    if _SURROGATE_ESCAPE.search(text) and not _encodable(document):
        message = "record has a lone surrogate escape (\\ud800-\\udfff)"
        return Rejection(ErrorDetail(type="invalid_encoding", message=message), readable_id=readable)
    try:
        prompt = PromptEvent.model_validate(document)
    except ValidationError as exc:
        detail = ErrorDetail(type="invalid_prompt", message=describe_validation(exc))
        return Rejection(detail, readable_id=readable)
    except RecursionError:
        detail = ErrorDetail(type="invalid_prompt", message="record is nested too deeply")
        return Rejection(detail, readable_id=readable)
    if text.count("[") + text.count("{") > _DEEP_BRACKETS and not _serialisable(prompt):
        detail = ErrorDetail(type="invalid_prompt", message="record is nested too deeply")
        return Rejection(detail, readable_id=prompt.custom_id)
    return check_rules(prompt, rules, now)


def _encodable(document: object) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def _serialisable(prompt: PromptEvent) -> bool:
    try:
        prompt.model_dump_json()
    except PydanticSerializationError:
        return False
    return True


def check_rules(prompt: PromptEvent, rules: PipelineSettings, now: datetime) -> PromptEvent | Rejection:
    params = prompt.params
    problem = header_problem(params.model_extra or {})
    if problem is not None:
        return Rejection(ErrorDetail(type="invalid_prompt", message=problem), prompt)
    if prompt.mode is Mode.BATCH and (prompt.loop is not None or prompt.session is not None):
        detail = ErrorDetail(type="invalid_prompt", message="loop and session need mode stream")
        return Rejection(detail, prompt)
    if rules.allowed_models and params.model not in rules.allowed_models:
        allowed = ", ".join(rules.allowed_models)
        return Rejection(
            ErrorDetail(
                type="model_not_allowed",
                message=f"model {params.model!r} is not in ALLOWED_MODELS ({allowed})",
            ),
            prompt,
        )
    if rules.max_tokens_cap is not None and params.max_tokens > rules.max_tokens_cap:
        return Rejection(
            ErrorDetail(
                type="max_tokens_exceeded",
                message=f"max_tokens {params.max_tokens} is above MAX_TOKENS_CAP {rules.max_tokens_cap}",
            ),
            prompt,
        )
    if prompt.deadline is not None and prompt.deadline <= now:
        return Rejection(
            ErrorDetail(
                type="expired", message=f"deadline {prompt.deadline.isoformat()} passed before start"
            ),
            prompt,
        )
    return prompt
