"""Callback delivery's pure core: signing, the URL and address policy, retry decisions."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime

import pytest

from schemas import SourceRecord
from service.callbacks.outcomes import describe, failure, wanted
from service.callbacks.policy import UrlPolicy, address_refusal, check_url, host_allowed
from service.callbacks.retry import Verdict, next_delay, parse_retry_after, status_class, verdict
from service.callbacks.signing import secret_key, signature, signed_headers, webhook_id

# The published Standard Webhooks / Svix example: secret, id, timestamp, body -> signature.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_published_standard_webhooks_example() -> None:
    """A whsec_ secret signs the spec's example message to the spec's signature."""
    assert signature(secret_key(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ("whsec_aGVsbG8=", b"hello"),
        ("plain-text-secret", b"plain-text-secret"),
    ],
)
def test_secret_forms(secret: str, key: bytes) -> None:
    """whsec_ + base64 is decoded; any other text is used as its bytes."""
    assert secret_key(secret) == key


@pytest.mark.parametrize("secret", ["whsec_not base64!", ""])
def test_unusable_secret_is_refused(secret: str) -> None:
    """A broken whsec_ value or an empty secret is a configuration error, not a silent bad signature."""
    with pytest.raises(ValueError, match="CALLBACK_SIGNING_SECRET"):
        secret_key(secret)


def test_signed_headers_carry_id_timestamp_and_signature() -> None:
    """The three Standard Webhooks headers, the timestamp as integer seconds."""
    headers = signed_headers(b"k", "msg_1", 1700000000, b"{}")
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": signature(b"k", "msg_1", 1700000000, b"{}"),
    }


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("completion", "c-1", 3, 1), ("completion", "c-1", 3, 1), True),
        (("completion", "c-1", 3, 1), ("completion", "c-1", 3, 2), False),
        (("completion", "c-1", 3, 1), ("completion", "c-1", 4, 1), False),
        (("completion", "c-1", 3, 1), ("error", "c-1", 3, 1), False),
        (("completion", "c-1", 3, 1), ("completion", "c-2", 3, 1), False),
    ],
)
def test_webhook_id_is_deterministic_per_outcome(
    a: tuple[str, str, int, int], b: tuple[str, str, int, int], same: bool
) -> None:
    """Retries and redeliveries of one outcome share the id; any other outcome gets another."""
    assert (webhook_id(*a) == webhook_id(*b)) is same
    assert webhook_id(*a).startswith("msg_")


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("hooks.acme.example", ("hooks.acme.example",), True),
        ("HOOKS.acme.example.", ("hooks.acme.example",), True),
        ("a.acme.example", ("*.acme.example",), True),
        ("b.a.acme.example", ("*.acme.example",), True),
        ("acme.example", ("*.acme.example",), False),
        ("evilacme.example", ("*.acme.example",), False),
        ("acme.example.evil.test", ("acme.example",), False),
        ("other.example", ("hooks.acme.example", "*.acme.example"), False),
        ("anything", (), False),
    ],
)
def test_host_allow_list(host: str, patterns: tuple[str, ...], allowed: bool) -> None:
    """Exact names match case-insensitively; *.domain matches names below the domain, not the domain."""
    assert host_allowed(host, patterns) is allowed


PROD = UrlPolicy(("hooks.acme.example", "*.partner.example", "127.0.0.1", "169.254.169.254", "10.0.0.8"))
DEV = UrlPolicy(PROD.allowed_hosts, allow_http=True, allow_private=True)


@pytest.mark.parametrize(
    ("url", "policy", "reason"),
    [
        ("https://hooks.acme.example/claude", PROD, None),
        ("https://x.partner.example:8443/h?q=1", PROD, None),
        ("http://hooks.acme.example/claude", PROD, "scheme"),
        ("http://hooks.acme.example/claude", DEV, None),
        ("https://evil.example/claude", PROD, "host_not_allowed"),
        ("https://hooks.acme.example/claude", UrlPolicy(()), "callbacks_off"),
        ("ftp://hooks.acme.example/claude", PROD, "invalid_url"),
        ("https://user:pw@hooks.acme.example/claude", PROD, "invalid_url"),
        ("https://127.0.0.1:9000/h", PROD, "loopback_address"),
        ("https://127.0.0.1:9000/h", DEV, None),
        ("https://10.0.0.8/h", PROD, "private_address"),
        ("https://169.254.169.254/latest/meta-data/", PROD, "metadata_address"),
        ("https://169.254.169.254/latest/meta-data/", DEV, "metadata_address"),
    ],
)
def test_url_policy(url: str, policy: UrlPolicy, reason: str | None) -> None:
    """Scheme, allow-list and literal addresses, before any resolution or request."""
    refusal = check_url(url, policy)
    assert (refusal.reason if refusal else None) == reason


@pytest.mark.parametrize(
    ("address", "allow_private", "reason"),
    [
        ("93.184.216.34", False, None),
        ("2606:2800:220:1:248:1893:25c8:1946", False, None),
        ("127.0.0.1", False, "loopback_address"),
        ("::1", False, "loopback_address"),
        ("10.1.2.3", False, "private_address"),
        ("172.16.0.1", False, "private_address"),
        ("192.168.1.1", False, "private_address"),
        ("100.64.0.1", False, "private_address"),
        ("fd12::1", False, "private_address"),
        ("169.254.10.1", False, "link_local_address"),
        ("fe80::1", False, "link_local_address"),
        ("::ffff:127.0.0.1", False, "loopback_address"),
        ("169.254.169.254", False, "metadata_address"),
        ("fd00:ec2::254", True, "metadata_address"),
        ("0.0.0.0", True, "reserved_address"),
        ("224.0.0.1", True, "reserved_address"),
        ("127.0.0.1", True, None),
        ("10.1.2.3", True, None),
    ],
)
def test_address_policy(address: str, allow_private: bool, reason: str | None) -> None:
    """Resolved addresses: only global unicast unless private ones are allowed; metadata never."""
    refusal = address_refusal(ipaddress.ip_address(address), UrlPolicy(("x",), allow_private=allow_private))
    assert (refusal.reason if refusal else None) == reason


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (410, Verdict.GONE),
        (408, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (301, Verdict.FAILED),
        (307, Verdict.FAILED),
        (400, Verdict.FAILED),
        (401, Verdict.FAILED),
        (404, Verdict.FAILED),
    ],
)
def test_response_verdict(status: int, expected: Verdict) -> None:
    """2xx ends, 410 disables, transient statuses retry, any other answer is final."""
    assert verdict(status) is expected


@pytest.mark.parametrize(("status", "label"), [(None, "none"), (204, "2xx"), (503, "5xx"), (410, "4xx")])
def test_status_class(status: int | None, label: str) -> None:
    """Status classes are the bounded metric label."""
    assert status_class(status) == label


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    """delta-seconds or an HTTP-date; a date in the past means now; garbage is ignored."""
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("attempts", "elapsed", "retry_after", "low", "high"),
    [
        (1, 0.0, None, 0.5, 1.0),  # base 1 s, full-ish jitter in [base/2, base]
        (3, 5.0, None, 2.0, 4.0),  # doubled twice
        (8, 5.0, None, 5.0, 10.0),  # capped at 10 s
        (2, 0.0, 42.0, 42.0, 42.0),  # Retry-After wins, even above the cap
    ],
)
def test_next_delay_backs_off_with_jitter_and_honours_retry_after(
    attempts: int, elapsed: float, retry_after: float | None, low: float, high: float
) -> None:
    """Exponential backoff with jitter, capped; the receiver's Retry-After replaces it."""
    for seed in range(20):
        delay = next_delay(
            attempts, elapsed, max_attempts=10, max_age=3600, base=1.0, cap=10.0, retry_after=retry_after,
            rng=random.Random(seed),
        )  # fmt: skip
        assert delay is not None and low <= delay <= high


