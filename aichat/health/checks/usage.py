"""From the usage side: errors of the last hour, token counting, prices."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Flask

from .base import FAIL, OK, WARN, Check
from aichat.runtime import runtime_of

# Share of upstream attempts in the last hour that failed. Failed-over attempts count: a key
# that keeps failing costs latency even when the next one answers.
ERROR_RATE_WARN = 0.05  # and at least one error
ERROR_RATE_FAIL = 0.25  # and at least ERROR_FAIL_MIN_ATTEMPTS attempts, so two unlucky calls do not fail a deploy
ERROR_FAIL_MIN_ATTEMPTS = 10
LATEST_ERRORS = 3


def errors(app: Flask) -> Check:
    """Attempts, errors and their rate in the last hour from the usage log, with the latest few errors."""
    from sqlalchemy import case, func, select

    from aichat.extensions import db
    from aichat.models import AIUsageLog

    runtime_of(app).recorder.flush(2)  # this process's own rows (a --live call) count too
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    recent = AIUsageLog.created_at >= since
    attempts, failed, failed_over = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((AIUsageLog.status == "error", 1), else_=0)), 0),
               func.coalesce(func.sum(case((AIUsageLog.failed_over.is_(True), 1), else_=0)), 0))
        .where(recent)).one()
    if not attempts:
        return Check("errors", OK, "no upstream attempts in the last hour")
    rate = failed / attempts
    found = (f"{_count(attempts, 'attempt')}, {_count(failed, 'error')} ({rate:.0%}, {failed_over} failed over) "
             f"in the last hour")
    if not failed:
        return Check("errors", OK, found)
    latest = db.session.execute(
        select(AIUsageLog.created_at, AIUsageLog.upstream, AIUsageLog.error_code, AIUsageLog.http_status,
               AIUsageLog.error_message)
        .where(recent, AIUsageLog.status == "error").order_by(AIUsageLog.created_at.desc()).limit(LATEST_ERRORS)).all()
    found += "; latest: " + "; ".join(_describe(*row) for row in latest)
    if rate >= ERROR_RATE_FAIL and attempts >= ERROR_FAIL_MIN_ATTEMPTS:
        return Check("errors", FAIL, f"{found}: check the providers' keys and status, and "
                                     f"/api/v1/ai-monitoring/recent-errors")
    if rate >= ERROR_RATE_WARN:
        return Check("errors", WARN, f"{found}: watch /api/v1/ai-monitoring/recent-errors")
    return Check("errors", OK, found)


def _describe(created_at: datetime, upstream: str, code: str | None, status: int | None, message: str | None) -> str:
    if created_at.tzinfo is None:  # SQLite returns naive UTC
        created_at = created_at.replace(tzinfo=timezone.utc)
    text = " ".join((message or "").split())
    text = text if len(text) <= 80 else text[:79] + "…"
    return f"{created_at:%H:%M:%S}Z {upstream} {code or 'error'}{f' {status}' if status else ''} \"{text}\""


def tokenizer(app: Flask) -> Check:
    """How tokens are counted when upstream reports none: tiktoken (which encodings) or the rule (why)."""
    from aichat.gateway.tokens import encoding_name

    counter = runtime_of(app).gateway.counter
    described = counter.describe()
    if described["mode"] == "rule":
        return Check("tokenizer", WARN, f"estimates use the documented rule (CJK 1, else 4 characters a token): "
                                        f"{described['reason']}")
    loaded = ", ".join(described["encodings"])
    needed = encoding_name(app.config["OPENAI_MODEL"]) if app.config["OPENAI_API_KEY"] else None
    if needed and needed not in counter.encodings:
        return Check("tokenizer", WARN, f"tiktoken has {loaded} but OPENAI_MODEL {app.config['OPENAI_MODEL']} "
                                        f"needs {needed} ({counter.problems.get(needed, 'missing')}): run "
                                        f"`flask tokens fetch` on a connected machine and copy the files to "
                                        f"{counter.directory}")
    return Check("tokenizer", OK, f"tiktoken ({loaded}) from {counter.directory}; the rule for "
                                  f"{'; '.join(described['rule_for'])}")


def prices(app: Flask) -> Check:
    """Every configured provider's default model has a price today, so its calls are not unpriced."""
    from aichat.usage.costing import load_price_book

    models = {f"{name}_MODEL": app.config[f"{name}_MODEL"] for name in ("OPENAI", "GEMINI")
              if app.config[f"{name}_API_KEY"]}
    if not models:
        return Check("prices", OK, "no provider keys configured (demo responder); nothing is billed")
    try:
        book = load_price_book()
    except Exception as exc:  # noqa: BLE001
        return Check("prices", FAIL, f"cannot read the price table ({type(exc).__name__}): run `flask db upgrade`")
    now = datetime.now(timezone.utc)
    missing = [f"{model} ({setting})" for setting, model in models.items() if book.price_for(model, now, 1) is None]
    if missing:
        return Check("prices", WARN, f"no price today for {', '.join(missing)}: its calls are recorded unpriced; "
                                     f"add one with `flask prices set MODEL --input X --output Y`")
    return Check("prices", OK, f"{len(book)} price rows; priced: {', '.join(models.values())}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
