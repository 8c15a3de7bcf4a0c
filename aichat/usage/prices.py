"""The model price table: validating, listing, setting, importing and exporting prices.

Every amount is parsed from its text as a Decimal (never through float). A price row is
keyed by (model, valid_from, above_prompt_tokens): setting the same key again updates it.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from sqlalchemy import select

from aichat.extensions import db
from aichat.gateway.pricing import candidate_names
from aichat.models import ModelPrice

FIELDS = ("model", "input_per_mtok", "cached_input_per_mtok", "output_per_mtok", "currency", "valid_from",
          "above_prompt_tokens", "source")
REQUIRED = ("model", "input_per_mtok", "output_per_mtok")
AMOUNT_PLACES = 6  # model_price stores per-million prices to 6 decimal places
MAX_AMOUNT = Decimal(10) ** 12  # NUMERIC(18, 6) holds 12 digits before the point
_CURRENCY = re.compile(r"[A-Z]{3}")


class PriceError(ValueError):
    """A price that cannot be stored; the message is meant for the operator."""


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _amount(field: str, value: Any, *, optional: bool = False) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise PriceError(f"{field} is required")
    if isinstance(value, (float, bool)):
        raise PriceError(f"{field}: give the amount as text or an exact number, not {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise PriceError(f"{field}: {value!r} is not a number") from None
    if not amount.is_finite():
        raise PriceError(f"{field}: {value!r} is not a number")
    if amount < 0:
        raise PriceError(f"{field}: {value} is negative")
    if amount >= MAX_AMOUNT:
        raise PriceError(f"{field}: {value} is too large")
    if amount != amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
        raise PriceError(f"{field}: {value} has more than {AMOUNT_PLACES} decimal places")
    return amount


def _day(value: Any) -> date:
    if value is None or (isinstance(value, str) and not value.strip()):
        return _today()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise PriceError(f"valid_from: {value!r} is not a date (YYYY-MM-DD)")


def _tokens(value: Any) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
        raise PriceError(f"above_prompt_tokens: {value!r} is not a whole number of tokens (0 or more)")
    return int(text)


def parse_price(raw: Mapping[str, Any]) -> dict:
    """A validated price row from text fields (CLI options, a CSV line, a JSON object)."""
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise PriceError(f"unknown field(s): {', '.join(sorted(unknown))}")
    model = str(raw.get("model") or "").strip()
    if not model:
        raise PriceError("model is required")
    if len(model) > 128:
        raise PriceError("model: at most 128 characters")
    currency = str(raw.get("currency") or "USD").strip()
    if not _CURRENCY.fullmatch(currency):
        raise PriceError(f"currency: {currency!r} is not a currency code (three letters A-Z, e.g. USD)")
    source = str(raw.get("source") or "").strip()
    if len(source) > 255:
        raise PriceError("source: at most 255 characters")
    return {
        "model": model,
        "input_per_mtok": _amount("input_per_mtok", raw.get("input_per_mtok")),
        "cached_input_per_mtok": _amount("cached_input_per_mtok", raw.get("cached_input_per_mtok"), optional=True),
        "output_per_mtok": _amount("output_per_mtok", raw.get("output_per_mtok")),
        "currency": currency,
        "valid_from": _day(raw.get("valid_from")),
        "above_prompt_tokens": _tokens(raw.get("above_prompt_tokens")),
        "source": source,
    }


def problems(raw: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with each field of `raw`, checked one by one (a form shows each next to its field)."""
    base = {"model": "m", "input_per_mtok": "0", "output_per_mtok": "0"}
    found = {}
    for field in FIELDS:
        if field in raw:
            try:
                parse_price({**base, field: raw[field]})
            except PriceError as exc:
                found[field] = str(exc)
    for field in REQUIRED:
        if field not in raw:
            found[field] = f"{field} is required"
    return found


def target(price: Mapping) -> str:
    """How the audit log names a price row: model@day, and >tokens for a tier."""
    tier = price["above_prompt_tokens"]
    return f"{price['model']}@{price['valid_from']}" + (f">{tier}" if tier else "")


def _key(price: Mapping) -> tuple:
    return price["model"], price["valid_from"], price["above_prompt_tokens"]


def find(price: Mapping) -> ModelPrice | None:
    """The stored row of this price's model, first day and tier, if any."""
    return db.session.execute(select(ModelPrice).where(
        ModelPrice.model == price["model"], ModelPrice.valid_from == price["valid_from"],
        ModelPrice.above_prompt_tokens == price["above_prompt_tokens"])).scalar_one_or_none()


