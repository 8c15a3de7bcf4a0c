"""Cost on every usage row, computed once, when the row is written.

The usage writer (off the request path) prices each row from the model_price table before
the insert: the row's `created_at` picks the price in force at that moment, so a later price
change never rewrites history and rows already written are never priced again.

The model priced is `model_served` (what upstream says answered, normalised by
pricing.candidate_names), never `model_requested`: an alias or a router's choice may name a
model that did not answer. A served model without a price stays unpriced (cost NULL) rather
than being billed at a guess.
"""
from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from aichat.extensions import db
from aichat.gateway.pricing import Price, PriceBook
from aichat.models import ModelPrice
from aichat.providers.base import Usage
from aichat.runtime import runtime_of

log = logging.getLogger(__name__)


def load_price_book() -> PriceBook:
    """Every row of model_price (history and future rows too) as a PriceBook."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(ModelPrice.model, ModelPrice.input_per_mtok, ModelPrice.cached_input_per_mtok,
                                   ModelPrice.output_per_mtok, ModelPrice.currency, ModelPrice.valid_from,
                                   ModelPrice.above_prompt_tokens)).all()
    return PriceBook(Price(*row) for row in rows)


class PriceCache:
    """A PriceBook read again at most every `refresh` seconds (prices change rarely)."""

    def __init__(self, refresh: float, load=load_price_book):
        self.refresh = refresh
        self._load = load
        self._book: PriceBook | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> PriceBook | None:
        """The book as last loaded, without reading the table (None before the first load)."""
        return self._book

    def book(self) -> PriceBook:
        """The current book; a failed reload keeps the last good one (a first load must succeed)."""
        with self._lock:
            if self._book is None or time.monotonic() - self._loaded_at >= self.refresh:
                try:
                    self._book = self._load()
                except Exception:
                    if self._book is None:
                        raise  # the writer keeps the rows and retries
                    log.warning("reloading model prices failed; using the prices loaded before", exc_info=True)
                self._loaded_at = time.monotonic()
            return self._book


def price_cache() -> PriceCache:
    """The app's price cache, created on first use."""
    runtime = runtime_of()
    if runtime.prices is None:  # two threads may each build one at first: either serves
        runtime.prices = PriceCache(current_app.config["AICHAT_PRICE_REFRESH"])
    return runtime.prices


def price_rows(rows: list[dict]) -> None:
    """Fill `cost` and `currency` of usage rows about to be inserted (inside an app context)."""
    book = price_cache().book()
    for row in rows:
        if "cost" in row:
            continue  # a row that arrives priced keeps its price
        if row.get("provider") == "demo":
            row["cost"], row["currency"] = Decimal(0), None  # the local demo responder costs nothing
            continue
        usage = Usage(prompt_tokens=row.get("prompt_tokens") or 0, completion_tokens=row.get("completion_tokens") or 0,
                      cached_tokens=row.get("cached_tokens") or 0)
        row["cost"], row["currency"] = book.cost(usage, row.get("model_served"), row["created_at"])