@pytest.mark.parametrize(
    ("attempts", "elapsed", "retry_after"),
    [
        (5, 0.0, None),  # attempts used up
        (1, 99.5, None),  # the next attempt would start after max age
        (1, 0.0, 500.0),  # Retry-After beyond max age
    ],
)
def test_next_delay_gives_up(attempts: int, elapsed: float, retry_after: float | None) -> None:
    """No further attempt past CALLBACK_MAX_ATTEMPTS or CALLBACK_MAX_AGE_SECONDS."""
    rng = random.Random(0)
    delay = next_delay(
        attempts, elapsed, max_attempts=5, max_age=100, base=1.0, cap=10.0, retry_after=retry_after, rng=rng
    )
    assert delay is None


COMPLETION = (
    b'{"custom_id":"c-1","generation":2,"attempt":1,"mode":"stream","message":{},'
    b'"timings":{"queued_ms":1,"ttft_ms":2,"duration_ms":3},"cost_usd":null,"attributes":{"t":"a"},'
    b'"callback":{"url":"https://hooks.acme.example/h"}}'
)
WHERE = SourceRecord(topic="claude.completions", partition=0, offset=9)


@pytest.mark.parametrize(
    ("kind", "value", "delivered"),
    [
        ("completion", COMPLETION, True),
        ("completion", COMPLETION.replace(b',"callback":{"url":"https://hooks.acme.example/h"}', b""), False),
        ("completion", COMPLETION.replace(b'"}}', b'","events":["error"]}}'), False),
        ("completion", b"not json", False),
        ("completion", None, False),
    ],
)
def test_which_records_are_delivered(kind: str, value: bytes | None, delivered: bool) -> None:
    """Only events with a callback that asks for their kind."""
    assert (wanted(kind, value, WHERE) is not None) is delivered


def test_failed_delivery_becomes_an_error_event_that_is_never_called_back() -> None:
    """The ErrorEvent names the callback as origin, carries the outcome as original, and no callback."""
    outcome = wanted("completion", COMPLETION, WHERE)
    assert outcome is not None and outcome.body == COMPLETION
    event = failure(outcome, "callback_failed", "gave up", retryable=True)
    assert (event.origin, event.callback, event.error.type) == ("callback", None, "callback_failed")
    assert (event.custom_id, event.generation, event.attempt, event.source) == ("c-1", 2, 1, WHERE)
    assert event.original == COMPLETION.decode()
    assert wanted("error", event.model_dump_json().encode(), WHERE) is None
    again = event.model_copy(update={"callback": outcome.callback})
    assert wanted("error", again.model_dump_json().encode(), WHERE) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.acme.example/h/secret-token?sig=1", "https://hooks.acme.example"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"),
        ("https://u:p@h.example/x", "https://h.example"),
    ],
)
def test_urls_are_shown_without_path_query_or_credentials(url: str, shown: str) -> None:
    """Error messages and logs never repeat a token a user put in the URL path or query."""
    assert describe(url) == shown
