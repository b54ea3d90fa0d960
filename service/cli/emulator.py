"""``claude-kafka emulator``: the Anthropic API emulator in the foreground."""

from __future__ import annotations

import click

from service.cli import main

_FAULT_KINDS = {
    "529": "status_529",
    "429": "status_429",
    "500": "status_500",
    "drop": "drop",
    "sse_error": "sse_error",
    "slow": "slow_first_token",
}


def _parse_fault_rates(values: tuple[str, ...]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for value in values:
        kind, sep, raw = value.partition("=")
        if not sep or kind not in _FAULT_KINDS:
            raise click.BadParameter(
                f"expected KIND=RATE with KIND in {', '.join(_FAULT_KINDS)}; got {value!r}"
            )
        try:
            rate = float(raw)
        except ValueError:
            raise click.BadParameter(f"rate must be a number: {value!r}") from None
        if not 0.0 <= rate <= 1.0:
            raise click.BadParameter(f"rate must be within 0..1: {value!r}")
        rates[_FAULT_KINDS[kind]] = rate
    return rates


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, help="Port (0 picks a free one).")
@click.option("--ttft-ms", default=0.0, show_default=True, help="Delay before the first content delta.")
@click.option("--tokens-per-second", default=0.0, show_default=True, help="Output pace; 0 = no pacing.")
@click.option("--seed", default=0, show_default=True, help="Seed for content and fault draws.")
@click.option("--output-tokens", type=int, default=None, help="Fix every answer's length (default: 20..300).")
@click.option(
    "--batch-time-scale", default=1.0, show_default=True, help="Multiplier on batch processing time."
)
@click.option(
    "--fault-rate",
    "fault_rates",
    multiple=True,
    metavar="KIND=RATE",
    help="Inject a fault with this probability; KIND is 529, 429, 500, drop, sse_error or slow. Repeatable.",
)
@click.option(
    "--batch-create-failures",
    default="",
    metavar="STATUS,...",
    help="Answer the first batch creates with these HTTP statuses, in order (e.g. 529,429).",
)
@click.option("--models", default=None, help="Comma-separated model allow-list; '*' accepts any model.")
@click.option("--public-url", default=None, help="Base URL clients reach us at (for batch results_url).")
@click.option("--no-auth", is_flag=True, help="Accept requests without x-api-key or Authorization.")
@click.option(
    "--org-requests-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Requests per --org-limit-window-s for all clients together (anthropic-ratelimit-* headers, 429).",
)
@click.option(
    "--org-limit-window-s",
    type=click.FloatRange(min=0.01),
    default=60.0,
    show_default=True,
    help="Window of the organisation limit.",
)
def emulator(
    *,
    host: str,
    port: int,
    ttft_ms: float,
    tokens_per_second: float,
    seed: int,
    output_tokens: int | None,
    batch_time_scale: float,
    fault_rates: tuple[str, ...],
    batch_create_failures: str,
    models: str | None,
    public_url: str | None,
    no_auth: bool,
    org_requests_limit: int | None,
    org_limit_window_s: float,
) -> None:
    """Run the Anthropic API emulator (Messages, Models, Batches) until Ctrl-C or SIGTERM.

    Point the SDK at it with ANTHROPIC_BASE_URL=http://HOST:PORT and any API key. Per-request
    faults ride in metadata.user_id or the x-emulator-fault header, e.g. emu:status=529;times=1.

    \b
    Example:
      claude-kafka emulator --port 8765 --ttft-ms 300 --tokens-per-second 80 \\
          --fault-rate 529=0.05 --fault-rate drop=0.01
    """
    from service.emulator import DEFAULT_MODELS, Emulator, EmulatorConfig, FaultRates, run

    allow: tuple[str, ...] | None = DEFAULT_MODELS
    if models is not None:
        allow = None if models.strip() == "*" else tuple(m.strip() for m in models.split(",") if m.strip())
    config = EmulatorConfig(
        host=host,
        port=port,
        ttft_ms=ttft_ms,
        tokens_per_second=tokens_per_second,
        seed=seed,
        output_tokens=output_tokens,
        batch_time_scale=batch_time_scale,
        faults=FaultRates(**_parse_fault_rates(fault_rates)),
        batch_create_failures=_parse_statuses(batch_create_failures),
        models=allow,
        public_base_url=public_url,
        require_auth=not no_auth,
        org_requests_limit=org_requests_limit,
        org_limit_window_s=org_limit_window_s,
    )

    def announce(emu: Emulator) -> None:
        click.echo(f"Anthropic API emulator listening on {emu.base_url} (Ctrl-C stops)", err=False)

    run(config, on_start=announce)
    click.echo("emulator stopped")


def _parse_statuses(text: str) -> tuple[int, ...]:
    try:
        statuses = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected HTTP statuses like 529,429, got {text!r}") from None
    if any(not 400 <= status <= 599 for status in statuses):
        raise click.BadParameter(f"expected HTTP error statuses (400..599), got {text!r}")
    return statuses
