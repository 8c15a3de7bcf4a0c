"""Usage: one row per upstream attempt."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aichat.extensions import db

from .types import BigId as _BigId
from .types import Money

# Upper bounds (ms) of the latency histogram's buckets in AIUsageStats; the last is open.
LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000,
                      30000, 60000)
LATENCY_COLUMNS = tuple(f"lat_le_{b}" for b in LATENCY_BUCKETS_MS) + ("lat_le_inf",)
# Time to first token of successful streamed attempts: the same buckets.
TTFT_COLUMNS = tuple(f"ttft_le_{b}" for b in LATENCY_BUCKETS_MS) + ("ttft_le_inf",)


class AIUsageLog(db.Model):
    """One upstream attempt: who asked, which upstream (name and kind) and key answered, tokens, timing, errors."""

    __tablename__ = "ai_usage_log"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The site (aichat/tenancy) by id: no foreign key, the history outlives a removed site. NULL on rows
    # written before sites existed. site_domain is for reading: the site's domain when the row was written.
    site_id: Mapped[int | None] = mapped_column(Integer)
    site_domain: Mapped[str] = mapped_column(String(255), default="unknown")
    # The conversation (its public c_… id) a call continued; no foreign key: usage outlives a deleted conversation.
    conversation_id: Mapped[str | None] = mapped_column(String(24))
    caller: Mapped[str | None] = mapped_column(String(128))
    endpoint: Mapped[str] = mapped_column(String(64))
    upstream: Mapped[str] = mapped_column(String(64))  # the configured upstream's name (`openai`, `deepseek` …)
    provider: Mapped[str] = mapped_column(String(32))  # its kind: the protocol module that spoke to it
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
    cost: Mapped[Decimal | None] = mapped_column(Money(20, 10))  # NULL: tokens but no price known
    currency: Mapped[str | None] = mapped_column(String(3))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The log explorer pages on (created_at, id): each filter it offers has an index ending in both, so
        # a page is a range scan of that index in either direction, never a sort of the matching rows.
        Index("ix_ai_usage_log_created_id", "created_at", "id"),
        Index("ix_ai_usage_log_site_created_id", "site_domain", "created_at", "id"),
        Index("ix_ai_usage_log_site_id_created", "site_id", "created_at"),
        Index("ix_ai_usage_log_provider_created", "provider", "created_at"),
        Index("ix_ai_usage_log_upstream_created_id", "upstream", "created_at", "id"),
        Index("ix_ai_usage_log_request_id", "request_id"),
        Index("ix_ai_usage_log_status_created_id", "status", "created_at", "id"),
        Index("ix_ai_usage_log_model_requested_created_id", "model_requested", "created_at", "id"),
        Index("ix_ai_usage_log_model_served_created_id", "model_served", "created_at", "id"),
        Index("ix_ai_usage_log_error_code_created_id", "error_code", "created_at", "id"),
        Index("ix_ai_usage_log_caller_created_id", "caller", "created_at", "id"),
        # A key's newest success, error or cancel (its last use and bench state on the upstreams page): one seek.
        Index("ix_ai_usage_log_upstream_key_status_created", "upstream", "key_label", "status", "created_at"),
    )


class AIUsageStats(db.Model):
    """The daily rollup of AIUsageLog per (day, site, upstream, provider, model, caller, currency).

    The site is its id, so renaming a domain does not split its history; `site_domain` is the site's
    domain when the day was rolled up. Rows of the local site (pages of several hosts) and rows without
    a site id (from before sites) are grouped by the domain they name too. `day` is a calendar day in
    AICHAT_TIMEZONE. Exact: every sum equals the same sum over the logs of that day. `upstream` is the upstream's name and `provider` its kind (both are in
    the group: a name removed and added again may come back with another kind). `caller` is ''
    for browser calls; `currency` is '' where no cost was computed. attempts counts log rows;
    requests counts first attempts (one per client request); latency columns cover successful
    attempts only, and their min and max are NULL when there are none. ttft columns cover successful
    streamed attempts with a time to first token; ttft_count is NULL on days rolled up before it was kept.
    """

    __tablename__ = "ai_usage_stats"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    site_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key, as in the log
    site_domain: Mapped[str] = mapped_column(String(255))
    upstream: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    caller: Mapped[str] = mapped_column(String(128), default="")
    currency: Mapped[str] = mapped_column(String(3), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    failovers: Mapped[int] = mapped_column(Integer, default=0)
    streams: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(Money(20, 10), default=Decimal(0))
    unpriced: Mapped[int] = mapped_column(Integer, default=0)  # rows with tokens and no price
    estimated: Mapped[int] = mapped_column(Integer, default=0)  # rows with usage_source 'estimated'
    latency_sum_ms: Mapped[float] = mapped_column(Float, default=0.0)
    latency_count: Mapped[int] = mapped_column(Integer, default=0)
    latency_min_ms: Mapped[float | None] = mapped_column(Float)  # exact; bounds the histogram's first bucket
    latency_max_ms: Mapped[float | None] = mapped_column(Float)  # exact; bounds its last, open bucket
    lat_le_50: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_100: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_200: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_300: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_500: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_750: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_1000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_1500: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_2000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_3000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_5000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_7500: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_10000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_15000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_20000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_30000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_60000: Mapped[int] = mapped_column(Integer, default=0)
    lat_le_inf: Mapped[int] = mapped_column(Integer, default=0)
    # NULL: the day was rolled up before time to first token was kept (its percentiles are unknown).
    ttft_sum_ms: Mapped[float | None] = mapped_column(Float)
    ttft_count: Mapped[int | None] = mapped_column(Integer)
    ttft_le_50: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_100: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_200: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_300: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_500: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_750: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_1000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_1500: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_2000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_3000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_5000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_7500: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_10000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_15000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_20000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_30000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_60000: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_le_inf: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("day", "site_id", "site_domain", "upstream", "provider", "model", "caller", "currency",
                         name="uq_ai_usage_stats_group"),
        Index("ix_ai_usage_stats_site_day", "site_domain", "day"),
        Index("ix_ai_usage_stats_site_id_day", "site_id", "day"),
        Index("ix_ai_usage_stats_caller_day", "caller", "day"),
    )


class UsageDirtyDay(db.Model):
    """A day whose logs changed since it was last rolled up; the writer bumps `version` with each batch.

    The rollup clears a mark only if its version is still the one it read, so rows written
    while a day is being rolled up mark it again instead of being missed.
    """

    __tablename__ = "ai_usage_dirty_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class UsageRollupState(db.Model):
    """Small facts the rollup keeps: the time zone its days are cut in, the day before which logs were pruned."""

    __tablename__ = "ai_usage_rollup_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class UsageSpoolApplied(db.Model):
    """A usage spool file whose rows are in the log: inserted in the same transaction as its rows.

    Replaying a file twice (two processes at once, or again after a crash before the file was
    deleted) finds its id here and inserts nothing.
    """

    __tablename__ = "ai_usage_spool_applied"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
