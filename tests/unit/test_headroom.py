"""The API's rate-limit headroom: headers read, new requests held until the reset, the emulator's org limit."""

from __future__ import annotations

import pytest

from service.emulator.errors import ApiError
from service.emulator.orglimit import OrgLimits, rfc3339
from service.pipeline.headroom import Headroom, ServerLimits, read_headroom

T0 = 1_800_000_000.0


def _headers(kind: str, limit: str, remaining: str, reset: str) -> dict[str, str]:
    prefix = f"anthropic-ratelimit-{kind}-"
    return {prefix + "limit": limit, prefix + "remaining": remaining, prefix + "reset": reset}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, {}),
        (
            _headers("requests", "50", "49", "2027-01-15T08:00:30Z"),
            {"requests": Headroom("requests", 50, 49, 1800000030.0)},
        ),
        (  # fractional seconds and an explicit offset are RFC 3339 too
            _headers("input-tokens", "30000", "0", "2027-01-15T09:00:30.500+01:00"),
            {"input-tokens": Headroom("input-tokens", 30000, 0, 1800000030.5)},
        ),
        (_headers("requests", "50", "many", "2027-01-15T08:00:30Z"), {}),  # malformed: ignored
        (_headers("requests", "50", "49", "soon"), {}),
        ({"anthropic-ratelimit-requests-limit": "50"}, {}),  # incomplete
    ],
)
def test_headroom_headers_are_read_per_kind(headers: dict[str, str], expected: dict[str, Headroom]) -> None:
    """limit/remaining/reset per kind; anything malformed or incomplete is ignored, never raised."""
    assert read_headroom(headers) == expected


@pytest.mark.parametrize(
    ("remaining", "estimate", "at", "wait"),
    [
        ({"requests": 5}, 100, T0, 0.0),
        ({"requests": 0}, 100, T0, 30.0),  # no request left: until the reset
        ({"requests": 0}, 100, T0 + 10, 20.0),
        ({"requests": 0}, 100, T0 + 31, 0.0),  # past the reset: the window is assumed full again
        ({"requests": 5, "input-tokens": 99}, 100, T0, 30.0),  # not enough input tokens for this one
        ({"requests": 5, "input-tokens": 100}, 100, T0, 0.0),
    ],
)
def test_a_request_waits_for_the_reset_when_the_headroom_is_short(
    remaining: dict[str, int], estimate: int, at: float, wait: float
) -> None:
    """Fewer requests or input tokens left than needed: wait until the reported reset."""
    limits = ServerLimits()
    limits.observe({k: Headroom(k, 1000, v, T0 + 30) for k, v in remaining.items()})
    assert limits.reserve(estimate, at) == pytest.approx(wait)


def test_headroom_is_spent_down_locally_and_paced_until_the_reset() -> None:
    """Three requests left for 30 s: one every 10 s, then none until the reset; a fresh answer
    replaces the local count."""
    limits = ServerLimits()
    limits.observe({"requests": Headroom("requests", 50, 3, T0 + 30)})
    assert limits.reserve(10, T0) == 0.0
    assert limits.reserve(10, T0) == pytest.approx(10.0)  # paced: 30 s over 3 requests
    assert limits.reserve(10, T0 + 10) == 0.0
    assert limits.reserve(10, T0 + 20) == 0.0
    assert limits.reserve(10, T0 + 25) == pytest.approx(5.0)  # none left: until the reset
    limits.observe({"requests": Headroom("requests", 50, 40, T0 + 30)})  # another answer: more left
    assert limits.reserve(10, T0 + 30 - 0.1) == 0.0


def test_the_emulator_counts_an_organisation_limit_per_window() -> None:
    """Shared counts: the limit's requests pass with falling remaining, the next is a 429 with
    retry-after to the reset, and a new window starts full."""
    org = OrgLimits(requests=2, input_tokens=None, window=10.0)
    first = org.take(5, T0 + 1)
    assert first["anthropic-ratelimit-requests-remaining"] == "1"
    assert first["anthropic-ratelimit-requests-reset"] == rfc3339(T0 + 10) == "2027-01-15T08:00:10.000Z"
    assert org.take(5, T0 + 2)["anthropic-ratelimit-requests-remaining"] == "0"
    with pytest.raises(ApiError) as refused:
        org.take(5, T0 + 3.5)
    assert refused.value.status == 429 and refused.value.type == "rate_limit_error"
    assert refused.value.headers["retry-after"] == "7" and org.refused == 1
    assert org.take(5, T0 + 10)["anthropic-ratelimit-requests-remaining"] == "1"
    assert read_headroom(first)["requests"] == Headroom("requests", 2, 1, T0 + 10)  # our reader agrees
