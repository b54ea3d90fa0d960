"""``GET /v1/models`` (paginated, newest first) and ``GET /v1/models/{model_id}``.

The catalogue is the installed SDK's ``Model`` ids with their lifecycle (``service/models.py``), then
the retired ids, which stay listed as ``retired`` (the SDK's ``ModelInfo.lifecycle`` docs: "It remains
in the catalogue as the historical record of its retirement"). Every entry is a full ``ModelInfo``:
lifecycle, dates, limits, line and capabilities, so the SDK's strict validation passes.
"""

from __future__ import annotations

import re
import typing
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from anthropic.types import ModelLine

from service.emulator.config import DEFAULT_MODELS
from service.emulator.context import EmulatorContext
from service.emulator.errors import ApiError, invalid_request
from service.emulator.wire import json_response
from service.models import RETIRED, lifecycle, retires_on

MODELS = "/v1/models"
MODEL = "/v1/models/{model_id}"
#: ``created_at`` when the release day is not known: the SDK allows "an epoch value if the release
#: date is unknown".
_UNKNOWN_RELEASE = date(1970, 1, 1)

#: Release days and (context window, max output) from the model pages
#: (https://platform.claude.com/docs/en/models/<model>/overview); absent = not found in the docs.
_RELEASED: dict[str, date] = {
    "claude-fable-5-2": date(2026, 11, 9),
    "claude-mythos-5-2": date(2026, 11, 9),
    "claude-haiku-5-5": date(2026, 10, 7),
    "claude-fable-5-1": date(2026, 9, 1),
    "claude-mythos-5-1": date(2026, 9, 1),
    "claude-opus-5": date(2026, 7, 24),
    "claude-sonnet-5": date(2026, 6, 30),
    "claude-fable-5": date(2026, 6, 9),
    "claude-mythos-5": date(2026, 6, 9),
    "claude-haiku-4-5": date(2025, 10, 1),
    "claude-haiku-4-5-20251001": date(2025, 10, 1),
    "claude-opus-4-5": date(2025, 11, 1),
    "claude-opus-4-5-20251101": date(2025, 11, 1),
    "claude-sonnet-4-5": date(2025, 9, 29),
    "claude-sonnet-4-5-20250929": date(2025, 9, 29),
}
_DEPRECATED_ON: dict[str, date] = {
    "claude-opus-4-5": date(2026, 11, 23),
    "claude-opus-4-5-20251101": date(2026, 11, 23),
}
_LIMITS_5 = (1_000_000, 128_000)  # every 5-series model page: 1M context, 128K output
_LIMITS: dict[str, tuple[int, int]] = {
    "claude-haiku-4-5": (200_000, 64_000),
    "claude-haiku-4-5-20251001": (200_000, 64_000),
    "claude-opus-4-5": (200_000, 64_000),
    "claude-opus-4-5-20251101": (200_000, 64_000),
    "claude-sonnet-4-5": (200_000, 64_000),
    "claude-sonnet-4-5-20250929": (200_000, 64_000),
}
#: Thinking rules the model pages document: adaptive thinking always on (no ``disabled``) on Sonnet
#: and Opus 5.5, Fable and Mythos 5.x; manual ``enabled`` refused from Sonnet 5 on.
_THINKING_ALWAYS_ON = re.compile(r"claude-(sonnet-5-5|opus-5-5|fable-5|mythos-5)")
_NO_MANUAL_THINKING = re.compile(r"claude-(sonnet-5|opus-5|fable-5|mythos-5|haiku-5)")
_LINES: tuple[str, ...] = typing.get_args(ModelLine)


def add_model_routes(app: web.Application, ctx: EmulatorContext) -> None:
    ids = ctx.config.models or DEFAULT_MODELS
    if ids == DEFAULT_MODELS:
        ids = (*ids, *RETIRED)
    catalogue = model_catalogue(ids)
    by_id = {m["id"]: m for m in catalogue}
    open_world = not ctx.config.models  # no allow-list: any claude-* id is "known"

    async def list_models(request: web.Request) -> web.Response:
        return json_response(paginate(catalogue, request.query))

    async def retrieve_model(request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        info = by_id.get(model_id)
        if info is None and open_world and model_id.startswith("claude-"):
            info = model_info(model_id)
        if info is None:
            raise ApiError("not_found_error", f"model: {model_id}")
        return json_response(info)

    app.router.add_get(MODELS, list_models)
    app.router.add_get(MODEL, retrieve_model)


def model_catalogue(ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """ModelInfo dicts in the given order (the SDK lists newest first; retired ones follow)."""
    return [model_info(model_id) for model_id in ids]


def _stamp(day: date | None) -> str | None:
    return (
        None
        if day is None
        else datetime(day.year, day.month, day.day, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def model_info(model_id: str) -> dict[str, Any]:
    """One ``ModelInfo`` as the real API returns it."""
    stage = lifecycle(model_id) or "active"
    limits = _LIMITS.get(model_id) or (_LIMITS_5 if re.match(r"claude-[a-z]+-5", model_id) else None)
    retires = RETIRED.get(model_id) or retires_on(model_id)
    line = next((name for name in _LINES if f"-{name}-" in f"{model_id}-"), None)
    return {
        "id": model_id,
        "type": "model",
        "display_name": display_name(model_id),
        "created_at": _stamp(_RELEASED.get(model_id, _UNKNOWN_RELEASE)),
        "lifecycle": stage,
        # The day of deprecation is not in the SDK (its end-of-life date is): known ones from the
        # deprecations page, else the SDK's "unknown" epoch.
        "deprecated_at": None
        if stage == "active"
        else _stamp(_DEPRECATED_ON.get(model_id, _UNKNOWN_RELEASE)),
        "retires_at": None if stage == "active" else _stamp(retires),
        "line": line,
        "max_input_tokens": limits[0] if limits else None,
        "max_tokens": limits[1] if limits else None,
        "capabilities": capabilities(model_id),
    }


def _yes(flag: bool) -> dict[str, bool]:
    return {"supported": flag}


def capabilities(model_id: str) -> dict[str, Any]:
    """A ``ModelCapabilities`` object; every key present, as the SDK documents."""
    always_on = bool(_THINKING_ALWAYS_ON.match(model_id))
    no_manual = bool(_NO_MANUAL_THINKING.match(model_id))
    five = bool(re.match(r"claude-[a-z]+-5", model_id))
    return {
        "batch": _yes(True),
        "citations": _yes(True),
        "code_execution": _yes(True),
        "context_management": {"supported": True, "clear_tool_uses_20250919": _yes(True)},
        "effort": {
            "supported": True,
            "low": _yes(True),
            "medium": _yes(True),
            "high": _yes(True),
            "max": _yes(True),
            "xhigh": _yes(five),
        },
        "image_input": _yes(True),
        "pdf_input": _yes(True),
        "server_tools": {"supported": True, "code_execution": _yes(True), "web_search": _yes(True)},
        "structured_outputs": _yes(True),
        "thinking": {
            "supported": True,
            "types": {
                "adaptive": _yes(five or "4-6" in model_id or "4-7" in model_id or "4-8" in model_id),
                "between_tools": _yes(model_id.startswith("claude-sonnet-5-5")),
                "disabled": _yes(not always_on),
                "enabled": _yes(not no_manual),
            },
        },
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
