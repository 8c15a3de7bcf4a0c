"""The console's conversations: search per site by user or dates with keyset pages, read one escaped, delete one,
export and erase a user's data; CSRF, roles and audit rows with no message content in them."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from aichat import audit
from aichat.chat import conversations as store
from aichat.chat.conversations import Owner
from aichat.extensions import db
from aichat.models import AuditEvent, Conversation
from aichat.tenancy import sites as site_store
from tests.admin.conftest import csrf_token, login

SHOP = "shop.example.com"
SECRET_WORDS = "the launch code is <b>swordfish</b>"
LINK = re.compile(r'href="/admin/conversations/(c_[A-Za-z0-9_-]{22})"')


def _make(app, site_id: int, owner: str, title: str, messages: list[tuple[str, str]], updated: datetime) -> str:
    with app.app_context():
        made = store.create(db.session, Owner(site_id, owner), title)
        row = db.session.execute(select(Conversation).where(Conversation.public_id == made["id"])).scalar_one()
        for role, content in messages:
            store.add_message(db.session, row, role, content)
        db.session.commit()
        db.session.execute(update(Conversation).where(Conversation.id == row.id).values(updated_at=updated))
        db.session.commit()
        return made["id"]


@pytest.fixture
def console(make_app, make_admin):
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "admin", token=False, role="admin")
    make_admin(app, "viewer", token=False, role="viewer")
    with app.app_context():
        site_store.create_site(db.session, SHOP, ["https://shop.example.com"])
        app.site_id = site_store.get(db.session, SHOP).id
        other = site_store.get(db.session, "localhost").id
    now = datetime.now(timezone.utc)
    app.alice = [_make(app, app.site_id, "user:alice", f"alice {n}", [("user", f"question {n}"),
                                                                      ("assistant", SECRET_WORDS)],
                       now - timedelta(hours=n)) for n in range(60)]
    app.bob = _make(app, app.site_id, "user:bob", "bob's", [("user", "hello")], now - timedelta(days=40))
    app.elsewhere = _make(app, other, "user:alice", "local", [("user", "hi")], now)
    app.admin, app.viewer = app.test_client(), app.test_client()
    assert login(app.admin, "admin").status_code == 302
    assert login(app.viewer, "viewer").status_code == 302
    return app


def _events(app, action=None) -> list[AuditEvent]:
    with app.app_context():
        return [row for row in audit.events() if action is None or row.action == action]


def test_search_by_user_pages_with_a_cursor_never_offset(console):
    first = console.admin.get(f"/admin/conversations?site={SHOP}&user=alice")
    html = first.get_data(as_text=True)
    ids = LINK.findall(html)
    assert first.status_code == 200 and ids == console.alice[:50], "newest updated first, 50 a page"
    older = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert "before=" in older and "offset" not in older
    second = console.admin.get(older).get_data(as_text=True)
    assert LINK.findall(second) == console.alice[50:]
    assert 'id="page-newer"' not in html, "the first page has no newer one"
    newer = re.search(r'href="([^"]+)" rel="prev" id="page-newer"', second).group(1).replace("&amp;", "&")
    assert "after=" in newer
    back = console.admin.get(newer).get_data(as_text=True)
    assert LINK.findall(back) == console.alice[:50], "back to the newest page, by keyset too"
    assert 'id="page-newer"' not in back and 'rel="next"' in back
    assert 'id="export-user"' in html and 'id="erase-user"' in html


def test_search_by_date_range_and_other_site_apart(console):
    now = datetime.now(timezone.utc)
    past = (now - timedelta(days=45)).date().isoformat()
    until = (now - timedelta(days=35)).date().isoformat()
    html = console.admin.get(f"/admin/conversations?site={SHOP}&from={past}&to={until}").get_data(as_text=True)
    assert LINK.findall(html) == [console.bob]
    local = console.admin.get("/admin/conversations?site=localhost&user=alice").get_data(as_text=True)
    assert LINK.findall(local) == [console.elsewhere]


@pytest.mark.parametrize("query, field", [("from=yesterday", "from"), ("to=2026-13-01", "to"),
                                          ("site=nowhere.example", "site"), ("user=" + "x" * 200, "user")])
def test_a_bad_search_field_is_named_next_to_it_with_a_400(console, query, field):
    resp = console.admin.get(f"/admin/conversations?{query}")
    assert resp.status_code == 400
    assert re.search(rf'<p class="field-error" id="{field}-error">[^<]+</p>', resp.get_data(as_text=True))


def test_a_made_up_cursor_starts_again_from_the_newest(console):
    resp = console.admin.get(f"/admin/conversations?site={SHOP}&before=nonsense")
    assert resp.status_code == 200 and 'id="before-error"' in resp.get_data(as_text=True)


def test_a_conversation_reads_escaped_and_read_only_for_a_viewer(console):
    public_id = console.alice[0]
    html = console.viewer.get(f"/admin/conversations/{public_id}").get_data(as_text=True)
    assert "the launch code is &lt;b&gt;swordfish&lt;/b&gt;" in html and "<b>swordfish</b>" not in html
    assert "question 0" in html and 'id="delete-conversation"' not in html
    assert 'id="delete-conversation"' in console.admin.get(f"/admin/conversations/{public_id}").get_data(as_text=True)
    listing = console.viewer.get(f"/admin/conversations?site={SHOP}&user=alice").get_data(as_text=True)
    assert 'id="export-user"' not in listing and 'id="erase-user"' not in listing
    assert console.admin.get("/admin/conversations/c_" + "x" * 22).status_code == 404
    assert console.admin.get("/admin/conversations/nonsense").status_code == 404


def test_delete_one_is_audited_without_its_content(console):
    public_id = console.alice[0]
    token = csrf_token(console.admin, f"/admin/conversations/{public_id}")
    assert console.admin.post(f"/admin/conversations/{public_id}/delete").status_code == 400, "no CSRF token"
    resp = console.admin.post(f"/admin/conversations/{public_id}/delete", data={"csrf_token": token})
    assert resp.status_code == 302 and "deleted=1" in resp.location
    assert console.admin.get(f"/admin/conversations/{public_id}").status_code == 404
    [event] = _events(console, "conversations.delete")
    assert event.target == public_id and json.loads(event.before)["owner"] == "user:alice"
    assert "swordfish" not in (event.before or "") and "alice 0" not in (event.before or "")


def test_export_gives_the_users_own_export_shape_and_is_audited(console):
    token = csrf_token(console.admin, f"/admin/conversations?site={SHOP}&user=alice")
    assert console.admin.post("/admin/conversations/export", data={"site": SHOP, "user": "alice"}).status_code == 400
    resp = console.admin.post("/admin/conversations/export", data={"csrf_token": token, "site": SHOP, "user": "alice"})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    data = resp.get_json()
    with console.app_context():
        assert data == {"conversations": store.export(db.session, Owner(console.site_id, "user:alice"))}
    assert len(data["conversations"]) == 60 and data["conversations"][0]["messages"][1]["content"] == SECRET_WORDS
    [event] = _events(console, "conversations.export")
    assert json.loads(event.after) == {"site": SHOP, "owner": "user:alice", "conversations": 60}
    nobody = console.admin.post("/admin/conversations/export", data={"csrf_token": token, "site": SHOP, "user": ""})
    assert nobody.status_code == 400 and 'id="user-error"' in nobody.get_data(as_text=True)


def test_erase_asks_first_then_deletes_only_that_users_data_on_that_site(console):
    confirm = console.admin.get(f"/admin/conversations/erase?site={SHOP}&user=alice")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="erase-confirm"' in html
    with console.app_context():
        assert db.session.execute(select(Conversation)).scalars().all().__len__() == 62, "nothing erased yet"
    token = csrf_token(console.admin, f"/admin/conversations/erase?site={SHOP}&user=alice")
    resp = console.admin.post("/admin/conversations/erase", data={"csrf_token": token, "site": SHOP,
                                                                   "user": "user:alice"})
    assert resp.status_code == 302 and "erased=60" in resp.location
    with console.app_context():
        left = {row.public_id for row in db.session.execute(select(Conversation)).scalars()}
    assert left == {console.bob, console.elsewhere}
    [event] = _events(console, "conversations.erase")
    assert json.loads(event.before)["conversations"] == 60 and "swordfish" not in event.before


def test_a_viewer_is_refused_every_action_and_nothing_changes(console):
    public_id = console.alice[0]
    token = csrf_token(console.viewer, f"/admin/conversations/{public_id}")
    for path, data in ((f"/admin/conversations/{public_id}/delete", {}),
                       ("/admin/conversations/export", {"site": SHOP, "user": "alice"}),
                       ("/admin/conversations/erase", {"site": SHOP, "user": "alice"})):
        resp = console.viewer.post(path, data={"csrf_token": token, **data})
        assert resp.status_code == 403 and "Not allowed" in resp.get_data(as_text=True), path
    assert console.viewer.get(f"/admin/conversations/erase?site={SHOP}&user=alice").status_code == 403
    assert _events(console) == []
    with console.app_context():
        assert len(db.session.execute(select(Conversation)).scalars().all()) == 62


def test_the_sites_retention_is_shown_and_linked_to_its_setting(console):
    html = console.admin.get(f"/admin/conversations?site={SHOP}").get_data(as_text=True)
    assert "90 days" in html and f'href="/admin/sites/{SHOP}#conversations"' in html
