"""Gateway configuration kept in the database: model prices."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import Date, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aichat.extensions import db

from .types import Money


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ModelPrice(db.Model):
    """List price of one model from `valid_from` (a UTC date) on, per million tokens.

    `above_prompt_tokens` makes a tier: the row applies to calls whose prompt has more tokens
    than that (Gemini 2.5 Pro bills every token of a prompt over 200k at a higher rate).
    `cached_input_per_mtok` NULL means cached input is billed like other input.
    """

    __tablename__ = "model_price"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    input_per_mtok: Mapped[Decimal] = mapped_column(Money(18, 6))
    cached_input_per_mtok: Mapped[Decimal | None] = mapped_column(Money(18, 6))
    output_per_mtok: Mapped[Decimal] = mapped_column(Money(18, 6))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    valid_from: Mapped[date] = mapped_column(Date)
    above_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(255), default="")  # where the figure came from
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    __table_args__ = (
        UniqueConstraint("model", "valid_from", "above_prompt_tokens", name="uq_model_price_model_from_tier"),
    )
