"""An organisation-wide outage the emulator can be switched into and out of while it runs.

While one is set, every ``/v1/messages*`` request (batches included) is answered with its error, as
the real API answers every request of an organisation whose key was revoked (401
``authentication_error``), whose spend limit is reached (429 ``rate_limit_error`` with
``error.details.error_code`` ``enforced_spend_limit_reached``, the SDK's ``EnforcedSpendLimitReachedError``)
or that is overloaded (529). Tests set it directly (``ctx.outage.set(...)``); other processes use::

    PUT    /_emulator/outage   {"status": 401}
                               {"status": 429, "error_code": "enforced_spend_limit_reached",
                                "should_retry": false}
    DELETE /_emulator/outage   back to normal
"""

from __future__ import annotations

import threading

from aiohttp import web

from service.emulator.errors import TYPE_OF, ApiError, invalid_request

PATH = "/_emulator/outage"
AFFECTED_PREFIX = "/v1/messages"

SPEND_LIMIT_MESSAGE = "Your organization has reached its monthly spend limit."


def outage_error(
    status: int,
    *,
    type: str | None = None,
    message: str | None = None,
    error_code: str | None = None,
    should_retry: bool | None = None,
) -> ApiError:
    """The error every request gets during the outage."""
    headers = {}
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    if status == 429 and not error_code:
        headers["retry-after"] = "1"
    if error_code == "enforced_spend_limit_reached" and message is None:
        message = SPEND_LIMIT_MESSAGE
    kind = type or TYPE_OF.get(status, "api_error")
    return ApiError(kind, message, status=status, headers=headers, code=error_code)


class Outage:
    """The current outage, if any; set from any thread."""

    def __init__(self) -> None:
        self._error: ApiError | None = None
        self._lock = threading.Lock()

    def set(self, error: ApiError | None) -> None:
        with self._lock:
            self._error = error

    def clear(self) -> None:
        self.set(None)

    def check(self, path: str) -> None:
        """Raise the outage's error for a request to ``path`` it affects."""
        error = self._error
        if error is not None and path.startswith(AFFECTED_PREFIX):
            raise error


def add_outage_routes(app: web.Application, outage: Outage) -> None:
    async def put(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            status = int(body["status"])
            error = outage_error(
                status,
                type=body.get("type"),
                message=body.get("message"),
                error_code=body.get("error_code"),
                should_retry=body.get("should_retry"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise invalid_request('outage: expected {"status": <int>, ...}') from None
        outage.set(error)
        return web.json_response({"outage": error.body()})

    async def delete(request: web.Request) -> web.Response:
        outage.clear()
        return web.json_response({"outage": None})

    app.router.add_put(PATH, put)
    app.router.add_delete(PATH, delete)
