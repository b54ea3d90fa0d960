"""Per-request fates in a batch: the emu:batch directive grammar and seeded rate draws."""

from __future__ import annotations

import pytest

from service.emulator.batch_plan import DirectiveError, plan_request
from service.emulator.batch_store import Plan

S, E, C, X = Plan.SUCCEED, Plan.ERROR, Plan.CANCEL, Plan.EXPIRE
IRE = "invalid_request_error"


@pytest.mark.parametrize(
    ("user_id", "rates", "expected"),
    [
        (None, {}, (S, IRE, None)),
        ("plain-user", {}, (S, IRE, None)),
        ("emu:batch=errored", {}, (E, IRE, None)),
        ("emu:batch=errored;error=api_error", {}, (E, "api_error", None)),
        ("emu:batch=errored;error=overloaded_error;message=busy", {}, (E, "overloaded_error", "busy")),
        ("emu:batch=expired", {}, (X, IRE, None)),
        ("emu:batch=canceled", {}, (C, IRE, None)),
        ("user-7 emu:batch=expired", {}, (X, IRE, None)),
        ("emu:status=529", {}, (S, IRE, None)),
        ("emu:status=529;batch=errored", {}, (E, IRE, None)),
        ("emu:batch=succeeded", {"errored_rate": 1.0}, (S, IRE, None)),
        (None, {"errored_rate": 1.0}, (E, "api_error", None)),
        (None, {"expired_rate": 1.0}, (X, IRE, None)),
    ],
)
def test_directives_win_over_rates(user_id, rates, expected):
    """emu:batch=... in metadata.user_id decides a request's fate; otherwise the rates do."""
    planned = plan_request("r1", b"{}", user_id, seed=0, **rates)
    assert (planned.plan, planned.error_type, planned.error_message) == expected


@pytest.mark.parametrize("user_id", ["emu:batch=erored", "emu:batch=errored;error=Bad-Type", "emu:batch="])
def test_malformed_batch_directives_are_refused(user_id):
    """A typo in a batch directive raises instead of silently succeeding."""
    with pytest.raises(DirectiveError):
        plan_request("r1", b"{}", user_id, seed=0)


def test_rate_draws_are_deterministic_per_seed_and_custom_id():
    """The same seed and custom_id always draw the same fate, and the rate is roughly honoured."""
    ids = [f"r{i}" for i in range(2000)]
    first = [plan_request(c, b"{}", None, seed=7, errored_rate=0.25).plan for c in ids]
    again = [plan_request(c, b"{}", None, seed=7, errored_rate=0.25).plan for c in ids]
    other_seed = [plan_request(c, b"{}", None, seed=8, errored_rate=0.25).plan for c in ids]
    assert first == again
    assert first != other_seed
    assert 400 < first.count(E) < 600
