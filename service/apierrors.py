"""Anthropic SDK errors translated to ours, in one place for the streaming and the batch adapters.

``ClaudeRetryable`` for 408/409/429/5xx (``service.errors.is_transient``), timeouts and connection
failures; ``ClaudeFatal`` for the request's own faults; the API's ``error.details.error_code`` becomes
``ClaudeError.code``. ``refuse_final_retries`` is the response hook that keeps the SDK's own retry
loop off errors that will not pass by retrying (a spend limit, ...).
"""

from __future__ import annotations

import json

import anthropic
import httpx2

from service.errors import ClaudeError, ClaudeFatal, ClaudeRetryable, is_transient


def retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The server's requested wait: ``retry-after-ms`` first, then ``retry-after`` (seconds)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None


def _error_fields(body: object, fallback: str) -> tuple[str | None, str, str | None]:
    """``(error.type, error.message, error.details.error_code)`` of an error envelope."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            details = error.get("details")
            code = details.get("error_code") if isinstance(details, dict) else None
            return (
                error.get("type"),
                str(error.get("message", fallback)),
                code if isinstance(code, str) else None,
            )
    return None, fallback, None


def translate_status_error(exc: anthropic.APIStatusError) -> ClaudeError:
    status = exc.status_code
    kind, message, _ = _error_fields(exc.body, exc.message)
    code = exc.error_code
    cls = ClaudeRetryable if is_transient(status, kind, code) else ClaudeFatal
    return cls(
        message,
        type=kind or f"http_{status}",
        status=status,
        request_id=exc.request_id,
        retry_after=retry_after_seconds(exc.response.headers),
        code=code,
    )


def stream_error(data: str, request_id: str | None) -> ClaudeError:
    """An SSE ``error`` event: the API's error envelope, sent after a 200."""
    try:
        body: object = json.loads(data)
    except ValueError:
        body = None
    kind, message, code = _error_fields(body, data or "stream error")
    kind = kind or "api_error"
    cls = ClaudeRetryable if is_transient(200, kind, code) else ClaudeFatal
    return cls(message, type=kind, status=200, request_id=request_id, code=code)


async def refuse_final_retries(response: httpx2.Response) -> None:
    """Response hook: an error whose ``error_code`` lasts (a spend limit, ...) gets
    ``x-should-retry: false`` unless the API already said, so the SDK's own retry loop (which retries
    every 429 otherwise: ``_base_client._should_retry``) does not spend attempts on it."""
    if response.status_code < 400 or "x-should-retry" in response.headers:
        return
    await response.aread()  # an error body is small, and the SDK reads the cached bytes again
    try:
        body: object = json.loads(response.content)
    except ValueError:
        return
    kind, _, code = _error_fields(body, "")
    if code is not None and not is_transient(response.status_code, kind, code):
        response.headers["x-should-retry"] = "false"


def translate_api_error(exc: anthropic.APIError) -> ClaudeError:
    """Any SDK error as ours: status errors by ``translate_status_error``, timeouts and connection
    failures retryable."""
    if isinstance(exc, anthropic.APIStatusError):
        return translate_status_error(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        return ClaudeRetryable("request timed out", type="api_timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return ClaudeRetryable(f"connection failed: {exc.__cause__ or exc}", type="api_connection_error")
    return ClaudeRetryable(str(exc), type="api_error")
