"""The emulator's outage control: every request of the organisation fails alike until it is lifted,
and the SDK reads each outage as the error class it documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest
import pytest_asyncio
from anthropic._error_classes import EnforcedSpendLimitReachedError

from service.emulator import Emulator, EmulatorConfig
from service.emulator.outage import PATH
from tests.emulator.conftest import API_KEY, params


@pytest_asyncio.fixture
async def own_emu() -> AsyncIterator[Emulator]:
    """An emulator of its own: an outage would break every other test of a shared one."""
    async with Emulator(EmulatorConfig()) as emulator:
        yield emulator


@pytest.mark.parametrize(
    ("outage", "error_class", "code", "requests"),
    [
        ({"status": 401}, anthropic.AuthenticationError, None, 1),  # the SDK never retries a 401
        (
            {"status": 429, "error_code": "enforced_spend_limit_reached", "should_retry": False},
            EnforcedSpendLimitReachedError,
            "enforced_spend_limit_reached",
            1,  # x-should-retry: false stops the SDK's retries
        ),
        ({"status": 529}, anthropic.InternalServerError, None, 3),  # retried: max_retries=2
    ],
)
async def test_an_outage_fails_every_request_until_it_is_lifted(
    own_emu: Emulator, outage: dict[str, Any], error_class: type[Exception], code: str | None, requests: int
) -> None:
    """PUT /_emulator/outage: the SDK raises the documented class (with error_code); DELETE: served."""
    client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=own_emu.base_url, max_retries=2).with_options(
        timeout=10
    )
    async with httpx2.AsyncClient(base_url=own_emu.base_url, headers={"x-api-key": API_KEY}) as admin:
        assert (await admin.put(PATH, json=outage)).status_code == 200
        before = own_emu.stats.count(route="/v1/messages")
        with pytest.raises(error_class) as caught:
            await client.messages.create(**params())
        assert isinstance(caught.value, anthropic.APIStatusError) and caught.value.error_code == code
        assert own_emu.stats.count(route="/v1/messages") - before == requests
        assert (await admin.delete(PATH)).status_code == 200
    message = await client.messages.create(**params())
    assert message.content
    await client.close()


async def test_a_malformed_outage_is_refused(own_emu: Emulator) -> None:
    """A body without a status is a 400, and nothing changes."""
    async with httpx2.AsyncClient(base_url=own_emu.base_url, headers={"x-api-key": API_KEY}) as admin:
        answer = await admin.put(PATH, json={"error_code": "enforced_spend_limit_reached"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
