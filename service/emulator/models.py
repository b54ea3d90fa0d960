"""``GET /v1/models`` (paginated, newest first) and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from service.emulator.config import DEFAULT_MODELS
from service.emulator.context import EmulatorContext
from service.emulator.errors import ApiError, invalid_request
from service.emulator.wire import json_response

MODELS = "/v1/models"
MODEL = "/v1/models/{model_id}"
_EPOCH = datetime(2024, 3, 7, tzinfo=UTC)


def add_model_routes(app: web.Application, ctx: EmulatorContext) -> None:
    catalogue = model_catalogue(ctx.config.models or DEFAULT_MODELS)
    by_id = {m["id"]: m for m in catalogue}
    open_world = not ctx.config.models  # no allow-list: any claude-* id is "known"

    async def list_models(request: web.Request) -> web.Response:
        return json_response(paginate(catalogue, request.query))

    async def retrieve_model(request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        info = by_id.get(model_id)
        if info is None and open_world and model_id.startswith("claude-"):
            info = model_info(model_id, len(catalogue))
        if info is None:
            raise ApiError("not_found_error", f"model: {model_id}")
        return json_response(info)

    app.router.add_get(MODELS, list_models)
    app.router.add_get(MODEL, retrieve_model)


def model_catalogue(ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """ModelInfo dicts, newest first (later entries in the config list count as older)."""
    return [model_info(model_id, len(ids) - i) for i, model_id in enumerate(ids)]


def model_info(model_id: str, age_rank: int) -> dict[str, Any]:
    created = _EPOCH + timedelta(days=30 * age_rank)
    return {
        "id": model_id,
        "type": "model",
        "display_name": display_name(model_id),
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def display_name(model_id: str) -> str:
    """``claude-sonnet-4-5-20250929`` → ``Claude Sonnet 4.5``; ``claude-3-5-haiku-latest`` →
    ``Claude Haiku 3.5``."""
    parts = [p for p in model_id.split("-") if not re.fullmatch(r"\d{8}|latest", p)]
    words = [p for p in parts if not p.isdigit()]
    version = ".".join(p for p in parts if p.isdigit())
    name = " ".join(w.capitalize() for w in words)
    return f"{name} {version}".strip()


def paginate(items: list[dict[str, Any]], query: Any) -> dict[str, Any]:
    """The list page shape ``{data, has_more, first_id, last_id}`` with after_id/before_id/limit."""
    try:
        limit = int(query.get("limit", 20))
    except ValueError:
        raise invalid_request("limit: Input should be a valid integer") from None
    if not 1 <= limit <= 1000:
        raise invalid_request("limit: Input should be between 1 and 1000")
    ids = [item["id"] for item in items]
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise invalid_request("Cannot specify both after_id and before_id")
    if before is not None:
        end = ids.index(before) if before in ids else 0
        page = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after in ids else (len(ids) if after is not None else 0)
        page = items[start : start + limit]
        has_more = start + limit < len(items)
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
