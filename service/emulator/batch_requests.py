"""Parse and validate a batch create body into :class:`PlannedRequest` values. Pure, no HTTP.

Error messages follow the API's pydantic-style ``<location>: <problem>`` form, e.g.
``requests.3.custom_id: String should have at most 64 characters``; a params problem reported by
the messages validator is re-rooted under ``requests.N.params``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.emulator.batch_plan import DirectiveError, plan_request
from service.emulator.batch_store import Plan, PlannedRequest
from service.emulator.errors import ApiError, invalid_request

#: Not documented by Anthropic; a conservative rule (see the wire reference, section 4.5).
CUSTOM_ID_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)

Validator = Callable[[dict[str, Any]], "ApiError | None"]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_requests: int = 100_000
    seed: int = 0
    errored_rate: float = 0.0
    expired_rate: float = 0.0


def parse_create_body(
    raw: bytes | bytearray, limits: BatchLimits, validate: Validator
) -> list[PlannedRequest]:
    """The planned requests of a ``POST /v1/messages/batches`` body, or :class:`ApiError` (400).

    ``validate`` is the messages validator for one ``params`` object (in batch mode: ``max_tokens``
    at least 1, no ``stream``); its first error wins.
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid_request("Input should be a valid dictionary")
    items = body.get("requests")
    if items is None:
        raise invalid_request("requests: Field required")
    if not isinstance(items, list):
        raise invalid_request("requests: Input should be a valid list")
    if not items:
        raise invalid_request("requests: List should have at least 1 item after validation, not 0")
    if len(items) > limits.max_requests:
        raise invalid_request(
            f"requests: List should have at most {limits.max_requests} items after validation, "
            f"not {len(items)}"
        )
    first_seen: dict[str, int] = {}
    planned: list[PlannedRequest] = []
    for index, item in enumerate(items):
        custom_id, params, deferred = _check_item(index, item, validate)
        # Drop each parsed request once read, so the dicts shrink while the compact copies grow
        # instead of both peaking together (a 100,000-request body parses to ~150 MB of dicts).
        items[index] = None
        if custom_id in first_seen:
            raise invalid_request(
                f"requests.{index}.custom_id: Duplicate custom_id {custom_id!r}: already used by "
                f"requests.{first_seen[custom_id]}; custom_id must be unique within a batch"
            )
        first_seen[custom_id] = index
        compact = json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode()
        if deferred is not None:
            planned.append(PlannedRequest(custom_id, compact, Plan.ERROR, deferred.type, deferred.message))
            continue
        try:
            request = plan_request(
                custom_id,
                compact,
                _user_id(params),
                seed=limits.seed,
                errored_rate=limits.errored_rate,
                expired_rate=limits.expired_rate,
            )
        except DirectiveError as exc:
            raise invalid_request(f"requests.{index}.params.metadata.user_id: {exc}") from None
        planned.append(request)
    return planned


def _check_item(index: int, item: Any, validate: Validator) -> tuple[str, dict[str, Any], ApiError | None]:
    """Structural problems raise (400); a non-400 problem such as an unknown model is returned, to
    become that request's ``errored`` result, as the real API validates models asynchronously."""
    at = f"requests.{index}"
    if not isinstance(item, dict):
        raise invalid_request(f"{at}: Input should be a valid dictionary")
    custom_id = item.get("custom_id")
    if custom_id is None:
        raise invalid_request(f"{at}.custom_id: Field required")
    if not isinstance(custom_id, str):
        raise invalid_request(f"{at}.custom_id: Input should be a valid string")
    if len(custom_id) > 64:
        raise invalid_request(f"{at}.custom_id: String should have at most 64 characters")
    if not custom_id:
        raise invalid_request(f"{at}.custom_id: String should have at least 1 character")
    if not _CUSTOM_ID.match(custom_id):
        raise invalid_request(f"{at}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN}'")
    params = item.get("params")
    if params is None:
        raise invalid_request(f"{at}.params: Field required")
    if not isinstance(params, dict):
        raise invalid_request(f"{at}.params: Input should be a valid dictionary")
    error = validate(params)
    if error is not None and error.status == 400:
        raise ApiError(error.type, _reroot(error.message, f"{at}.params"), status=error.status)
    return custom_id, params, error


def _reroot(message: str, prefix: str) -> str:
    """``messages.0.content: ...`` → ``requests.N.params.messages.0.content: ...``."""
    location, sep, rest = message.partition(": ")
    if sep and location and " " not in location:
        return f"{prefix}.{location}: {rest}"
    return f"{prefix}: {message}"


def _user_id(params: dict[str, Any]) -> str | None:
    metadata = params.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        return str(metadata["user_id"])
    return None
