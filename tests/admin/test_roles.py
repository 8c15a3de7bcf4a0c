"""Roles: a viewer reads everything and changes nothing; every state-changing route says which role it needs."""
import pytest
from werkzeug.routing import Rule

from aichat import audit
from aichat.admin import accounts
from aichat.admin.roles import role_required
from aichat.extensions import db
from aichat.models import AdminUser
from aichat.models.accounts import ROLES
from tests.admin.conftest import CONSOLE_PAGES, csrf_token, lock_admin, login

CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
# State-changing routes anyone may call: signing in and out, the chat endpoints and end users' conversations
# (their callers are browsers of allowed origins and client keys, never admins). Everything else that changes
# state names a role.
PUBLIC_CHANGES = {"admin.login_submit", "admin.logout", "proxy.chat", "openai.chat_completions",
                  "conversations.create", "conversations.rename", "conversations.remove", "conversations.erase",
                  "conversations.claim", "conversations.import_"}


def _changing_rules(app) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.methods & CHANGES and rule.endpoint not in PUBLIC_CHANGES]


def _url(rule: Rule) -> str:
    """The rule with every variable filled in, so the request reaches its view."""
    return rule.build({name: "admin" for name in rule.arguments})[1]


def test_every_state_changing_route_names_a_role_above_viewer(app):
    """Is there no way to change anything through a route that forgot its role_required?"""
    rules = _changing_rules(app)
    assert rules, "no state-changing admin route: this test would prove nothing"
    for rule in rules:
        role = getattr(app.view_functions[rule.endpoint], "required_role", None)
        assert role in ROLES and role != "viewer", f"{rule.rule} ({rule.endpoint}) changes state without role_required"


@pytest.fixture
def viewer_app(make_app, make_admin):
    """An owner, a viewer (with an API token), and a locked admin called `admin`: what the viewer may not unlock."""
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "owner", token=False)
    _, app.viewer_token = make_admin(app, "viewer", role="viewer")
    make_admin(app, "admin", token=False, role="admin")
    lock_admin(app, "admin")
    return app


def test_a_viewer_reads_every_page_and_is_refused_every_change(viewer_app):
    client = viewer_app.test_client()
    assert login(client, "viewer").status_code == 302
    for page in CONSOLE_PAGES:
        assert client.get(page).status_code == 200, page
    assert "Unlock" not in client.get("/admin/admins").get_data(as_text=True)
    token = csrf_token(client, "/admin/")
    for rule in _changing_rules(viewer_app):
        for method in sorted(rule.methods & CHANGES):
            resp = client.open(_url(rule), method=method, data={"csrf_token": token})
            assert resp.status_code == 403, f"a viewer's {method} {rule.rule} got {resp.status_code}"
            if rule.rule.startswith("/admin/"):
                assert "Not allowed" in resp.get_data(as_text=True)
            if rule.rule.startswith("/api/"):
                bearer = {"Authorization": f"Bearer {viewer_app.viewer_token}"}
                resp = viewer_app.test_client().open(_url(rule), method=method, headers=bearer)
                assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"
    with viewer_app.app_context():
        assert accounts.get("admin").failed_logins == 5, "a refused change changed something"
        assert audit.events() == []


def test_an_owner_unlocks_from_the_console_and_it_is_audited(viewer_app):
    client = viewer_app.test_client()
    assert login(client, "admin").status_code == 423
    assert login(client, "owner").status_code == 302
    assert "Unlock" in client.get("/admin/admins").get_data(as_text=True)
    resp = client.post("/admin/admins/admin/unlock", data={"csrf_token": csrf_token(client, "/admin/admins")})
    assert resp.status_code == 302
    with viewer_app.app_context():
        assert accounts.get("admin").locked_until is None
        [event] = audit.events()
        assert (event.actor, event.action, event.target, event.address) == ("owner", "users.unlock", "admin",
                                                                             "127.0.0.1")
    missing = client.post("/admin/admins/nobody/unlock", data={"csrf_token": csrf_token(client, "/admin/admins")})
    assert missing.status_code == 404 and "No admin called" in missing.get_data(as_text=True)
    assert login(viewer_app.test_client(), "admin").status_code == 302


def test_an_admin_is_not_an_owner(viewer_app, make_admin):
    make_admin(viewer_app, "ops", token=False, role="admin")
    client = viewer_app.test_client()
    assert login(client, "ops").status_code == 302
    resp = client.post("/admin/admins/admin/unlock", data={"csrf_token": csrf_token(client, "/admin/")})
    assert resp.status_code == 403 and "needs the owner role" in resp.get_data(as_text=True)


