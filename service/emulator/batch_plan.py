"""Each batch request's fate, decided at create time: a directive, else a seeded rate draw. Pure.

The directive rides in ``params.metadata.user_id`` and follows the fault grammar of ``faults.py``
(``emu:`` then ``key=value`` pairs joined by ``;``, up to the next whitespace)::

    emu:batch=succeeded                     the default
    emu:batch=errored                       errored, invalid_request_error with a generic message
    emu:batch=errored;error=api_error       errored with that error type
    emu:batch=errored;error=overloaded_error;message=busy     ... and that message (no spaces)
    emu:batch=canceled                      canceled, whether or not the batch is canceled
    emu:batch=expired                       never finishes: the batch runs to its 24 h expiry

Keys other than ``batch``, ``error`` and ``message`` (e.g. ``status``) belong to ``/v1/messages``
faults and are ignored here; a directive without ``batch`` leaves the request to the rates.
"""

from __future__ import annotations

import hashlib
import re

from service.emulator.batch_store import Plan, PlannedRequest

_DIRECTIVE = re.compile(r"emu:(\S+)")
_ERROR_TYPE = re.compile(r"^[a-z_]{1,64}$")
_PLANS = {
    "succeeded": Plan.SUCCEED,
    "errored": Plan.ERROR,
    "canceled": Plan.CANCEL,
    "expired": Plan.EXPIRE,
}
DEFAULT_ERROR = "invalid_request_error"
RATE_ERROR = "api_error"  # what a rate-drawn failure looks like: a server-side problem


class DirectiveError(ValueError):
    """A malformed ``emu:batch=...`` directive; refused so typos do not pass silently."""


def plan_request(
    custom_id: str,
    params: bytes,
    user_id: str | None,
    *,
    seed: int,
    errored_rate: float = 0.0,
    expired_rate: float = 0.0,
) -> PlannedRequest:
    """The request with its fate. Rate draws hash ``(seed, custom_id)`` rather than share an RNG,
    so a request's fate does not depend on what else was submitted, or in which order."""
    directive = _batch_directive(user_id)
    if directive is not None:
        return PlannedRequest(custom_id, params, *directive)
    if errored_rate > 0 or expired_rate > 0:
        draw = _uniform(seed, custom_id)
        if draw < errored_rate:
            return PlannedRequest(custom_id, params, Plan.ERROR, RATE_ERROR)
        if draw < errored_rate + expired_rate:
            return PlannedRequest(custom_id, params, Plan.EXPIRE)
    return PlannedRequest(custom_id, params)


def _batch_directive(user_id: str | None) -> tuple[Plan, str, str | None] | None:
    match = _DIRECTIVE.search(user_id) if user_id else None
    if match is None:
        return None
    values: dict[str, str] = {}
    for part in filter(None, match.group(1).split(";")):
        name, _, value = part.partition("=")
        values[name.strip()] = value
    if "batch" not in values:
        return None
    plan = _PLANS.get(values["batch"])
    if plan is None:
        raise DirectiveError(
            f"emulator batch directive: batch must be one of {', '.join(_PLANS)}, got {values['batch']!r}"
        )
    error_type = values.get("error", DEFAULT_ERROR)
    if not _ERROR_TYPE.match(error_type):
        raise DirectiveError(f"emulator batch directive: bad error type {error_type!r}")
    return plan, error_type, values.get("message")


def _uniform(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
