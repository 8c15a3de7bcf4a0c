"""Gateway configuration kept in the database: model prices, upstreams and their keys, the config version."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

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


class Upstream(db.Model):
    """An upstream kept in the database (`flask upstreams …`): where it is, what it serves, in what order.

    `models` is a JSON list of model names and glob patterns. Every change to this table or to
    `upstream_key` bumps ConfigVersion in the same transaction, so every process rebuilds its gateway.
    """

    __tablename__ = "upstream"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(512))
    models: Mapped[str] = mapped_column(Text)
    default_model: Mapped[str] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    # The ORM deletes an upstream's keys itself: SQLite enforces ON DELETE CASCADE only when told to.
    keys: Mapped[list[UpstreamKey]] = relationship(back_populates="upstream", cascade="all, delete-orphan",
                                                   order_by="UpstreamKey.id")

    @property
    def model_list(self) -> list[str]:
        return json.loads(self.models)


class UpstreamKey(db.Model):
    """One key of a database upstream, stored only as a Fernet token; `hint` (first and last 4 characters,
    taken at entry) tells keys apart in listings."""

    __tablename__ = "upstream_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upstream_id: Mapped[int] = mapped_column(ForeignKey("upstream.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(48))
    secret_encrypted: Mapped[str] = mapped_column(Text)  # a Fernet token, never the key itself
    hint: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    upstream: Mapped[Upstream] = relationship(back_populates="keys")

    __table_args__ = (UniqueConstraint("upstream_id", "label", name="uq_upstream_key_upstream_label"),)


class ModelAlias(db.Model):
    """A model name that stands for another (`fast` → `deepseek/deepseek-chat`), set in the console; the
    environment's AICHAT_MODEL_ALIASES win over a row of the same name. Changes bump the gateway's ConfigVersion."""

    __tablename__ = "model_alias"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    target: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ConfigVersion(db.Model):
    """A counter each configuration change bumps in its own transaction; processes compare it with the
    version their gateway was built from."""

    __tablename__ = "config_version"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