def save(prices: Iterable[dict]) -> tuple[int, int]:
    """Insert or update validated prices in one transaction; (added, updated)."""
    added = updated = 0
    for price in prices:
        row = find(price)
        if row is None:
            db.session.add(ModelPrice(**price))
            added += 1
        else:
            for field, value in price.items():
                setattr(row, field, value)
            updated += 1
    db.session.commit()
    return added, updated


def _rows(model: str | None) -> list[ModelPrice]:
    query = select(ModelPrice).order_by(ModelPrice.model, ModelPrice.above_prompt_tokens, ModelPrice.valid_from)
    if model:
        # A versioned name shows the rows it is priced by (gpt-4o-mini-2024-07-18 -> gpt-4o-mini).
        for name in candidate_names(model):
            rows = db.session.execute(query.where(ModelPrice.model == name)).scalars().all()
            if rows:
                return list(rows)
        return []
    return list(db.session.execute(query).scalars())


def listing(model: str | None = None, everything: bool = False, today: date | None = None) -> list[tuple]:
    """(row, status) pairs: the prices in force today, or with `everything` also past and future ones."""
    today = today or _today()
    rows = _rows(model)
    current: dict[tuple[str, int], ModelPrice] = {}
    for row in rows:  # ordered by valid_from within a (model, tier): the last one not in the future wins
        if row.valid_from <= today:
            current[(row.model, row.above_prompt_tokens)] = row
    chosen = {id(row) for row in current.values()}
    result = []
    for row in rows:
        status = "current" if id(row) in chosen else ("future" if row.valid_from > today else "past")
        if everything or status == "current":
            result.append((row, status))
    return result


def _text(amount: Decimal | None) -> str:
    """6.500000 -> 6.5, 10.000000 -> 10: the shortest exact text."""
    if amount is None:
        return ""
    return format(amount.normalize(), "f")


def as_record(row: ModelPrice) -> dict[str, str]:
    return {"model": row.model, "input_per_mtok": _text(row.input_per_mtok),
            "cached_input_per_mtok": _text(row.cached_input_per_mtok), "output_per_mtok": _text(row.output_per_mtok),
            "currency": row.currency, "valid_from": row.valid_from.isoformat(),
            "above_prompt_tokens": str(row.above_prompt_tokens), "source": row.source or ""}


def export_csv(out: TextIO) -> int:
    """Every price row (history and future included) as CSV in the import format; the row count."""
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    rows = _rows(None)
    for row in rows:
        writer.writerow(as_record(row))
    return len(rows)


def read_prices(text: str, name: str = "") -> list[dict]:
    """Validated prices from CSV (with a header) or a JSON list; every bad line is reported, none imported."""
    stripped = text.lstrip("\ufeff").lstrip()
    if name.lower().endswith(".json") or stripped.startswith("["):
        items = _json_items(stripped)
        where = "item"
    else:
        items = _csv_items(stripped)
        where = "line"
    prices, problems, seen = [], [], {}
    for number, raw in items:
        if isinstance(raw, str):
            problems.append(f"{where} {number}: {raw}")
            continue
        try:
            price = parse_price(raw)
        except PriceError as exc:
            problems.append(f"{where} {number}: {exc}")
            continue
        if _key(price) in seen:
            problems.append(f"{where} {number}: the same model, valid_from and tier as {where} {seen[_key(price)]}")
            continue
        seen[_key(price)] = number
        prices.append(price)
    if problems:
        raise PriceError("nothing imported; fix these and try again:\n  " + "\n  ".join(problems))
    if not prices:
        raise PriceError("nothing to import: the file has no prices")
    return prices


def _csv_items(text: str) -> list[tuple[int, dict | str]]:
    """(line number, fields) per CSV record, or (line number, what is wrong with it)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [f for f in REQUIRED if f not in header]
    unknown = [h for h in header if h not in FIELDS]
    if missing or unknown:
        raise PriceError("the first line must be a header of " + ",".join(FIELDS)
                         + (f"; missing: {', '.join(missing)}" if missing else "")
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    reader.fieldnames = header
    items = []
    for record in reader:
        if None in record:
            items.append((reader.line_num, "more values than the header has fields"))
            continue
        if not any((v or "").strip() for v in record.values()):
            continue  # blank line
        items.append((reader.line_num, {k: v for k, v in record.items() if v is not None}))
    return items


def _json_items(text: str) -> list[tuple[int, dict | str]]:
    """(item number, fields) per object of a JSON list, or (item number, what is wrong with it)."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise PriceError(f"not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise PriceError("JSON prices must be a list of objects")
    items = []
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict):
            items.append((number, "not an object"))
            continue
        # Numbers come as exact Decimals (parse_float above); dates and text stay text.
        items.append((number, {k: (str(v) if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else v)
                               for k, v in item.items()}))
    return items
