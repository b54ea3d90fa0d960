"""Which prompt params the Messages API takes as request headers rather than body keys. Pure.

A prompt's ``params`` mirror the SDK's ``messages.create`` keyword arguments, and a few of those are
not body keys at all: SDK 2.15 (``resources/beta/messages/messages.py`` and
``resources/messages/batches.py``, ``create``) sends ``betas`` as ``anthropic-beta`` (comma-joined),
``workspace_id`` as ``anthropic-workspace-id`` and ``user_profile_id`` as
``anthropic-user-profile-id``. In the body the API refuses them ("Extra inputs are not permitted"),
so the adapters hand them to the SDK as keyword arguments and never as ``extra_body``.
``tests/unit/test_headers.py`` drives the installed SDK and fails when its header-borne params differ
from :data:`HEADER_PARAMS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

HEADER_PARAMS: dict[str, str] = {
    "betas": "anthropic-beta",
    "workspace_id": "anthropic-workspace-id",
    "user_profile_id": "anthropic-user-profile-id",
}
"""Param name -> the HTTP header the SDK sends it as."""

SERVICE_OWNED = frozenset({"stream"})
"""Params the service sets itself (every request streams); a prompt may not carry them."""

HeaderKey = tuple[tuple[str, str], ...]
"""A hashable form of a prompt's header-borne params: requests of one batch share one."""


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(body params, header-borne params)``; the body never holds a header-borne key."""
    body = {k: v for k, v in params.items() if k not in HEADER_PARAMS}
    headers = {k: v for k, v in params.items() if k in HEADER_PARAMS}
    return body, headers


def header_key(params: Mapping[str, Any]) -> HeaderKey:
    """Equal for prompts that can share one batch create (its headers apply to every request)."""
    return tuple(
        (name, json.dumps(value, sort_keys=True))
        for name, value in sorted(params.items())
        if name in HEADER_PARAMS
    )


def header_problem(params: Mapping[str, Any]) -> str | None:
    """Why these params cannot be sent as the SDK sends them, or ``None``."""
    owned = sorted(SERVICE_OWNED & params.keys())
    if owned:
        return f"params.{owned[0]}: set by the service (every request streams); remove it"
    if "betas" in params:
        betas = params["betas"]
        if not isinstance(betas, list) or not betas or not all(_header_text(b) for b in betas):
            return "params.betas: should be a non-empty list of beta names (printable ASCII)"
    for name in ("workspace_id", "user_profile_id"):
        if name in params and not _header_text(params[name]):
            return f"params.{name}: should be a non-empty string of printable ASCII"
    return None


def _header_text(value: object) -> bool:
    # An HTTP header value: anything else makes the HTTP client refuse the request after intake.
    return isinstance(value, str) and value != "" and value.isascii() and value.isprintable()
