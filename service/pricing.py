"""Cost of one response from its usage, by the price rows in effect that day. Pure (one warning).

Prices are data: ``prices.json`` beside this module (loaded with ``importlib.resources``, validated by
``PriceFile``) holds, per exact model id, dated rows of USD per million tokens with the docs page each
figure comes from (https://platform.claude.com/docs/en/about-claude/pricing and the model pages). There
is no prefix matching: a model with no row costs ``None`` (logged once per model; the caller counts its
tokens as unpriced), never another model's price. ``PRICES_FILE`` merges a user's file over the shipped
one: its rows replace every shipped row of the models it names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

log = logging.getLogger(__name__)

PER_MTOK = 1_000_000


class Rates(BaseModel):
    """USD per million tokens of each kind of token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write_5m: float = Field(ge=0)
    cache_write_1h: float = Field(ge=0)
    cache_read: float = Field(ge=0)


class Tier(Rates):
    """Rates for a request whose prompt (input + cache reads + cache writes) is above the threshold."""

    above_prompt_tokens: int = Field(ge=1)


class PriceRow(Rates):
    model: str = Field(min_length=1)
    effective_from: date | None = None  # None: since the model's release
    batch_discount: float = Field(ge=0, lt=1)  # share taken off every figure on the Batches API
    tiers: tuple[Tier, ...] = ()
    source: str = Field(min_length=1)  # the docs page the figures come from
    note: str | None = None


class Unpriced(BaseModel):
    """A model known to have no per-token price, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    source: str | None = None


class PriceFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    comment: str | None = None
    prices: tuple[PriceRow, ...] = ()
    unpriced: tuple[Unpriced, ...] = ()

    @model_validator(mode="after")
    def _one_row_per_model_and_day(self) -> PriceFile:
        seen: set[tuple[str, date | None]] = set()
        for row in self.prices:
            key = (row.model, row.effective_from)
            if key in seen:
                raise ValueError(f"two price rows for {row.model} from {row.effective_from or 'release'}")
            seen.add(key)
        both = {row.model for row in self.prices} & {entry.model for entry in self.unpriced}
        if both:
            raise ValueError(f"priced and unpriced at once: {', '.join(sorted(both))}")
        return self

    def merged(self, user: PriceFile) -> PriceFile:
        """``user``'s rows replace every row (priced or unpriced) of the models it names."""
        named = {row.model for row in user.prices} | {entry.model for entry in user.unpriced}
        return PriceFile(
            comment=self.comment,
            prices=(*(r for r in self.prices if r.model not in named), *user.prices),
            unpriced=(*(u for u in self.unpriced if u.model not in named), *user.unpriced),
        )


def shipped_prices() -> PriceFile:
    text = resources.files("service").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceFile.model_validate_json(text)


def read_price_file(path: Path) -> PriceFile:
    """A user's price file; ``ValueError`` with one line saying what is wrong."""
    try:
        return PriceFile.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise ValueError(f"{path}: {where}: {first['msg']}") from None


def cache_writes(usage: Mapping[str, Any]) -> tuple[int, int]:
    """(5-minute, 1-hour) cache-write tokens: ``usage.cache_creation``'s split when the API sent it,
    else all of ``cache_creation_input_tokens`` as 5-minute writes (the API's default TTL)."""
    split = usage.get("cache_creation")
    if isinstance(split, Mapping):
        return int(split.get("ephemeral_5m_input_tokens") or 0), int(
            split.get("ephemeral_1h_input_tokens") or 0
        )
    return int(usage.get("cache_creation_input_tokens") or 0), 0


class PriceTable:
    """The price rows by model, newest first; ``cost_usd`` picks the row in effect on a day."""

    def __init__(self, prices: PriceFile | None = None) -> None:
        prices = prices if prices is not None else shipped_prices()
        by_model: dict[str, list[PriceRow]] = {}
        for row in prices.prices:
            by_model.setdefault(row.model, []).append(row)
        self._rows = {
            model: sorted(rows, key=lambda r: r.effective_from or date.min, reverse=True)
            for model, rows in by_model.items()
        }
        self._unpriced = {entry.model: entry.reason for entry in prices.unpriced}
        self._warned: set[str] = set()

    @classmethod
    def load(cls, prices_file: Path | None = None) -> PriceTable:
        """The shipped prices, with ``prices_file`` (``PRICES_FILE``) merged over them."""
        prices = shipped_prices()
        if prices_file is not None:
            prices = prices.merged(read_price_file(prices_file))
        return cls(prices)

    def models(self) -> set[str]:
        return set(self._rows)

    def unpriced(self) -> dict[str, str]:
        return dict(self._unpriced)

    def row(self, model: str, on: date) -> PriceRow | None:
        """The row of ``model`` in effect on ``on``: the latest that started on or before it."""
        for row in self._rows.get(model, ()):
            if row.effective_from is None or row.effective_from <= on:
                return row
        return None

    def cost_usd(
        self, model: str, usage: Mapping[str, Any], *, batch: bool = False, on: date | None = None
    ) -> float | None:
        """Cost of one response at the prices of ``on`` (default: today, UTC); None when unpriced."""
        row = self.row(model, on or datetime.now(UTC).date())
        if row is None:
            self._warn(model)
            return None
        write_5m, write_1h = cache_writes(usage)
        fresh = int(usage.get("input_tokens") or 0)
        read = int(usage.get("cache_read_input_tokens") or 0)
        prompt = fresh + read + write_5m + write_1h
        rates: Rates = row
        for tier in sorted(row.tiers, key=lambda t: t.above_prompt_tokens):
            if prompt > tier.above_prompt_tokens:
                rates = tier
        total = (
            fresh * rates.input
            + int(usage.get("output_tokens") or 0) * rates.output
            + write_5m * rates.cache_write_5m
            + write_1h * rates.cache_write_1h
            + read * rates.cache_read
        ) / PER_MTOK
        return round(total * ((1 - row.batch_discount) if batch else 1.0), 10)

    def batch_saving_usd(
        self, model: str, usage: Mapping[str, Any], *, on: date | None = None
    ) -> float | None:
        """What the batch discount saved on one response: its standard price minus its batch price
        (``None`` when unpriced, like ``cost_usd``)."""
        standard = self.cost_usd(model, usage, on=on)
        batched = self.cost_usd(model, usage, batch=True, on=on)
        if standard is None or batched is None:
            return None
        return round(standard - batched, 10)

    def _warn(self, model: str) -> None:
        if model in self._warned:
            return
        self._warned.add(model)
        reason = self._unpriced.get(model)
        if reason is not None:
            log.warning("model %s is unpriced (%s): cost_usd is null", model, reason)
        else:
            log.warning("no price for model %s: cost_usd is null; add a row with PRICES_FILE", model)
