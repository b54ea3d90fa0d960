"""Header-borne params: the table matches the installed SDK; intake refuses what cannot be sent."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import pytest

from service.headers import HEADER_PARAMS, header_key, header_problem, split_params
from service.pipeline.intake import Rejection, decode_prompt
from service.settings import PipelineSettings

_NOT_PARAMS = {"self", "extra_headers", "extra_query", "extra_body", "timeout"}
_REQUIRED: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 1,
    "messages": [{"role": "user", "content": "x"}],
    "requests": [],
}
_PROBE = "probe-value"


def sdk_header_params() -> dict[str, dict[str, str]]:
    """Per create method of SDK 2.15, every param the SDK sends as a header, with the header's name.

    Each keyword param of the method's signature is sent alone through a capturing transport; one
    that is missing from the JSON body is header-borne, and the header carrying its value names it.
    """
    seen: list[httpx2.Request] = []

    def capture(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        raise RuntimeError("captured; no answer needed")

    client = anthropic.Anthropic(
        api_key="k", max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(capture))
    )
    methods: dict[str, Callable[..., Any]] = {
        "messages.create": client.messages.create,
        "beta.messages.create": client.beta.messages.create,
        "messages.batches.create": client.messages.batches.create,
        "beta.messages.batches.create": client.beta.messages.batches.create,
    }
    found: dict[str, dict[str, str]] = {}
    for name, method in methods.items():
        signature = inspect.signature(method)
        required = {k: v for k, v in _REQUIRED.items() if k in signature.parameters}
        found[name] = {}
        for param in signature.parameters.values():
            if param.name in _NOT_PARAMS or param.name in required:
                continue
            value: object = False if param.name == "stream" else _PROBE
            if "List" in str(param.annotation):
                value = [_PROBE]
            seen.clear()
            with pytest.raises(anthropic.APIConnectionError):
                method(**required, **{param.name: value})
            (request,) = seen
            if param.name not in json.loads(request.content):
                (header,) = [h for h, v in request.headers.items() if _PROBE in v]
                found[name][param.name] = header
    return found


def test_header_params_equal_the_sdks_header_borne_params() -> None:
    """Every create method of the SDK sends exactly HEADER_PARAMS' params as headers, under those names."""
    found = sdk_header_params()
    union = {param: header for headers in found.values() for param, header in headers.items()}
    assert union == HEADER_PARAMS
    assert (
        set(found["beta.messages.create"]) == set(found["beta.messages.batches.create"]) == set(HEADER_PARAMS)
    )
    assert set(found["messages.create"]) == {"workspace_id", "user_profile_id"}


@pytest.mark.parametrize(
    ("params", "body", "headers"),
    [
        ({"model": "m", "max_tokens": 1}, {"model": "m", "max_tokens": 1}, {}),
        (
            {"model": "m", "betas": ["a", "b"], "workspace_id": "w", "user_profile_id": "u", "tools": []},
            {"model": "m", "tools": []},
            {"betas": ["a", "b"], "workspace_id": "w", "user_profile_id": "u"},
        ),
    ],
)
def test_split_params_keeps_header_borne_params_out_of_the_body(
    params: dict[str, Any], body: dict[str, Any], headers: dict[str, Any]
) -> None:
    """split_params returns the body without any header-borne key, and those keys apart."""
    assert split_params(params) == (body, headers)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"model": "x"}, {"model": "y", "tools": []}, True),
        ({"betas": ["a", "b"]}, {"betas": ["a", "b"], "model": "z"}, True),
        ({"betas": ["a"]}, {"betas": ["b"]}, False),
        ({"betas": ["a"]}, {}, False),
        ({"workspace_id": "w1"}, {"workspace_id": "w2"}, False),
        ({"user_profile_id": "u"}, {}, False),
    ],
)
def test_header_key_groups_prompts_that_can_share_a_batch(
    a: dict[str, Any], b: dict[str, Any], same: bool
) -> None:
    """Prompts share a batch only when their header-borne params are equal; body keys do not matter."""
    assert (header_key(a) == header_key(b)) is same


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"stream": False}, "params.stream: set by the service"),
        ({"stream": True}, "params.stream: set by the service"),
        ({"betas": "files-api-2025-04-14"}, "params.betas: should be a non-empty list"),
        ({"betas": []}, "params.betas: should be a non-empty list"),
        ({"betas": ["ok", 3]}, "params.betas: should be a non-empty list"),
        ({"workspace_id": 7}, "params.workspace_id: should be a non-empty string"),
        ({"user_profile_id": "a\nb"}, "params.user_profile_id: should be a non-empty string"),
        ({"betas": ["files-api-2025-04-14"], "workspace_id": "wrkspc_1"}, None),
        ({"temperature": 1.0}, None),
    ],
)
def test_header_problem_names_params_that_cannot_be_sent(params: dict[str, Any], problem: str | None) -> None:
    """Service-owned params and header params that are not header text are named; others pass."""
    found = header_problem(params)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))


def test_intake_refuses_stream_false_as_an_invalid_prompt() -> None:
    """A prompt whose params carry stream: false is rejected at intake (it would override stream=True)."""
    record = {
        "custom_id": "p-1",
        "params": {
            "model": "claude-sonnet-5-5",
            "max_tokens": 10,
            "stream": False,
            "messages": [{"role": "user", "content": "hi"}],
        },
    }
    outcome = decode_prompt(json.dumps(record).encode(), PipelineSettings(), datetime.now(UTC))
    assert isinstance(outcome, Rejection) and outcome.custom_id == "p-1"
    assert outcome.error.type == "invalid_prompt" and "params.stream" in outcome.error.message
