"""Every error this service raises on purpose.

    ClaudeKafkaError
    ├── ConfigError            a setting is invalid; start-up stops with one line per problem
    ├── ClaudeError            the Claude API or the stream failed (translated from the SDK)
    │   ├── ClaudeRetryable    worth another attempt (overload, rate limit, cut stream, 5xx)
    │   └── ClaudeFatal        the request itself is wrong (400, 401, 403, 404, 413)
    ├── KafkaError             the broker failed (aiokafka's errors, translated)
    └── CallbackRefused        a callback destination is not allowed; no request is made

SDK and aiokafka exceptions are translated at the adapters; the pipeline only sees these. Which of
``ClaudeRetryable`` / ``ClaudeFatal`` an API error becomes is decided by :func:`is_transient`, the one
table the stream, batch and batch-result paths share.
"""

from __future__ import annotations

from pydantic import ValidationError

TRANSIENT_STATUS = frozenset({408, 409, 429})
"""Statuses worth another attempt (and every 5xx), as the SDK's own ``_should_retry`` decides."""

TRANSIENT_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})
"""Error types worth another attempt where no HTTP status tells (an SSE ``error``, a batch result)."""

NON_TRANSIENT_CODES = frozenset(
    {
        # 429s that another attempt hits again: SDK 2.15 ``EnforcedSpendLimitReachedError`` ("crossed
        # the monthly API usage threshold of its API tier") and ``ContractSpendLimitReachedError``.
        # https://platform.claude.com/docs/en/api/errors: the tier-cap 429 has no ``retry-after``;
        # usage resumes on the 1st of the next month. (``ramp_limit_exceeded`` is a 429 too, but
        # SDK 2.15 says to retry it after ``retry-after``, so it stays transient.)
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        # 409 ``SkillReadBlockedUndecryptableError``: a key state, not a lock; it lasts.
        "skill_read_blocked_undecryptable",
        # These arrive on statuses that are never retried (400, 402) and are listed so that the
        # decision holds wherever the status is lost (an SSE ``error`` event, a batch result).
        "organization_on_hold",
        "linked_organization_billing_unavailable",
        "linked_organization_spend_limit_reached",
    }
)
"""``error.details.error_code`` values that make an otherwise transient error final."""


def is_transient(status: int | None, type: str | None, code: str | None) -> bool:
    """Whether another attempt of a request that failed this way may succeed.

    ``status`` is the HTTP status (``None`` or 200 when the error came inside a 200, as an SSE
    ``error`` event or a batch result), ``type`` the envelope's ``error.type``, ``code`` its
    ``error.details.error_code``. An unknown code counts as its bare status/type, as SDK 2.15 advises.
    """
    if code in NON_TRANSIENT_CODES:
        return False
    if status is not None and status != 200:
        return status in TRANSIENT_STATUS or status >= 500
    return type in TRANSIENT_TYPES


class ClaudeKafkaError(Exception):
    """Base class. ``type`` is the machine-readable cause that ends up in ``ErrorEvent.error.type``."""

    type: str = "internal_error"

    def __init__(self, message: str, *, type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if type is not None:
            self.type = type

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class ConfigError(ClaudeKafkaError):
    type = "config_error"

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class ClaudeError(ClaudeKafkaError):
    type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, type=type)
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        # The API's finer cause, ``error.details.error_code`` (e.g. ``enforced_spend_limit_reached``).
        self.code = code


class ClaudeRetryable(ClaudeError):
    """The attempt failed for a reason that another attempt may not hit."""


class ClaudeFatal(ClaudeError):
    """The API refused the request itself; retrying sends the same refusal."""


class KafkaError(ClaudeKafkaError):
    type = "kafka_error"


class LoopFailed(ClaudeKafkaError):
    """A tool loop cannot go on (its record cannot be written): the prompt gets a ``loop_failed`` error."""

    type = "loop_failed"


class CallbackRefused(ClaudeKafkaError):
    """A callback URL or the address it resolves to is not allowed; ``reason`` is a metric label."""

    type = "callback_refused"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def describe_validation(exc: ValidationError) -> str:
    """One line a user can act on: ``params.max_tokens: Input should be a valid integer; ...``."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "prompt"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
