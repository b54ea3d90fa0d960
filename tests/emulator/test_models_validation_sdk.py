"""Models endpoints and request validation, through the SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from service.emulator import DEFAULT_MODELS, Emulator, EmulatorConfig
from service.models import RETIRED
from tests.emulator.conftest import API_KEY, MODEL, params


async def test_models_list_pages_through_every_model(aclient: anthropic.AsyncAnthropic) -> None:
    """models.list auto-pagination (limit, after_id) returns every SDK model, then the retired ones, once."""
    page = await aclient.models.list(limit=5)
    assert len(page.data) == 5 and page.has_more and page.first_id == page.data[0].id
    ids = [model.id async for model in await aclient.models.list(limit=4)]
    assert ids == [*DEFAULT_MODELS, *RETIRED]


async def test_models_before_id_pages_backwards(aclient: anthropic.AsyncAnthropic) -> None:
    """before_id returns the page just before that id."""
    page = await aclient.models.list(before_id=DEFAULT_MODELS[3], limit=2)
    assert [m.id for m in page.data] == list(DEFAULT_MODELS[1:3]) and page.has_more


async def test_model_retrieve_and_unknown_model(aclient: anthropic.AsyncAnthropic) -> None:
    """models.retrieve returns ModelInfo; an unknown id is NotFoundError."""
    info = await aclient.models.retrieve(MODEL)
    assert info.id == MODEL and info.type == "model" and info.display_name == "Claude Haiku 4.5"
    with pytest.raises(anthropic.NotFoundError):
        await aclient.models.retrieve("claude-nonexistent-9")


async def test_unknown_model_is_not_found_when_an_allow_list_is_set(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """A model outside the allow-list is 404 not_found_error ("model: <id>"), as the real API answers."""
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nope"):
        await aclient.messages.create(**params(model="claude-nope"))


async def test_any_model_is_accepted_without_an_allow_list() -> None:
    """EmulatorConfig(models=None) accepts any model id."""
    async with (
        Emulator(EmulatorConfig(models=None)) as emu,
        anthropic.AsyncAnthropic(base_url=emu.base_url, api_key=API_KEY) as client,
    ):
        message = await client.messages.create(**params(model="claude-anything"))
    assert message.model == "claude-anything"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model: Field required"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        (
            {"model": MODEL, "max_tokens": "5", "messages": [{"role": "user", "content": "hi"}]},
            "max_tokens: Input should be a valid integer",
        ),
        ({"model": MODEL, "max_tokens": 5}, "messages: Field required"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages: at least one message is required"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "hi"}]},
            'first message must use the "user" role',
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            "roles must alternate",
        ),
        (
            {"model": 5, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            "model: Input should be a valid string",
        ),
    ],
)
async def test_invalid_bodies_are_bad_requests(emu: Emulator, body: dict[str, Any], message: str) -> None:
    """Malformed bodies → 400 invalid_request_error with the real API's style of message."""
    async with httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw:
        response = await raw.post("/v1/messages", json=body)
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    assert message in payload["error"]["message"] and payload["request_id"] == response.headers["request-id"]


async def test_bad_request_surfaces_as_bad_request_error(aclient: anthropic.AsyncAnthropic) -> None:
    """The SDK maps a validation 400 to BadRequestError with type invalid_request_error."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        await aclient.messages.create(model=MODEL, max_tokens=5, messages=[])
    assert caught.value.type == "invalid_request_error"


async def test_body_over_the_limit_is_request_too_large() -> None:
    """A body over max_body_bytes → 413 request_too_large → the SDK's RequestTooLargeError."""
    async with (
        Emulator(EmulatorConfig(max_body_bytes=1000)) as emu,
        anthropic.AsyncAnthropic(base_url=emu.base_url, api_key=API_KEY) as client,
    ):
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(**params(messages=[{"role": "user", "content": "x" * 5000}]))
    assert caught.value.status_code == 413 and caught.value.type == "request_too_large"


async def test_unknown_route_is_a_not_found_envelope(emu: Emulator) -> None:
    """Unknown paths get a 404 in the error envelope, with a request-id."""
    async with httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw:
        response = await raw.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    assert response.headers["request-id"].startswith("req_")
