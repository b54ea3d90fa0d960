"""The emulator's models are the installed SDK's: every SDK id answers, every retired id is 404, and
``/v1/models`` passes the SDK's strict ``ModelInfo`` validation."""

from __future__ import annotations

import json

import httpx2
import pytest
from anthropic.types import ModelInfo

from service.emulator import Emulator, EmulatorConfig
from service.models import RETIRED, SDK_MODELS, is_retired, lifecycle, retires_on

LIVE = tuple(m for m in SDK_MODELS if not is_retired(m))
PAST_END_OF_LIFE = tuple(m for m in SDK_MODELS if is_retired(m))  # listed by the SDK, ended by the clock

BODY = {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


async def _all_models(base_url: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    async with httpx2.AsyncClient(base_url=base_url, headers={"x-api-key": "k"}) as raw:
        after: str | None = None
        while True:
            query = {"limit": "7", **({"after_id": after} if after else {})}
            page = (await raw.get("/v1/models", params=query)).json()
            found.extend(page["data"])
            if not page["has_more"]:
                return found
            after = page["last_id"]


async def test_every_listed_model_passes_strict_model_info_validation(emu: Emulator) -> None:
    """Each /v1/models entry parses with ModelInfo.model_validate_json(strict=True), lifecycle included."""
    listed = await _all_models(emu.base_url)
    assert [m["id"] for m in listed] == [*SDK_MODELS, *RETIRED]
    for raw in listed:
        info = ModelInfo.model_validate_json(json.dumps(raw), strict=True)
        assert info.lifecycle == lifecycle(info.id)
        assert info.capabilities is not None and info.capabilities.thinking.types is not None
        if info.lifecycle == "active":
            assert info.deprecated_at is None and info.retires_at is None
        else:
            assert info.deprecated_at is not None and info.retires_at is not None


async def test_deprecated_models_carry_the_sdk_retirement_date(emu: Emulator) -> None:
    """A deprecated SDK model is listed ``deprecated`` with retires_at = the SDK's end-of-life date."""
    async with httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw:
        info = ModelInfo.model_validate_json((await raw.get("/v1/models/claude-opus-4-5")).text, strict=True)
    assert info.lifecycle == "deprecated"
    assert info.retires_at is not None and info.retires_at.date() == retires_on("claude-opus-4-5")


@pytest.mark.parametrize("model", LIVE)
async def test_every_sdk_model_is_accepted(emu: Emulator, model: str) -> None:
    """POST /v1/messages answers 200 for every id of the installed SDK's Model not past its end of life."""
    async with httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw:
        response = await raw.post("/v1/messages", json={"model": model, **BODY})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model


@pytest.mark.parametrize("open_world", [False, True])
async def test_every_retired_model_is_not_found(open_world: bool) -> None:
    """Every retired id is 404 not_found_error "model: <id>", with or without an allow-list."""
    config = EmulatorConfig(models=None) if open_world else EmulatorConfig()
    async with (
        Emulator(config) as emu,
        httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw,
    ):
        for model in (*RETIRED, *PAST_END_OF_LIFE):
            response = await raw.post("/v1/messages", json={"model": model, **BODY})
            assert response.status_code == 404, model
            error = response.json()["error"]
            assert error == {"type": "not_found_error", "message": f"model: {model}"}
