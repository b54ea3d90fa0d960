"""Today's models as the service sees them: a report, not a timing bench.

For every id of the installed SDK's ``anthropic.types.Model`` and every retired id: its lifecycle on
today's date, what the emulator answers to a real SDK call naming it, and its price row; then the cost
of one reference prompt per priced model, by hand from the row beside ``PriceTable.cost_usd`` (what the
service puts in ``cost_usd``). ``python -m bench.models_today`` prints Markdown.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import anthropic

from service.emulator import EmulatorConfig
from service.emulator.server import EmulatorThread
from service.models import RETIRED, SDK_MODELS, lifecycle
from service.pricing import PriceTable

# One reference prompt: fresh input, output, 5-minute and 1-hour cache writes, cache reads.
USAGE = {
    "input_tokens": 1200,
    "output_tokens": 800,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 3000,
}


def _answer(client: anthropic.Anthropic, model: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK warns for deprecated ids
            client.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    except anthropic.APIStatusError as exc:
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        return f"{exc.status_code} {error.get('type', '')}"
    return "200"


def main() -> None:
    today = datetime.now(UTC).date()
    prices = PriceTable()
    with EmulatorThread(EmulatorConfig(seed=1)) as emulator:
        client = anthropic.Anthropic(base_url=emulator.base_url, api_key="emulator", max_retries=0)
        print(f"Models on {today} (anthropic {anthropic.__version__})\n")
        print(
            "| model | lifecycle | emulator | input | output | 5m write | 1h write | cache read | batch "
            "| source |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
        for model in (*SDK_MODELS, *RETIRED):
            row = prices.row(model, today)
            figures = (
                f"{row.input:g} | {row.output:g} | {row.cache_write_5m:g} | {row.cache_write_1h:g} | "
                f"{row.cache_read:g} | {row.batch_discount:.0%} | {row.source}"
                if row
                else " | ".join(["—"] * 6) + f" | {prices.unpriced().get(model, 'no row')}"
            )
            print(f"| `{model}` | {lifecycle(model, today)} | {_answer(client, model)} | {figures} |")
    fresh, out, w5, w1, read = 1200, 800, 2000, 1000, 3000
    print(f"\nOne prompt: {fresh} input, {out} output, {w5} 5m write, {w1} 1h write, {read} cache read\n")
    print("| model | by hand (USD) | service cost_usd | batch cost_usd |")
    print("|---|---:|---:|---:|")
    for model in SDK_MODELS:
        row = prices.row(model, today)
        if row is None or lifecycle(model, today) == "retired":
            continue
        hand = (
            fresh * row.input + out * row.output + w5 * row.cache_write_5m + w1 * row.cache_write_1h
        ) / 1e6 + read * row.cache_read / 1e6
        service = prices.cost_usd(model, USAGE, on=today)
        batch = prices.cost_usd(model, USAGE, batch=True, on=today)
        print(f"| `{model}` | {hand:.6f} | {service:.6f} | {batch:.6f} |")


if __name__ == "__main__":
    main()
