"""Which API errors are worth another attempt: one table, shared by the stream and batch paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest

from schemas import ErrorEvent, SourceRecord
from service.apierrors import stream_error
from service.batch.records import Entry
from service.batch.results import Publish, outcome
from service.errors import NON_TRANSIENT_CODES, ClaudeFatal, is_transient
from service.pricing import PriceTable


@pytest.mark.parametrize(
    ("status", "type_", "code", "transient"),
    [
        (429, "rate_limit_error", None, True),
        (429, "rate_limit_error", "ramp_limit_exceeded", True),  # SDK 2.15: retry after retry-after
        (429, "rate_limit_error", "enforced_spend_limit_reached", False),
        (429, "rate_limit_error", "contract_spend_limit_reached", False),
        (409, "conflict_error", "skill_read_blocked_undecryptable", False),
        (503, "api_error", "cmek_key_unreachable", True),  # SDK 2.15: "Retry the request"
        (529, "overloaded_error", "compaction_unavailable", True),
        (529, "overloaded_error", None, True),
        (500, "api_error", None, True),
        (408, "timeout_error", None, True),
        (400, "invalid_request_error", "organization_on_hold", False),
        (402, "billing_error", "linked_organization_spend_limit_reached", False),
        (400, "invalid_request_error", None, False),
        (404, "not_found_error", None, False),
        (429, "rate_limit_error", "some_future_code", True),  # unknown code: the bare status decides
        (200, "overloaded_error", None, True),  # SSE error event: the type decides
        (200, "overloaded_error", "enforced_spend_limit_reached", False),
        (None, "rate_limit_error", None, True),  # batch result
        (None, "invalid_request_error", None, False),
        (None, "rate_limit_error", "enforced_spend_limit_reached", False),
    ],
)
def test_is_transient_decides_by_code_then_status_then_type(
    status: int | None, type_: str, code: str | None, transient: bool
) -> None:
    """A lasting error_code is final whatever the status; otherwise 408/409/429/5xx (or the type) retry."""
    assert is_transient(status, type_, code) is transient


def test_every_non_transient_code_is_one_the_sdk_knows() -> None:
    """Each code in NON_TRANSIENT_CODES maps to an SDK 2.15 exception subclass (no typo, no invention)."""
    from anthropic._error_classes import ERROR_CLASSES

    sdk_codes = {code for _, code in ERROR_CLASSES if code is not None}
    assert sdk_codes >= NON_TRANSIENT_CODES
    assert issubclass(ERROR_CLASSES[(429, "enforced_spend_limit_reached")], anthropic.RateLimitError)


def test_sse_error_with_a_lasting_code_is_final_and_keeps_the_code() -> None:
    """An SSE error event carrying error.details.error_code becomes ClaudeFatal with that code."""
    data = (
        '{"type":"error","error":{"type":"rate_limit_error","message":"cap",'
        '"details":{"error_code":"enforced_spend_limit_reached"}}}'
    )
    error = stream_error(data, "req_1")
    assert isinstance(error, ClaudeFatal) and error.code == "enforced_spend_limit_reached"


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        ({"type": "rate_limit_error", "message": "m"}, None, True),
        ({"type": "rate_limit_error", "message": "m", "details": {"error_code": "enforced_spend_limit_reached"}},
         "enforced_spend_limit_reached", False),
        ({"type": "invalid_request_error", "message": "m", "details": {"error_code": "organization_on_hold"}},
         "organization_on_hold", False),
    ],
)  # fmt: skip
def test_errored_batch_result_carries_the_code_and_its_retryability(
    error: dict[str, Any], code: str | None, retryable: bool
) -> None:
    """An errored batch result's ErrorEvent has error.code and retryable per is_transient."""
    entry = Entry(
        custom_id="a", generation=1, attempt=1, source=SourceRecord(topic="p", partition=0, offset=0),
        timestamp_ms=0, params='{"model":"claude-sonnet-5-5","max_tokens":1,"messages":[]}',
    )  # fmt: skip
    now = datetime(2026, 12, 1, tzinfo=UTC)
    result = {"type": "errored", "error": {"type": "error", "error": error}}
    decided = outcome(result, entry, prices=PriceTable(), max_attempts=3, submitted_at=now, now=now)
    assert isinstance(decided, Publish) and isinstance(decided.event, ErrorEvent)
    assert decided.event.error.code == code and decided.event.retryable is retryable
