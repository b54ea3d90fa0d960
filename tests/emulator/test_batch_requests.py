"""Validation of batch create bodies: the API's error wording, limits and per-request plans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.emulator.batch_requests import BatchLimits, parse_create_body
from service.emulator.batch_store import Plan
from service.emulator.config import EmulatorConfig
from service.emulator.errors import ApiError
from service.emulator.validate import validate_message_params

CONFIG = EmulatorConfig()
LIMITS = BatchLimits(max_requests=3)


def validate(params: dict[str, Any]) -> ApiError | None:
    return validate_message_params(params, CONFIG, batch=True)


def params(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return {**base, **overrides}


def body(*items: Any) -> bytes:
    return json.dumps({"requests": list(items)}).encode()


def ok(custom_id: str = "a", **overrides: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": params(**overrides)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "Request body is not valid JSON"),
        (b"[]", "Input should be a valid dictionary"),
        (b"{}", "requests: Field required"),
        (b'{"requests": {}}', "requests: Input should be a valid list"),
        (body(), "requests: List should have at least 1 item after validation, not 0"),
        (
            body(ok("a"), ok("b"), ok("c"), ok("d")),
            "requests: List should have at most 3 items after validation, not 4",
        ),
        (body(ok("a"), 7), "requests.1: Input should be a valid dictionary"),
        (body({"params": params()}), "requests.0.custom_id: Field required"),
        (body({"custom_id": 5, "params": params()}), "requests.0.custom_id: Input should be a valid string"),
        (body(ok("a"), ok("x" * 65)), "requests.1.custom_id: String should have at most 64 characters"),
        (body(ok("")), "requests.0.custom_id: String should have at least 1 character"),
        (body(ok("a b")), "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
        (body(ok("a"), ok("b"), ok("a")), "requests.2.custom_id: Duplicate custom_id 'a'"),
        (body({"custom_id": "a"}), "requests.0.params: Field required"),
        (body({"custom_id": "a", "params": []}), "requests.0.params: Input should be a valid dictionary"),
        (body(ok(max_tokens=0)), "requests.0.params.max_tokens: Input should be greater than or equal to 1"),
        (body(ok(stream=True)), "requests.0.params.stream: Input should be False"),
        (body(ok("a"), ok("b", messages=[])), "requests.1.params.messages: at least one message is required"),
        (body({"custom_id": "a", "params": {"max_tokens": 1}}), "requests.0.params.model: Field required"),
        (
            body(ok(metadata={"user_id": "emu:batch=oops"})),
            "requests.0.params.metadata.user_id: emulator batch directive: batch must be one of",
        ),
    ],
)
def test_invalid_bodies_are_400_with_the_api_wording(raw, message):
    """Each structural problem is a 400 invalid_request_error naming its location."""
    with pytest.raises(ApiError) as refused:
        parse_create_body(raw, LIMITS, validate)
    assert (refused.value.status, refused.value.type) == (400, "invalid_request_error")
    assert refused.value.message.startswith(message)


def test_a_message_without_a_location_is_rooted_at_the_params():
    """A validator message with no field path is prefixed with the request's params location."""
    raw = body(ok(messages=[{"role": "assistant", "content": "x"}]))
    with pytest.raises(ApiError) as refused:
        parse_create_body(raw, LIMITS, validate)
    assert refused.value.message == 'requests.0.params.messages: first message must use the "user" role'


@pytest.mark.parametrize(
    ("item", "plan", "error_type"),
    [
        (ok("a"), Plan.SUCCEED, "invalid_request_error"),
        (ok("a", metadata={"user_id": "emu:batch=errored"}), Plan.ERROR, "invalid_request_error"),
        (ok("a", metadata={"user_id": "emu:batch=expired"}), Plan.EXPIRE, "invalid_request_error"),
        (ok("a", metadata={"user_id": "emu:batch=canceled"}), Plan.CANCEL, "invalid_request_error"),
        (ok("a", metadata={"user_id": "emu:batch=errored;error=api_error"}), Plan.ERROR, "api_error"),
        (ok("a", model="claude-nope"), Plan.ERROR, "not_found_error"),
    ],
)
def test_requests_are_planned_from_directives_and_deferred_errors(item, plan, error_type):
    """Directives pick a request's fate; an unknown model becomes an errored result, not a 400."""
    (planned,) = parse_create_body(body(item), LIMITS, validate)
    assert (planned.custom_id, planned.plan, planned.error_type) == ("a", plan, error_type)
    assert json.loads(planned.params) == item["params"]


def test_rates_come_from_the_limits():
    """Configured errored/expired rates apply to requests without a directive."""
    limits = BatchLimits(max_requests=10, errored_rate=1.0)
    planned = parse_create_body(body(ok("a"), ok("b")), limits, validate)
    assert [p.plan for p in planned] == [Plan.ERROR, Plan.ERROR]


def test_params_are_kept_as_compact_json():
    """Stored params are compact JSON bytes, not dicts: the lean form for 100,000 requests."""
    (planned,) = parse_create_body(body(ok("a")), LIMITS, validate)
    assert planned.params == json.dumps(params(), separators=(",", ":")).encode()
