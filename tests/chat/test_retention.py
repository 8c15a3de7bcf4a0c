"""Retention: conversations not updated within their site's retention_days go, with their messages; none goes from a
site that keeps them, or before its time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aichat.chat import conversations as store
from aichat.chat import retention
from aichat.extensions import db
from aichat.models import ChatMessage, Conversation
from aichat.runtime import runtime_of
from tests.chat.conftest import make_site


def _aged(app, site_domain: str, days: float, title: str) -> None:
    """A conversation with one message, last updated `days` ago."""
    from aichat.tenancy import sites

    with app.app_context():
        site_id = sites.get(db.session, site_domain).id
        store.create(db.session, store.Owner(site_id, "user:u-1"), title)
        row = db.session.execute(db.select(Conversation).filter_by(title=title)).scalar_one()
        store.add_message(db.session, row, "user", f"text of {title}")
        row.updated_at = datetime.now(timezone.utc) - timedelta(days=days)
        db.session.commit()


def _titles(app) -> set[str]:
    with app.app_context():
        return set(db.session.execute(db.select(Conversation.title)).scalars())


def test_the_job_deletes_what_each_site_no_longer_keeps(app):
    make_site(app, "month.example.com", retention_days=30)
    make_site(app, "forever.example.com", retention_days=None)
    make_site(app, "default.example.com")  # 90 days
    _aged(app, "month.example.com", 31, "month-old")
    _aged(app, "month.example.com", 29, "month-recent")
    _aged(app, "forever.example.com", 3000, "forever-old")
    _aged(app, "default.example.com", 91, "default-old")
    _aged(app, "default.example.com", 89, "default-recent")

    job = runtime_of(app).jobs[retention.PRUNE_JOB]
    assert job.interval == retention.PRUNE_INTERVAL
    assert job.run_once()
    assert _titles(app) == {"month-recent", "forever-old", "default-recent"}
    with app.app_context():
        left = set(db.session.execute(db.select(ChatMessage.content)).scalars())
        assert left == {"text of month-recent", "text of forever-old", "text of default-recent"}
        assert retention.prune(db.session) == 0, "a second round finds nothing"


def test_a_conversation_in_use_is_kept(app):
    make_site(app, "week.example.com", retention_days=7)
    _aged(app, "week.example.com", 8, "old but answered today")
    with app.app_context():
        row = db.session.execute(db.select(Conversation)).scalar_one()
        store.add_message(db.session, row, "assistant", "an answer today")  # updates it
        db.session.commit()
        assert retention.prune(db.session) == 0
