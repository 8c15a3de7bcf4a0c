"""Usage rows over two weeks for the dashboard and cost pages: a custom period and the week before it."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from aichat.extensions import db
from aichat.tenancy import keys
from aichat.usage.days import day_start, usage_zone
from tests.usage.factories import log_row, roll_up, write_logs

FIRST, LAST = date(2026, 3, 8), date(2026, 3, 14)  # the period shown; the previous one is 1-7 March
PERIOD = {"period": "custom", "from": FIRST.isoformat(), "to": LAST.isoformat()}
KEY_NAME = "Checkout backend"


def seed(app) -> str:
    """Write and roll up the rows; returns the client key's prefix (the caller label of one row)."""
    with app.app_context():
        prefix = keys.create(db.session, "localhost", name=KEY_NAME).row.prefix
    zone = usage_zone(app.config)

    def at(day: int, hour: int):
        return day_start(date(2026, 3, day), zone) + timedelta(hours=hour)

    rows = [
        # This period
        log_row(at(9, 10), latency_ms=100.0, cost=Decimal("0.30")),
        log_row(at(9, 11), latency_ms=300.0, cost=Decimal("0.10"), stream=True, ttft_ms=90.0, caller=prefix),
        log_row(at(11, 9), request_id="r-failover", status="error", failed_over=True, latency_ms=50.0, cost=None,
                currency=None, prompt_tokens=0, completion_tokens=0, total_tokens=0),
        log_row(at(11, 9), request_id="r-failover", attempt=2, upstream="deepseek", model_served="deepseek-chat",
                latency_ms=700.0, cost=None, currency=None, prompt_tokens=100, completion_tokens=50),
        log_row(at(12, 15), model_served="gpt-4.1-mini", latency_ms=200.0, cost=Decimal("0.60")),
        log_row(at(13, 8), upstream="gemini", provider="gemini", model_served="gemini-2.5-flash", latency_ms=250.0,
                cost=Decimal("2.5"), currency="EUR", usage_source="estimated", stream=True, ttft_ms=400.0,
                site_domain="help.example.com"),
        # The previous period
        log_row(at(2, 10), latency_ms=100.0, cost=Decimal("0.20")),
        log_row(at(5, 10), upstream="gemini", provider="gemini", model_served="gemini-2.5-flash", latency_ms=100.0,
                cost=Decimal("5"), currency="EUR"),
    ]
    write_logs(app, rows)
    roll_up(app)
    return prefix
