"""The admins page: an owner adds, disables and enables, resets passwords, changes roles, unlocks and removes admins;
every change is audited without a password; refusals are shown next to their field with a 4xx."""
from __future__ import annotations

import re

import pytest

from aichat import audit
from aichat.admin import accounts
from aichat.models import AuditEvent
from aichat.extensions import db
from tests.admin.conftest import PASSWORD, csrf_token, lock_admin, login

NEW_PASSWORD = "a brand new passphrase 42"
_ERROR = re.compile(r'<p class="field-error" id="([a-z_]+)-error">([^<]+)</p>')


@pytest.fixture
def owners_app(make_app, make_admin):
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "owner", token=False)
    make_admin(app, "ops", token=False, role="admin")
    make_admin(app, "viewer", token=False, role="viewer")
    return app


def signed_in(app, username: str = "owner"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    client.token = csrf_token(client, "/admin/admins")
    return client


def post(client, path: str, **form):
    return client.post(f"/admin/admins{path}", data={"csrf_token": client.token, **form})


def errors(resp) -> dict[str, str]:
    """The errors shown next to fields: field name → message."""
    return dict(_ERROR.findall(resp.get_data(as_text=True)))


def events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = audit.events()
        db.session.expunge_all()
        return rows


def no_password_in_audit(app, *passwords: str) -> None:
    with app.app_context():
        for row in audit.events():
            for password in passwords:
                assert password not in f"{row.before} {row.after} {row.target}", row.action


def test_an_owner_adds_an_admin_with_a_typed_password_who_can_then_sign_in(owners_app):
    client = signed_in(owners_app)
    resp = post(client, "/new", username="carol", role="admin", password=NEW_PASSWORD, password_repeat=NEW_PASSWORD)
    assert resp.status_code == 302
    page = client.get("/admin/admins").get_data(as_text=True)
    assert "Added carol." in page and 'id="admin-carol"' in page
    assert login(owners_app.test_client(), "carol", NEW_PASSWORD).status_code == 302
    [event] = events(owners_app)
    assert (event.actor, event.action, event.target) == ("owner", "users.create", "carol")
    assert '"role": "admin"' in event.after
    no_password_in_audit(owners_app, NEW_PASSWORD)


def test_a_generated_password_is_shown_once_and_works(owners_app):
    client = signed_in(owners_app)
    resp = post(client, "/new", username="dave", role="viewer", generate="1")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    generated = re.search(r'id="generated-password">([^<]+)<', resp.get_data(as_text=True)).group(1)
    assert len(generated) >= accounts.MIN_PASSWORD_LENGTH
    assert generated not in client.get("/admin/admins").get_data(as_text=True), "shown a second time"
    assert login(owners_app.test_client(), "dave", generated).status_code == 302
    no_password_in_audit(owners_app, generated)


@pytest.mark.parametrize("form, field, message", [
    ({"username": "bad name!", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}, "username", "1 to 64"),
    ({"username": "OPS", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}, "username", "already exists"),
    ({"username": "erin", "password": "short", "password_repeat": "short"}, "password", "At least 12"),
    ({"username": "erin", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD + "x"}, "password_repeat",
     "differ"),
    ({"username": "erin", "role": "superuser", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}, "role",
     "roles offered"),
])
def test_a_new_admin_with_a_bad_field_is_refused_next_to_it(owners_app, form, field, message):
    client = signed_in(owners_app)
    resp = post(client, "/new", **{"role": "admin", **form})
    assert resp.status_code == 400
    assert message in errors(resp)[field]
    assert f'value="{form["username"]}"' in resp.get_data(as_text=True).replace("&#39;", "'") or "!" in form["username"]
    assert events(owners_app) == []
    with owners_app.app_context():
        assert accounts.find("erin") is None


def test_disable_and_enable_take_effect_and_are_audited(owners_app):
    client = signed_in(owners_app)
    ops = signed_in(owners_app, "ops")
    assert post(client, "/ops/active", active="0").status_code == 302
    assert ops.get("/admin/").status_code == 302, "a disabled admin's session goes on"
    assert login(owners_app.test_client(), "ops").status_code == 401
    assert post(client, "/ops/active", active="1").status_code == 302
    assert login(owners_app.test_client(), "ops").status_code == 302
    assert [e.action for e in events(owners_app)] == ["users.enable", "users.disable"]


def test_resetting_a_password_ends_the_admins_sessions_and_is_audited_without_it(owners_app):
    client = signed_in(owners_app)
    ops = signed_in(owners_app, "ops")
    resp = post(client, "/ops/password", password=NEW_PASSWORD, password_repeat=NEW_PASSWORD)
    assert resp.status_code == 302
    assert ops.get("/admin/").status_code == 302, "the old session outlived the new password"
    assert login(owners_app.test_client(), "ops", NEW_PASSWORD).status_code == 302
    assert login(owners_app.test_client(), "ops", PASSWORD).status_code == 401
    [event] = events(owners_app)
    assert event.action == "users.set_password" and event.before is None
    no_password_in_audit(owners_app, NEW_PASSWORD, PASSWORD)


def test_an_owner_resetting_their_own_password_stays_signed_in(owners_app):
    client = signed_in(owners_app)
    other = signed_in(owners_app)
    resp = post(client, "/owner/password", generate="1")
    assert resp.status_code == 200 and 'id="generated-password"' in resp.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200
    assert other.get("/admin/").status_code == 302, "the owner's other session goes on"


def test_a_bad_new_password_is_refused_in_that_admins_row(owners_app):
    client = signed_in(owners_app)
    resp = post(client, "/ops/password", password=NEW_PASSWORD, password_repeat="something else entirely")
    assert resp.status_code == 400 and "differ" in errors(resp)["password_repeat"]
    assert '<details open>' in resp.get_data(as_text=True)
    assert events(owners_app) == []


def test_changing_a_role_applies_and_is_audited(owners_app):
    client = signed_in(owners_app)
    assert post(client, "/viewer/role", role="admin").status_code == 302
    [event] = events(owners_app)
    assert event.action == "users.set_role" and '"role": "viewer"' in event.before and '"role": "admin"' in event.after
    bad = post(client, "/viewer/role", role="root")
    assert bad.status_code == 400 and "roles offered" in errors(bad)["role"]


def test_the_last_owner_cannot_be_demoted_disabled_or_removed(owners_app):
    client = signed_in(owners_app)
    for path, form, field in (("/owner/role", {"role": "admin"}, "role"), ("/owner/active", {"active": "0"}, "active"),
                              ("/owner/remove", {"confirm": "owner"}, "confirm")):
        resp = post(client, path, **form)
        assert resp.status_code == 400, path
        assert "last active owner" in errors(resp)[field], path
    with owners_app.app_context():
        owner = accounts.get("owner")
        assert (owner.role, owner.is_active) == ("owner", True)
    assert events(owners_app) == []
    # With a second owner, the first may step down.
    assert post(client, "/ops/role", role="owner").status_code == 302
    assert post(client, "/owner/role", role="admin").status_code == 302


def test_removing_needs_the_name_typed_and_is_audited(owners_app):
    client = signed_in(owners_app)
    refused = post(client, "/viewer/remove", confirm="someone")
    assert refused.status_code == 400 and "Type the username" in errors(refused)["confirm"]
    assert post(client, "/viewer/remove", confirm="viewer").status_code == 302
    with owners_app.app_context():
        assert accounts.find("viewer") is None
    [event] = events(owners_app)
    assert (event.action, event.target, event.after) == ("users.remove", "viewer", None)


def test_unlock_clears_the_lock(owners_app):
    lock_admin(owners_app, "ops")
    client = signed_in(owners_app)
    assert "Unlock" in client.get("/admin/admins").get_data(as_text=True)
    assert post(client, "/ops/unlock").status_code == 302
    assert login(owners_app.test_client(), "ops").status_code == 302
    assert [e.action for e in events(owners_app)] == ["users.unlock"]


def test_an_unknown_admin_is_a_404(owners_app):
    client = signed_in(owners_app)
    for path in ("/nobody/role", "/nobody/active", "/nobody/password", "/nobody/remove", "/nobody/unlock"):
        resp = post(client, path, role="admin", active="0", confirm="nobody", generate="1")
        assert resp.status_code == 404 and "No admin called nobody" in resp.get_data(as_text=True), path


ACTIONS = [("/new", {"username": "zed", "role": "admin", "generate": "1"}), ("/viewer/role", {"role": "admin"}),
           ("/viewer/active", {"active": "0"}), ("/viewer/password", {"generate": "1"}), ("/viewer/unlock", {}),
           ("/viewer/remove", {"confirm": "viewer"})]


@pytest.mark.parametrize("who", ["ops", "viewer"])
def test_only_an_owner_may_manage_admins(owners_app, who):
    client = signed_in(owners_app, who)
    lock_admin(owners_app, "viewer")
    page = client.get("/admin/admins").get_data(as_text=True)
    assert "Add an admin" not in page and "Manage" not in page and "Unlock" not in page
    for path, form in ACTIONS:
        resp = post(client, path, **form)
        assert resp.status_code == 403 and "needs the owner role" in resp.get_data(as_text=True), path
    assert events(owners_app) == []
    with owners_app.app_context():
        assert accounts.find("zed") is None and accounts.get("viewer").role == "viewer"


def test_every_action_needs_the_csrf_token(owners_app):
    client = signed_in(owners_app)
    for path, form in ACTIONS:
        assert client.post(f"/admin/admins{path}", data=form).status_code == 400, path
    assert events(owners_app) == []


def test_the_menu_marks_the_area_shown_and_not_the_dashboard(owners_app):
    page = signed_in(owners_app).get("/admin/admins").get_data(as_text=True)
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page)
    assert current == ["/admin/admins"]
