"""The audit log page: filtered by who, what and when; paged by keyset (never OFFSET); each change's before and
after shown, secrets masked."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from aichat import audit
from aichat.extensions import db
from aichat.models import AuditEvent
from tests.admin.conftest import login

ROW = re.compile(r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>[^<]*</td>\s*<td><code>([^<]*)</code></td>"
                 r"\s*<td>([^<]*)</td>")


@pytest.fixture
def audited(make_app, make_admin):
    """120 events: alice's and bob's, on admins and upstreams, one a day back from today."""
    app = make_app()
    make_admin(app, "viewer", token=False, role="viewer")
    now = datetime.now(timezone.utc)
    with app.app_context():
        for i in range(120):
            who = "alice" if i % 2 else "bob"
            kind, action = ("admin", "users.set_role") if i % 3 else ("upstream", "upstreams.update")
            db.session.add(AuditEvent(created_at=now - timedelta(days=i), actor=who, action=action,
                                      target_type=kind, target=f"t{i}", address="127.0.0.1",
                                      before=f'{{"role": "r{i}"}}', after=f'{{"role": "r{i + 1}"}}'))
        db.session.commit()
    return app


def signed_in(app):
    client = app.test_client()
    assert login(client, "viewer").status_code == 302
    return client


def rows(resp) -> list[tuple[str, str, str]]:
    return [(actor, action, target.strip()) for actor, action, target in ROW.findall(resp.get_data(as_text=True))]


def older_link(resp) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next"', resp.get_data(as_text=True))
    return found.group(1).replace("&amp;", "&") if found else None


def newer_link(resp) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="prev"', resp.get_data(as_text=True))
    return found.group(1).replace("&amp;", "&") if found else None


def test_pages_go_back_and_forth_through_every_row_once(audited):
    client = signed_in(audited)
    first = client.get("/admin/audit")
    seen = rows(first)
    assert len(seen) == 50 and seen[0][2] == "upstream t0" and newer_link(first) is None
    second = client.get(older_link(first))
    third = client.get(older_link(second))
    seen += rows(second) + rows(third)
    assert [target for _, _, target in seen] == [f"admin t{i}" if i % 3 else f"upstream t{i}" for i in range(120)]
    assert older_link(third) is None
    back = client.get(newer_link(third))
    assert rows(back) == rows(second)
    assert rows(client.get(newer_link(back))) == rows(first)


def test_filters_by_who_what_and_when(audited):
    client = signed_in(audited)
    offered = client.get("/admin/audit").get_data(as_text=True)
    assert '<option value="upstreams.">' in offered and '<option value="users.set_role">' in offered
    alice = rows(client.get("/admin/audit?actor=alice"))
    assert alice and {actor for actor, _, _ in alice} == {"alice"}
    upstreams = rows(client.get("/admin/audit?action=upstreams."))
    assert len(upstreams) == 40 and {action for _, action, _ in upstreams} == {"upstreams.update"}
    assert len(rows(client.get("/admin/audit?target_type=upstream&target=t3"))) == 1
    assert rows(client.get("/admin/audit?target=t3&target_type=admin")) == []
    today = datetime.now(timezone.utc).date()
    week = rows(client.get(f"/admin/audit?from={today - timedelta(days=9)}&to={today - timedelta(days=3)}"))
    assert 6 <= len(week) <= 8  # seven local days; the zone may shift one day's row across the edge
    paged = client.get("/admin/audit?actor=bob")
    assert "actor=bob" in older_link(paged)
    assert {actor for actor, _, _ in rows(client.get(older_link(paged)))} == {"bob"}


@pytest.mark.parametrize("query, field", [("from=2026-13-01", "from"), ("to=yesterday", "to"),
                                          ("from=2026-05-02&to=2026-05-01", "to")])
def test_a_bad_date_is_a_400_next_to_its_field(audited, query, field):
    resp = signed_in(audited).get(f"/admin/audit?{query}")
    assert resp.status_code == 400
    assert f'id="{field}-error"' in resp.get_data(as_text=True)


def test_a_broken_page_cursor_shows_the_first_page(audited):
    client = signed_in(audited)
    assert rows(client.get("/admin/audit?page=o2026_nonsense")) == rows(client.get("/admin/audit"))


def test_paging_never_uses_offset(audited):
    client = signed_in(audited)
    statements = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    with audited.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        client.get(older_link(client.get(older_link(client.get("/admin/audit")))))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    audit_queries = [(s, p) for s, p in statements if "FROM audit_event" in s]
    assert len(audit_queries) == 3
    # SQLite's dialect writes LIMIT ? OFFSET ? with an offset of 0; no page may skip rows by counting them.
    assert not [s for s, p in audit_queries if "OFFSET" in s.upper() and list(p)[-1] != 0]
    assert "audit_event.created_at <" in audit_queries[-1][0]


def test_each_change_shows_before_and_after_with_secrets_masked(make_app, make_admin):
    app = make_app()
    make_admin(app, "viewer", token=False, role="viewer")
    with app.app_context():
        audit.record("upstreams.keys.add", "upstream", "openai", before={"keys": 1, "priority": 1},
                     after={"keys": 2, "priority": 5, "api_key": "sk-live-abcdefghijklmnopqrstu"}, actor="cli:ops",
                     address="cli")
    page = signed_in(app).get("/admin/audit").get_data(as_text=True)
    assert "sk-live-abcdefghijklmnopqrstu" not in page and "***" in page
    change = re.search(r'<dl class="audit-change">(.*?)</dl>', page, re.S).group(1)
    assert re.search(r"<dt>priority</dt><dd class=\"before\">1</dd><dd class=\"after\">→ 5</dd>", change)
    assert "<dt>api_key</dt>" in change
