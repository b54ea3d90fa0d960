"""The strict emulator: unknown body keys, per-model rules and output limits get the real API's 400;
coded errors carry error.details.error_code and raise the SDK's subclass for that code."""

from __future__ import annotations

import typing
from typing import Any

import anthropic
import pytest
from anthropic.types import message_create_params
from anthropic.types.beta import message_create_params as beta_params

from service.emulator import Emulator, EmulatorConfig
from service.emulator.validate import BODY_KEYS, validate_message_params
from service.headers import HEADER_PARAMS
from tests.emulator.conftest import params

CONFIG = EmulatorConfig(models=None)  # any model id: the rules, not the catalogue, are under test
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]


def body(model: str = "claude-sonnet-5-5", **extra: Any) -> dict[str, Any]:
    return params(model=model, **extra)


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (body(betas=["files-api-2025-04-14"]), "betas: Extra inputs are not permitted"),
        (body(workspace_id="wrkspc_1"), "workspace_id: Extra inputs are not permitted"),
        (body(user_profile_id="u"), "user_profile_id: Extra inputs are not permitted"),
        (body(frobnicate=1), "frobnicate: Extra inputs are not permitted"),
        # Sonnet 5: manual extended thinking and non-default sampling params are refused.
        (body("claude-sonnet-5", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048),
         'thinking.type: "enabled" is not supported on claude-sonnet-5'),
        (body("claude-sonnet-5", temperature=0.2), "temperature: sampling parameters are not supported"),
        (body("claude-sonnet-5", top_p=0.9), "top_p: sampling parameters are not supported"),
        (body("claude-sonnet-5", top_k=5), "top_k: sampling parameters are not supported"),
        # Sonnet 5.5 and Opus 5.5: forced tool use and disabled thinking are refused.
        (body(tools=TOOLS, tool_choice={"type": "any"}), "tool_choice: forced tool use (type 'any')"),
        (body("claude-opus-5-5", tools=TOOLS, tool_choice={"type": "tool", "name": "get_weather"}),
         "tool_choice: forced tool use (type 'tool') is not supported on claude-opus-5-5"),
        (body(thinking={"type": "disabled"}), 'thinking.type: "disabled" is not supported on claude-sonnet-5-5'),
        (body("claude-opus-5-5", thinking={"type": "disabled"}), 'thinking.type: "disabled" is not supported'),
        (body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]),
         "messages: assistant message prefill is not supported on claude-sonnet-5-5"),
        # Output limits per model page.
        (body(max_tokens=128_001), "max_tokens: 128001 > 128000"),
        (body("claude-haiku-4-5", max_tokens=64_001), "max_tokens: 64001 > 64000"),
    ],
)  # fmt: skip
def test_refused_requests_get_the_real_apis_400(request_body: dict[str, Any], message: str) -> None:
    """Each documented refusal is a 400 invalid_request_error whose message names the cause."""
    problem = validate_message_params(request_body, CONFIG)
    assert problem is not None and problem.status == 400 and problem.type == "invalid_request_error"
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    "request_body",
    [
        body(tools=TOOLS, tool_choice={"type": "auto"}, thinking={"type": "adaptive"}),
        body(tools=TOOLS, tool_choice={"type": "none"}),
        body(temperature=1.0, top_p=1.0),  # default values are no change
        body("claude-sonnet-5", thinking={"type": "adaptive"}),
        body("claude-haiku-4-5", temperature=0.2, top_k=5, thinking={"type": "enabled", "budget_tokens": 1024},
             max_tokens=64_000),
        body("claude-haiku-4-5", tools=TOOLS, tool_choice={"type": "any"}),
        body("claude-opus-5-5", temperature=0.5),
        body(max_tokens=128_000, output_config={"effort": "high"}, cache_control={"type": "ephemeral"}),
    ],
)  # fmt: skip
def test_allowed_requests_pass(request_body: dict[str, Any]) -> None:
    """What the model pages allow (auto tools, adaptive thinking, defaults, older models' options) passes."""
    assert validate_message_params(request_body, CONFIG) is None


def test_known_body_keys_are_the_sdks_create_params_less_its_headers() -> None:
    """BODY_KEYS = the SDK's MessageCreateParams keys (plain and beta) + sampling params - header params."""
    sdk = set(typing.get_type_hints(message_create_params.MessageCreateParamsStreaming)) | set(
        typing.get_type_hints(beta_params.MessageCreateParamsStreaming)
    )
    assert (sdk | {"temperature", "top_p", "top_k"}) - set(HEADER_PARAMS) == BODY_KEYS
    assert {"model", "messages", "max_tokens", "stream", "output_config", "mcp_servers"} <= BODY_KEYS


def test_a_batch_request_may_carry_user_profile_id_in_its_body() -> None:
    """SDK 2.15 BatchCreateParams: a batch request's body may name a user profile; betas still may not."""
    assert validate_message_params(body(user_profile_id="u"), CONFIG, batch=True) is None
    problem = validate_message_params(body(betas=["x"]), CONFIG, batch=True)
    assert problem is not None and problem.message == "betas: Extra inputs are not permitted"


async def test_unknown_body_key_reaches_the_sdk_as_bad_request(aclient: anthropic.AsyncAnthropic) -> None:
    """A key sent through extra_body that the API does not know is a BadRequestError naming the key."""
    with pytest.raises(anthropic.BadRequestError, match="betas: Extra inputs are not permitted"):
        await aclient.messages.create(**params(), extra_body={"betas": ["files-api-2025-04-14"]})


async def test_betas_as_the_sdk_sends_them_are_accepted(aclient: anthropic.AsyncAnthropic) -> None:
    """The same betas through the SDK's own keyword (the anthropic-beta header) are accepted."""
    message = await aclient.beta.messages.create(**params(), betas=["files-api-2025-04-14"])
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("directive", "error_class", "code"),
    [
        ("status=429;code=enforced_spend_limit_reached", anthropic.EnforcedSpendLimitReachedError,
         "enforced_spend_limit_reached"),
        ("status=402;error=billing_error;code=linked_organization_spend_limit_reached",
         anthropic.LinkedOrganizationSpendLimitReachedError, "linked_organization_spend_limit_reached"),
        ("status=400;code=organization_on_hold", anthropic.OrganizationOnHoldError, "organization_on_hold"),
    ],
)  # fmt: skip
async def test_coded_errors_raise_the_sdks_subclass_with_error_code(
    emu: Emulator, directive: str, error_class: type[anthropic.APIStatusError], code: str
) -> None:
    """emu:...;code=X answers with error.details.error_code X; the SDK maps it to its subclass for X."""
    async with anthropic.AsyncAnthropic(base_url=emu.base_url, api_key="k", max_retries=0) as client:
        with pytest.raises(error_class) as caught:
            await client.messages.create(**params(), extra_headers={"x-emulator-fault": directive})
    assert caught.value.error_code == code
    assert caught.value.response.headers.get("retry-after") is None  # a spend cap names no wait


async def test_forced_tool_use_on_sonnet_5_5_is_a_bad_request_over_the_sdk() -> None:
    """Over HTTP, the SDK gets a BadRequestError for forced tool use on claude-sonnet-5-5."""
    async with (
        Emulator(CONFIG) as emu,
        anthropic.AsyncAnthropic(base_url=emu.base_url, api_key="k", max_retries=0) as client,
    ):
        with pytest.raises(anthropic.BadRequestError, match="forced tool use"):
            await client.messages.create(
                **body(tools=TOOLS, tool_choice={"type": "any"}),
            )
