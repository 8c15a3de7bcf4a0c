"""Cost arithmetic, in one place: prices, and what a call's tokens cost (token counts are in tokens.py).

Billing facts the arithmetic follows (each one a bug other gateways shipped):
- `Usage.prompt_tokens` includes `cached_tokens` (OpenAI's prompt_tokens includes
  prompt_tokens_details.cached_tokens; Gemini's promptTokenCount includes
  cachedContentTokenCount), so the cached part is billed once, at the cached rate.
- `Usage.completion_tokens` includes reasoning: OpenAI's completion_tokens already holds
  reasoning_tokens; for Gemini the adapter sets completion = candidates + thoughts. Both are
  billed at the output rate here and never added or subtracted again.
- A price tier (`above_prompt_tokens`) applies to every token of a call whose prompt is
  larger than the threshold (Gemini 2.5 Pro: prompts over 200,000 tokens).
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal

from aichat.providers.base import Usage

MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal(1).scaleb(-10)  # costs are kept to 10 decimal places, like the cost column


# --- prices -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    """A list price per million tokens, in force from `valid_from` (a UTC date) on."""

    model: str
    input_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None  # None: cached input billed as input
    output_per_mtok: Decimal
    currency: str = "USD"
    valid_from: date = date(2000, 1, 1)  # a UTC date
    above_prompt_tokens: int = 0  # tier: applies when prompt_tokens > this

    def applies_to(self, prompt_tokens: int) -> bool:
        """The base tier (0) applies to every call, a higher tier only to prompts above it."""
        return self.above_prompt_tokens == 0 or prompt_tokens > self.above_prompt_tokens

    def cost(self, usage: Usage) -> Decimal:
        """((prompt - cached) * input + cached * cached_input + completion * output) / 1e6."""
        cached = min(max(usage.cached_tokens, 0), max(usage.prompt_tokens, 0))
        uncached = max(usage.prompt_tokens, 0) - cached
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        amount = (uncached * self.input_per_mtok + cached * cached_rate
                  + max(usage.completion_tokens, 0) * self.output_per_mtok) / MILLION
        return amount.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)


# Trailing version stamps that name a snapshot of the same model: -2024-07-18, -0613, -001.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4}|\d{3})$")
# Dated previews and experiments: gemini-2.5-flash-preview-05-20, -preview-09-2025, -exp-03-25.
_DATED_PREVIEW = re.compile(r"-(preview|exp)-\d{2}-\d{2,4}$")


def candidate_names(model: str) -> list[str]:
    """The names a served model is priced under, most specific first.

    Upstreams answer with versioned names. The documented normalisation: the name itself;
    without a `models/` prefix (Gemini); without a trailing snapshot stamp (-2024-07-18,
    -0613, -001); a dated preview without its date (…-preview-05-20 -> …-preview) and then
    without the preview suffix (-> the model itself). Never a loose prefix match: gpt-4o
    never prices gpt-4o-mini, and an exact row for a snapshot always wins.
    """
    name = model.removeprefix("models/")
    names = [model, name]
    dated = _DATED_PREVIEW.search(name)  # first: -preview-09-2025 must not read as a -2025 snapshot
    if dated:
        names.append(name[:dated.start()] + "-" + dated.group(1))
        names.append(name[:dated.start()])
    else:
        names.append(_SNAPSHOT.sub("", name))
    return list(dict.fromkeys(n for n in names if n))


def _utc_day(at: datetime) -> date:
    if at.tzinfo is None:  # naive datetimes are UTC throughout aichat
        return at.date()
    return at.astimezone(timezone.utc).date()


class PriceBook:
    """Prices by model name, tier and date; built once, then read-only and safe to share."""

    def __init__(self, prices: Iterable[Price]):
        # model -> tier threshold -> (sorted valid_from dates, prices in the same order)
        tiers: dict[str, dict[int, list[Price]]] = {}
        for price in prices:
            tiers.setdefault(price.model, {}).setdefault(price.above_prompt_tokens, []).append(price)
        self._tiers: dict[str, dict[int, tuple[list[date], list[Price]]]] = {}
        for model, by_tier in tiers.items():
            self._tiers[model] = {}
            for threshold, rows in by_tier.items():
                rows.sort(key=lambda p: p.valid_from)
                self._tiers[model][threshold] = ([p.valid_from for p in rows], rows)
        self._names: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return sum(len(rows) for by_tier in self._tiers.values() for _, rows in by_tier.values())

    def price_for(self, model: str | None, at: datetime, prompt_tokens: int) -> Price | None:
        """The price of `model` at `at` for a prompt of this size; None when it has none."""
        if not model:
            return None
        names = self._names.get(model)
        if names is None:
            names = self._names[model] = [n for n in candidate_names(model) if n in self._tiers]
        day = _utc_day(at)
        for name in names:
            price = self._in_force(name, day, prompt_tokens)
            if price is not None:
                return price
        return None

    def _in_force(self, name: str, day: date, prompt_tokens: int) -> Price | None:
        """Per tier the row with the greatest valid_from <= day; of those, the highest tier that applies."""
        best = None
        for threshold, (dates, rows) in self._tiers[name].items():
            i = bisect.bisect_right(dates, day)
            if i == 0:
                continue
            price = rows[i - 1]
            if price.applies_to(prompt_tokens) and (best is None or threshold > best.above_prompt_tokens):
                best = price
        return best

    def cost(self, usage: Usage, model: str | None, at: datetime) -> tuple[Decimal | None, str | None]:
        """(cost, currency) of one call; (0, currency or None) without tokens; (None, None) when unpriced."""
        price = self.price_for(model, at, usage.prompt_tokens)
        if usage.prompt_tokens <= 0 and usage.completion_tokens <= 0:
            # Nothing was billed: zero, not "unpriced".
            return Decimal(0), price.currency if price is not None else None
        if price is None:
            return None, None
        return price.cost(usage), price.currency
