"""The organisation circuit breaker: which failures open it, when it probes, what closes it."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Gauge

from service.breaker import OVERLOAD, Breaker, Policy, organisation_failure
from service.errors import ClaudeError, ClaudeFatal, ClaudeRetryable
from service.pipeline.circuit import Circuit, Verdict

POLICY = Policy(
    backoff=1.0, backoff_max=8.0, overload_share=0.5, overload_window=10.0, overload_min_attempts=4
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ClaudeFatal("invalid x-api-key", type="authentication_error", status=401), "authentication"),
        (ClaudeFatal("no", type="permission_error", status=403), "permission"),
        (ClaudeFatal("pay", type="billing_error", status=402), "billing"),
        (
            ClaudeRetryable(
                "limit", type="rate_limit_error", status=429, code="enforced_spend_limit_reached"
            ),
            "spend_limit",
        ),
        (
            ClaudeRetryable(
                "limit", type="rate_limit_error", status=429, code="contract_spend_limit_reached"
            ),
            "spend_limit",
        ),
        (
            ClaudeFatal("held", type="invalid_request_error", status=400, code="organization_on_hold"),
            "organization_on_hold",
        ),
        (ClaudeRetryable("Overloaded", type="overloaded_error", status=529), OVERLOAD),
        (ClaudeRetryable("Overloaded", type="overloaded_error", status=200), OVERLOAD),  # SSE error event
        (ClaudeRetryable("slow down", type="rate_limit_error", status=429), None),  # an ordinary rate limit
        (ClaudeFatal("bad", type="invalid_request_error", status=400), None),
        (ClaudeFatal("bad", type="invalid_request_error", status=400, code="something_new"), None),
        (ClaudeRetryable("cut", type="stream_interrupted"), None),
        (ClaudeRetryable("oops", type="api_error", status=500), None),
    ],
)
def test_organisation_failures_are_told_from_request_failures(error: ClaudeError, reason: str | None) -> None:
    """401/402/403, spend-limit and on-hold codes name an organisation reason; request errors do not."""
    assert organisation_failure(error) == reason


def test_one_organisation_failure_opens_it_and_only_a_probe_closes_it() -> None:
    """Open on the first 401; no attempt before the backoff; an in-flight success proves nothing; the
    probe's success closes it."""
    breaker = Breaker(POLICY)
    change = breaker.record("authentication", now=0.0)
    assert change is not None and change.tripped and change.reason == "authentication"
    assert not breaker.allow(0.5) and breaker.wait(0.5) == pytest.approx(0.5)
    assert breaker.record(None, 0.6) is None and breaker.is_open  # started before it opened
    assert breaker.allow(1.0)  # the probe
    assert not breaker.allow(1.1)  # only one
    change = breaker.record(None, 1.2)
    assert change is not None and change.reason is None and not change.tripped
    assert not breaker.is_open and breaker.allow(1.2)


@pytest.mark.parametrize(
    ("failed_probes", "next_probe_after"),
    [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 8.0), (6, 8.0)],  # doubling, capped at backoff_max
)
def test_failed_probes_grow_the_backoff_up_to_the_cap(failed_probes: int, next_probe_after: float) -> None:
    """Each failed probe doubles the wait before the next one, never beyond the cap."""
    breaker = Breaker(POLICY)
    breaker.record("spend_limit", 0.0)
    now = 0.0
    for _ in range(failed_probes):
        now = breaker.probe_at
        assert breaker.allow(now)
        assert breaker.record("spend_limit", now) is None  # still open: no new change, no new report
    assert breaker.probe_at - now == pytest.approx(next_probe_after)


def test_late_failures_while_open_do_not_grow_the_backoff() -> None:
    """Attempts already in flight when it opened fail too; without a probe out they change nothing."""
    breaker = Breaker(POLICY)
    breaker.record("authentication", 0.0)
    for i in range(50):
        assert breaker.record("authentication", 0.01 * i) is None
    assert breaker.probe_at == pytest.approx(1.0)


def test_a_probe_that_never_reports_lets_another_through_a_backoff_later() -> None:
    """A probe cancelled by a rebalance cannot wedge the breaker open."""
    breaker = Breaker(POLICY)
    breaker.record("authentication", 0.0)
    assert breaker.allow(1.0)
    assert not breaker.allow(1.5)
    assert breaker.allow(2.0)


@pytest.mark.parametrize(
    ("outcomes", "opens"),
    [
        ([True, True, True], False),  # fewer attempts than overload_min_attempts
        ([False, True, False, True], True),  # half of 4: the share is reached (checked on a 529)
        ([True, False, False, False, True], False),  # 2 of 5
        ([False] * 10 + [True] * 9, False),  # 9 of 19
        ([False] * 10 + [True] * 10, True),
        ([False] * 40 + [True] * 10, True),  # only the last 20 attempts count: old successes do not dilute
    ],
)
def test_a_sustained_share_of_overloads_opens_it(outcomes: list[bool], opens: bool) -> None:
    """529s open it only once they are at least ``overload_share`` of the window's attempts."""
    breaker = Breaker(POLICY)
    for i, overloaded in enumerate(outcomes):
        breaker.record(OVERLOAD if overloaded else None, now=0.1 * i)
    assert breaker.is_open is opens


