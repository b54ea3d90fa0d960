"""Which Claude models exist today, and in which lifecycle stage: from the installed SDK, plus one
dated table of retired ids.

The SDK is the ground truth of what is callable: ``anthropic.types.Model`` names every current id and
``anthropic._data.DEPRECATED_MODELS`` the ones headed for retirement (with the end-of-life date the SDK
prints in its own ``DeprecationWarning``). The SDK drops an id once it is retired, so the retired ones
are kept here, dated, from Anthropic's model-deprecations page
(https://platform.claude.com/docs/en/about-claude/model-deprecations) and the release notes
(https://platform.claude.com/docs/en/release-notes/overview). Requests naming them fail with
``404 not_found_error`` on the real API.
"""

from __future__ import annotations

import logging
import re
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Literal

from anthropic._data import DEPRECATED_MODELS
from anthropic.types import Model

log = logging.getLogger(__name__)

Lifecycle = Literal["active", "deprecated", "retired"]


def _sdk_ids() -> tuple[str, ...]:
    literal, _open = typing.get_args(Model)  # Union[Literal[...], str]
    return tuple(typing.get_args(literal))


#: Every id of the installed SDK's ``Model``, in the SDK's order (newest first).
SDK_MODELS: tuple[str, ...] = _sdk_ids()

#: Retired ids and the day they stopped answering (model-deprecations page; the 4.5 Sonnet and 4.1
#: Opus dates also in the TypeScript SDK 1.14 deprecation table). Dated snapshots and aliases both.
RETIRED: dict[str, date] = {
    "claude-sonnet-4-5": date(2026, 11, 30),
    "claude-sonnet-4-5-20250929": date(2026, 11, 30),
    "claude-opus-4-1": date(2026, 8, 5),
    "claude-opus-4-1-20250805": date(2026, 8, 5),
    "claude-opus-4-0": date(2026, 6, 15),
    "claude-opus-4-20250514": date(2026, 6, 15),
    "claude-sonnet-4-0": date(2026, 6, 15),
    "claude-sonnet-4-20250514": date(2026, 6, 15),
    "claude-3-7-sonnet-latest": date(2026, 2, 19),
    "claude-3-7-sonnet-20250219": date(2026, 2, 19),
    "claude-3-5-haiku-latest": date(2026, 2, 19),
    "claude-3-5-haiku-20241022": date(2026, 2, 19),
    # The next three dates were not found in the docs corpus; taken from the deprecations page as
    # remembered. The ids are certainly retired (gone from the SDK and the pricing page).
    "claude-3-haiku-20240307": date(2026, 4, 20),
    "claude-3-opus-latest": date(2026, 1, 5),
    "claude-3-opus-20240229": date(2026, 1, 5),
    "claude-3-5-sonnet-latest": date(2025, 10, 22),
    "claude-3-5-sonnet-20241022": date(2025, 10, 22),
    "claude-3-5-sonnet-20240620": date(2025, 10, 22),
}

_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)")


def retires_on(model: str) -> date | None:
    """The SDK's end-of-life date of a deprecated model (``"January 22nd, 2027"``), else None."""
    text = DEPRECATED_MODELS.get(model)
    if text is None:
        return None
    return datetime.strptime(_ORDINAL.sub(r"\1", text), "%B %d, %Y").date()


def today() -> date:
    """The UTC calendar day: the API retires a model at its end-of-life date whatever our time zone."""
    return datetime.now(UTC).date()


def is_retired(model: str, on: date | None = None) -> bool:
    """In the retired table, or deprecated by the SDK with an end-of-life date that has come.

    The SDK keeps an id listed until its next release, even past its end of life
    (``claude-mythos-preview``: "June 30th, 2026" in SDK 2.15), so the clock decides, not the list.
    """
    if model in RETIRED:
        return True
    ends = retires_on(model)
    return ends is not None and ends <= (on or today())


def lifecycle(model: str, on: date | None = None) -> Lifecycle | None:
    """``active``/``deprecated`` for an SDK id, ``retired`` for a retired one, None when unknown."""
    if is_retired(model, on):
        return "retired"
    if model in DEPRECATED_MODELS:
        return "deprecated"
    return "active" if model in SDK_MODELS else None


def is_current(model: str) -> bool:
    """Listed by the SDK, not deprecated and not retired: fit to be a default."""
    return lifecycle(model) == "active"


class DeprecationNotice:
    """Logs one warning per deprecated model (the first prompt that names it) and counts every prompt."""

    def __init__(self, count: Callable[[str], None]) -> None:
        self._count = count
        self._warned: set[str] = set()

    def seen(self, model: str) -> None:
        if model not in DEPRECATED_MODELS:
            return
        self._count(model)
        if model not in self._warned:
            self._warned.add(model)
            log.warning(
                "model %s is deprecated and retires on %s; migrate to a current model "
                "(https://platform.claude.com/docs/en/about-claude/model-deprecations)",
                model,
                DEPRECATED_MODELS[model],
            )
