"""Emulator configuration: one frozen record, built once (CLI or test) and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.models import SDK_MODELS, is_retired

MB = 1024 * 1024

#: Model ids accepted by default: exactly the installed SDK's ``Model`` ids (service/models.py). Retired
#: ids are refused with 404 whatever the allow-list says, as on the real API.
DEFAULT_MODELS: tuple[str, ...] = SDK_MODELS


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRates:
    """Probabilities (0..1) of injecting each fault into a ``POST /v1/messages`` request.

    Rates are drawn from the emulator's seeded RNG, so a run with the same seed and the same request
    order injects the same faults. Per-request directives (see ``faults.py``) take precedence.
    """

    status_529: float = 0.0
    status_429: float = 0.0
    status_500: float = 0.0
    drop: float = 0.0  # streams only: abort the chunked body after a few events
    sse_error: float = 0.0  # streams only: ``event: error`` (overloaded_error) after a few events
    slow_first_token: float = 0.0  # add ``slow_first_token_ms`` before the first content delta

    def any(self) -> bool:
        return any(
            rate > 0
            for rate in (
                self.status_529,
                self.status_429,
                self.status_500,
                self.drop,
                self.sse_error,
                self.slow_first_token,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """Everything the emulator can be told. All durations are milliseconds unless named otherwise.

    ``output_tokens=None`` varies the answer length deterministically per request (20..300 tokens);
    an int fixes it (benchmarks). ``tokens_per_delta=None`` varies 1..3 tokens per text delta.
    ``models=None`` (or empty) accepts any model id. ``public_base_url=None`` derives absolute URLs
    (batch ``results_url``) from the request's ``Host`` header.
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0 = let the OS pick a free port; read it back from ``Emulator.base_url``
    seed: int = 0
    ttft_ms: float = 0.0
    tokens_per_second: float = 0.0  # 0 = no pacing at all
    output_tokens: int | None = None
    tokens_per_delta: int | None = None
    ping_interval_ms: float = 5000.0  # only matters when paced; a ping always follows message_start
    models: tuple[str, ...] | None = DEFAULT_MODELS
    max_body_bytes: int = 32 * MB
    batch_time_scale: float = 1.0
    batch_max_requests: int = 100_000
    batch_max_bytes: int = 256 * MB
    # Share of batch requests (0..1) that end ``errored`` / ``expired``, drawn per custom_id from
    # ``seed``; ``emu:batch=...`` directives in ``metadata.user_id`` take precedence (batch_store.py).
    batch_errored_rate: float = 0.0
    batch_expired_rate: float = 0.0
    # HTTP statuses answered, in order, to the first batch creates (e.g. ``(529, 429)``): the create
    # path's retries, end to end. A 429 carries ``retry-after: rate_limit_retry_after_s``.
    batch_create_failures: tuple[int, ...] = ()
    faults: FaultRates = field(default_factory=FaultRates)
    slow_first_token_ms: float = 2000.0  # extra first-token delay of the rate-based slow fault
    rate_limit_retry_after_s: float = 1.0  # ``retry-after`` of rate-based 429s
    public_base_url: str | None = None
    request_log_size: int = 10_000
    require_auth: bool = True
    # An organisation limit shared by every client (orglimit.py); None = not enforced.
    org_requests_limit: int | None = None
    org_input_tokens_limit: int | None = None
    org_limit_window_s: float = 60.0

    def accepts_model(self, model: str) -> bool:
        return not is_retired(model) and (not self.models or model in self.models)