def test_overloads_outside_the_window_are_forgotten() -> None:
    """Only the window's attempts count: old 529s do not add to a later share."""
    breaker = Breaker(POLICY)
    for i in range(3):
        breaker.record(OVERLOAD, float(i))
    for i in range(3):
        breaker.record(None, 20.0 + i)
    breaker.record(OVERLOAD, 23.0)
    assert not breaker.is_open


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _circuit(enabled: bool = True) -> tuple[Circuit, Gauge, FakeClock]:
    gauge = Gauge("circuit_open", "doc", ("reason",), registry=CollectorRegistry())
    clock = FakeClock()
    return Circuit(POLICY, gauge, enabled=enabled, clock=clock), gauge, clock


REVOKED = ClaudeFatal("invalid x-api-key", type="authentication_error", status=401)
SPEND = ClaudeRetryable("limit", type="rate_limit_error", status=429, code="enforced_spend_limit_reached")
OVERLOADED = ClaudeRetryable("Overloaded", type="overloaded_error", status=529)


@pytest.mark.parametrize(
    ("first", "then", "verdicts"),
    [
        (REVOKED, REVOKED, (Verdict.REPORT, Verdict.HOLD)),  # only the tripping prompt is reported
        (SPEND, SPEND, (Verdict.REPORT, Verdict.HOLD)),
        (REVOKED, OVERLOADED, (Verdict.REPORT, Verdict.HOLD)),
        (
            ClaudeFatal("bad", type="invalid_request_error", status=400),
            REVOKED,
            (Verdict.NONE, Verdict.REPORT),
        ),
    ],
)
def test_the_circuit_reports_the_tripping_failure_and_holds_the_rest(
    first: ClaudeError, then: ClaudeError, verdicts: tuple[Verdict, Verdict]
) -> None:
    """What a prompt does after a failed attempt: report it, hold it, or follow its own retry rules."""
    circuit, _, _ = _circuit()
    assert (circuit.failed(first), circuit.failed(then)) == verdicts


@pytest.mark.parametrize(
    ("failure", "probe", "verdict"),
    [
        (OVERLOADED, True, Verdict.NONE),  # a 529 may be this request's own: its attempts count
        (OVERLOADED, False, Verdict.HOLD),  # in flight when it opened: says nothing about the prompt
        (REVOKED, True, Verdict.HOLD),  # held until an operator fixes the key
    ],
)
def test_a_failed_overload_probe_counts_against_its_prompt(
    failure: ClaudeError, probe: bool, verdict: Verdict
) -> None:
    """While open, a failed probe of an overload follows its prompt's retry rules; the rest are held."""
    circuit, _, _ = _circuit()
    circuit.failed(REVOKED if failure is REVOKED else OVERLOADED)
    for _ in range(20):  # enough 529s to open the overload circuit (or keep the revoked one open)
        circuit.failed(failure)
    assert circuit.open_reason is not None
    assert circuit.failed(failure, probe=probe) is verdict


async def test_permit_says_which_attempt_is_the_probe() -> None:
    """permit() is True for the one attempt let through an open circuit, False when it is closed."""
    circuit, _, clock = _circuit()
    assert await circuit.permit() is False
    circuit.failed(REVOKED)
    clock.now = 1.0
    assert await asyncio.wait_for(circuit.permit(), 2.0) is True


def test_a_disabled_circuit_never_holds() -> None:
    """CIRCUIT_BREAKER=false: every failure follows the prompt's own retry rules."""
    circuit, _, _ = _circuit(enabled=False)
    assert circuit.failed(REVOKED) is Verdict.NONE and circuit.failed(REVOKED) is Verdict.NONE
    assert circuit.open_reason is None and circuit.accepting()


async def test_waiting_attempts_start_one_probe_then_all_once_it_closes() -> None:
    """While open, permit() holds every attempt; after the backoff one passes; its success frees the rest."""
    circuit, gauge, clock = _circuit()
    circuit.failed(REVOKED)
    assert gauge.labels("authentication")._value.get() == 1 and circuit.open_reason == "authentication"
    assert not circuit.accepting()
    waiters = [asyncio.create_task(circuit.permit()) for _ in range(5)]
    await asyncio.sleep(0)
    assert circuit.waiting == 5 and not any(w.done() for w in waiters)
    clock.now = 1.0
    done, pending = await asyncio.wait(waiters, timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1 and len(pending) == 4  # the probe
    circuit.succeeded()
    await asyncio.wait_for(asyncio.gather(*pending), 2.0)
    assert circuit.open_reason is None and gauge.labels("authentication")._value.get() == 0


def test_with_nobody_waiting_a_due_probe_lets_the_consumer_fetch() -> None:
    """When no held prompt can be the probe, the workers may fetch one once the probe is due."""
    circuit, _, clock = _circuit()
    circuit.failed(REVOKED)
    assert not circuit.accepting()
    clock.now = 1.0
    assert circuit.accepting()
