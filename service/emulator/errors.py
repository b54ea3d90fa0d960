"""API error values and the wire envelope ``{"type":"error","error":{...},"request_id":...}``.

An error with a finer cause carries ``error.details.error_code`` as the real API does (SDK 2.15
``_exceptions.APIStatusError.error_code``; ``_error_classes.ERROR_CLASSES`` maps (status, code) to the
SDK's exception subclasses, e.g. (429, ``enforced_spend_limit_reached``)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: HTTP status of each error ``type`` the emulator produces.
STATUS_OF: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

#: Error type for a status (used by fault directives that name only the status).
TYPE_OF: dict[int, str] = {status: type_ for type_, status in STATUS_OF.items()}
TYPE_OF.update(
    {408: "timeout_error", 409: "conflict_error", 502: "api_error", 503: "api_error", 504: "timeout_error"}
)

DEFAULT_MESSAGES: dict[str, str] = {
    "overloaded_error": "Overloaded",
    "rate_limit_error": "This request would exceed the rate limit for your organization. Please retry later.",
    "api_error": "Internal server error",
    "authentication_error": "invalid x-api-key",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
}


def api_error_body(
    type: str, message: str, request_id: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error envelope. ``request_id`` is added when known (the server always knows it);
    ``error.details.error_code`` when the error has a code."""
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["details"] = {"error_code": code}
    body: dict[str, Any] = {"type": "error", "error": error}
    if request_id is not None:
        body["request_id"] = request_id
    return body


class ApiError(Exception):
    """An error response to send. Raise it from a handler, or return it from a validator.

    ``status`` defaults from ``type``; ``headers`` are extra response headers (e.g. ``retry-after``);
    ``code`` is the envelope's ``error.details.error_code``.
    """

    def __init__(
        self,
        type: str,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        self.type = type
        self.code = code
        self.message = message if message is not None else DEFAULT_MESSAGES.get(type, type)
        self.status = status if status is not None else STATUS_OF.get(type, 500)
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{self.status} {self.type}: {self.message}")

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return api_error_body(self.type, self.message, request_id, self.code)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiError):
            return NotImplemented
        return (self.type, self.message, self.status, self.code) == (
            other.type,
            other.message,
            other.status,
            other.code,
        )

    def __hash__(self) -> int:
        return hash((self.type, self.message, self.status, self.code))


def invalid_request(message: str) -> ApiError:
    return ApiError("invalid_request_error", message)
