"""Usage: one row per upstream attempt."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aichat.extensions import db

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER primary key.
_BigId = BigInteger().with_variant(Integer, "sqlite")


class AIUsageLog(db.Model):
    """One upstream attempt: who asked, which provider and key label answered, tokens, timing, errors."""

    __tablename__ = "ai_usage_log"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    site_domain: Mapped[str] = mapped_column(String(255), default="unknown")
    caller: Mapped[str | None] = mapped_column(String(128))
    endpoint: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    key_label: Mapped[str | None] = mapped_column(String(64))
    model_requested: Mapped[str | None] = mapped_column(String(128))
    model_served: Mapped[str | None] = mapped_column(String(128))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # success | error | cancelled
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    failed_over: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    usage_source: Mapped[str] = mapped_column(String(16), default="provider")  # provider | estimated
    cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 8))  # NULL: no price known
    currency: Mapped[str | None] = mapped_column(String(3))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_ai_usage_log_created_at", "created_at"),
        Index("ix_ai_usage_log_site_created", "site_domain", "created_at"),
        Index("ix_ai_usage_log_provider_created", "provider", "created_at"),
        Index("ix_ai_usage_log_request_id", "request_id"),
    )