@pytest.fixture
def json_change_app(make_app, make_admin):
    """An app with one state-changing JSON endpoint on a CSRF-exempt blueprint, as the monitoring API is."""
    from flask import Blueprint

    from aichat.api.auth import admin_required
    from aichat.extensions import csrf

    bp = Blueprint("json_change", __name__)
    csrf.exempt(bp)

    @bp.post("/api/v1/test-change")
    @admin_required
    @role_required("admin")
    def change():
        return {"changed": True}

    app = make_app()
    app.register_blueprint(bp)
    _, token = make_admin(app, "admin", role="admin")
    app.admin_token = token
    return app


def test_a_json_change_on_the_session_needs_the_csrf_token_and_a_bearer_token_does_not(json_change_app):
    """The session cookie rides along on any request, so a change on it must prove intent; a token needs not."""
    client = json_change_app.test_client()
    assert login(client).status_code == 302
    refused = client.post("/api/v1/test-change", json={})
    assert refused.status_code == 400 and refused.json["error"]["message"] == "The CSRF token is missing."
    token = csrf_token(client, "/admin/")
    assert client.post("/api/v1/test-change", json={}, headers={"X-CSRFToken": token}).status_code == 200
    bearer = {"Authorization": f"Bearer {json_change_app.admin_token}"}
    assert json_change_app.test_client().post("/api/v1/test-change", json={}, headers=bearer).status_code == 200
    assert json_change_app.test_client().post("/api/v1/test-change", json={}).status_code == 401


def test_role_required_refuses_an_unknown_role():
    with pytest.raises(ValueError, match="unknown role"):
        role_required("superuser")


# --- the CLI ---------------------------------------------------------------------------------------------------


def _role(app, username):
    with app.app_context():
        return accounts.get(username).role


def test_the_first_admin_is_an_owner_then_admins_unless_told(app, flask):
    pw = "correct horse battery\n"
    assert flask("users", "create-admin", "alice", "--password-stdin", input=pw).exit_code == 0
    assert flask("users", "create-admin", "bob", "--password-stdin", input=pw).exit_code == 0
    result = flask("users", "create-admin", "carol", "--role", "viewer", "--password-stdin", input=pw)
    assert result.exit_code == 0 and "Created viewer 'carol'" in result.stderr
    assert [_role(app, n) for n in ("alice", "bob", "carol")] == ["owner", "admin", "viewer"]
    bad = flask("users", "create-admin", "dave", "--role", "root", "--password-stdin", input=pw)
    assert bad.exit_code == 2 and "'root' is not one of" in bad.stderr
    assert flask("users", "set-role", "carol", "admin").exit_code == 0 and _role(app, "carol") == "admin"


@pytest.mark.parametrize("command", [("set-role", "alice", "admin"), ("set-role", "alice", "viewer"),
                                     ("disable", "alice"), ("remove", "alice", "--yes")])
def test_the_last_owner_cannot_be_demoted_disabled_or_removed(app, flask, make_admin, command):
    make_admin(app, "alice", token=False)
    make_admin(app, "bob", token=False, role="admin")
    make_admin(app, "olga", token=False)
    with app.app_context():
        accounts.set_active(accounts.get("olga"), False)  # a disabled owner manages nothing
    result = flask("users", *command)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "last active owner" in result.stderr and "Traceback" not in result.output
    with app.app_context():
        alice = accounts.find("alice")
        assert alice is not None and alice.role == "owner" and alice.is_active
    assert flask("users", "set-role", "bob", "owner").exit_code == 0
    assert flask("users", *command).exit_code == 0  # with another owner it goes through


def test_remove_deletes_the_admin_and_their_tokens(app, flask, make_admin):
    make_admin(app, "alice", token=False)
    make_admin(app, "bob")
    assert flask("users", "remove", "bob", "--yes").exit_code == 0
    with app.app_context():
        from aichat.models import ApiToken
        assert accounts.find("bob") is None
        assert db.session.execute(db.select(ApiToken)).first() is None
        assert [a.username for a in db.session.execute(db.select(AdminUser)).scalars()] == ["alice"]
    assert flask("users", "remove", "nobody", "--yes").exit_code == 1


def test_roles_rank_and_only_admins_and_owners_read_secrets():
    from aichat.admin.roles import can_read_secrets, has_role

    people = {role: AdminUser(username=role, role=role) for role in ROLES}
    assert [can_read_secrets(people[r]) for r in ROLES] == [False, True, True]
    assert [has_role(people[r], "admin") for r in ROLES] == [False, True, True]
    assert [has_role(people[r], "owner") for r in ROLES] == [False, False, True]
    assert not has_role(None, "viewer") and not has_role(AdminUser(username="x", role="root"), "viewer")
