"""Cost estimates from token usage. Pure.

Prices are USD per million tokens (input, output), matched on the longest model-id prefix so dated ids
(``claude-sonnet-4-5-20250929``) find their family. Cache writes cost 1.25x input, cache reads 0.1x;
the Message Batches API costs half. ``MODEL_PRICES`` (JSON) adds or overrides entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
}
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1
BATCH_FACTOR = 0.5


class PriceTable:
    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None) -> None:
        merged = {**DEFAULT_PRICES, **(overrides or {})}
        # Longest prefix first, so "claude-opus-4-1" wins over "claude-opus-4".
        self._entries = sorted(merged.items(), key=lambda item: len(item[0]), reverse=True)
        self._cache: dict[str, tuple[float, float] | None] = {}

    def lookup(self, model: str) -> tuple[float, float] | None:
        if model not in self._cache:
            self._cache[model] = next((p for prefix, p in self._entries if model.startswith(prefix)), None)
        return self._cache[model]

    def cost_usd(self, model: str, usage: Mapping[str, Any], *, batch: bool = False) -> float | None:
        """Estimated cost of one response, or None for a model with no known price."""
        price = self.lookup(model)
        if price is None:
            return None
        per_input, per_output = price[0] / 1e6, price[1] / 1e6
        total = (
            (usage.get("input_tokens") or 0) * per_input
            + (usage.get("output_tokens") or 0) * per_output
            + (usage.get("cache_creation_input_tokens") or 0) * per_input * CACHE_WRITE_FACTOR
            + (usage.get("cache_read_input_tokens") or 0) * per_input * CACHE_READ_FACTOR
        )
        return round(total * (BATCH_FACTOR if batch else 1.0), 10)
