"""Every error this service raises on purpose.

    ClaudeKafkaError
    ├── ConfigError            a setting is invalid; start-up stops with one line per problem
    ├── ClaudeError            the Claude API or the stream failed (translated from the SDK)
    │   ├── ClaudeRetryable    worth another attempt (overload, rate limit, cut stream, 5xx)
    │   └── ClaudeFatal        the request itself is wrong (400, 401, 403, 404, 413)
    ├── KafkaError             the broker failed (translated from aiokafka)
    └── CallbackRefused        a callback destination is not allowed; no request is made

SDK and aiokafka exceptions are translated at the adapters; the pipeline only sees these.
"""

from __future__ import annotations


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


class CallbackRefused(ClaudeKafkaError):
    """A callback URL or the address it resolves to is not allowed; ``reason`` is a metric label."""

    type = "callback_refused"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
