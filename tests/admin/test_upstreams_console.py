"""The upstreams page: every form and action, its role and CSRF checks, its audit rows, and no key shown anywhere."""
from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select, text

from aichat import audit
from aichat.extensions import db
from aichat.models import ModelAlias, Upstream
from aichat.runtime import runtime_of
from aichat.upstreams import store
from tests.admin.conftest import csrf_token, login, signed_in
from tests.conftest import OPENAI_KEYS

SECRET = "sk-console-secret-never-shown-0123456789"
UPSTREAM = {"name": "deepseek", "kind": "openai", "base_url": "https://api.deepseek.com/v1",
            "models": "deepseek-chat,deepseek-*", "default_model": "", "priority": "5"}


@pytest.fixture
def console(make_app, make_admin):
    """An app with an admin and a viewer; `sign_in(name)` returns a client signed in as one and a CSRF token."""
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "admin", token=False, role="admin")
    make_admin(app, "viewer", token=False, role="viewer")

    def sign_in(name="admin"):
        return signed_in(app, name, "/admin/upstreams")

    app.sign_in = sign_in
    return app


def _add(client, token, **changes):
    return client.post("/admin/upstreams", data={"csrf_token": token, **UPSTREAM, **changes})


def _actions(app) -> list[str]:
    with app.app_context():
        return [row.action for row in reversed(audit.events())]


def _audit_text(app) -> str:
    with app.app_context():
        return " ".join(str(tuple(row)) for row in db.session.execute(text("SELECT * FROM audit_event")))


def _stored(app, name="deepseek") -> Upstream | None:
    with app.app_context():
        row = store.find(db.session, name)
        if row is not None:
            db.session.expunge(row)
        return row


def test_add_an_upstream_then_it_is_listed_and_audited(console):
    client, token = console.sign_in()
    resp = _add(client, token)
    assert resp.status_code == 302 and resp.location.endswith("/admin/upstreams/deepseek")
    row = _stored(console)
    assert (row.kind, row.base_url, row.model_list, row.default_model, row.priority, row.enabled) == (
        "openai", "https://api.deepseek.com/v1", ["deepseek-chat", "deepseek-*"], "deepseek-chat", 5, True)
    page = client.get("/admin/upstreams").get_data(as_text=True)
    assert 'id="upstream-deepseek"' in page and "no key" in page
    assert _actions(console) == ["upstreams.add"]


@pytest.mark.parametrize("field, value", [
    ("name", "Bad Name"), ("kind", "nope"), ("base_url", "ftp://x"), ("models", "  ,  "),
    ("default_model", "deepseek-*"), ("priority", "5000"), ("priority", "two"),
])
def test_a_bad_field_is_refused_with_the_error_next_to_it(console, field, value):
    client, token = console.sign_in()
    resp = _add(client, token, **{field: value})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(rf'<p class="field-error" id="{field}-error">[^<]+</p>', page), field
    assert f'id="{field}"' in page.split(f'id="{field}-error"')[0].rsplit('<div class="field', 1)[1]  # in its own field
    assert _stored(console) is None and _actions(console) == []


def test_a_taken_name_and_an_environment_name_are_refused(console, make_app, make_admin):
    client, token = console.sign_in()
    assert _add(client, token).status_code == 302
    resp = _add(client, token)
    assert resp.status_code == 400 and 'id="name-error"' in resp.get_data(as_text=True)


def test_edit_enable_disable_remove_each_audited(console):
    client, token = console.sign_in()
    _add(client, token)
    resp = client.post("/admin/upstreams/deepseek", data={"csrf_token": token, "base_url": "http://127.0.0.1:9/v1",
                                                         "models": "deepseek-chat", "default_model": "",
                                                         "priority": "7"})
    assert resp.status_code == 302
    row = _stored(console)
    assert (row.base_url, row.model_list, row.priority) == ("http://127.0.0.1:9/v1", ["deepseek-chat"], 7)
    resp = client.post("/admin/upstreams/deepseek", data={"csrf_token": token, "base_url": "nope", "models": "m",
                                                         "priority": "1"})
    assert resp.status_code == 400 and 'id="base_url-error"' in resp.get_data(as_text=True)
    assert client.post("/admin/upstreams/deepseek/disable", data={"csrf_token": token}).status_code == 302
    assert _stored(console).enabled is False
    assert client.post("/admin/upstreams/deepseek/enable", data={"csrf_token": token}).status_code == 302
    assert _stored(console).enabled is True
    assert client.post("/admin/upstreams/deepseek/remove", data={"csrf_token": token}).status_code == 302
    assert _stored(console) is None
    assert _actions(console) == ["upstreams.add", "upstreams.update", "upstreams.disable", "upstreams.enable",
                                 "upstreams.remove"]
    assert client.post("/admin/upstreams/deepseek/remove", data={"csrf_token": token}).status_code == 404


def test_keys_added_never_shown_and_switched_each_audited(console, caplog):
    caplog.set_level(logging.DEBUG)
    client, token = console.sign_in()
    _add(client, token)
    resp = client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "main", "secret": SECRET})
    assert resp.status_code == 302
    page = client.get("/admin/upstreams/deepseek").get_data(as_text=True)
    assert 'data-label="main"' in page and "sk-c" in page  # its hint
    assert SECRET not in page and SECRET[4:-4] not in page
    # The same key again, under another label: refused, and the field is empty again.
    resp = client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "again", "secret": SECRET})
    assert resp.status_code == 400 and 'id="secret-error"' in resp.get_data(as_text=True)
    assert SECRET not in resp.get_data(as_text=True)
    resp = client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "bad label", "secret": ""})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'id="label-error"' in body and 'id="secret-error"' in body
    for action in ("disable", "enable", "remove"):
        assert client.post(f"/admin/upstreams/deepseek/keys/{action}",
                           data={"csrf_token": token, "label": "main"}).status_code == 302
    assert _actions(console) == ["upstreams.add", "upstreams.keys.add", "upstreams.keys.disable",
                                 "upstreams.keys.enable", "upstreams.keys.remove"]
    assert SECRET not in _audit_text(console)
    assert SECRET not in caplog.text
    with console.app_context():
        assert SECRET not in " ".join(str(tuple(r)) for r in db.session.execute(text("SELECT * FROM upstream_key")))


def test_an_environment_upstream_is_shown_read_only_and_refused(gateway_app, make_admin):
    app = gateway_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "admin", token=False, role="admin")
    client = app.test_client()
    login(client, "admin")
    token = csrf_token(client, "/admin/upstreams")
    page = client.get("/admin/upstreams").get_data(as_text=True)
    row = page.split('id="upstream-openai"')[1].split("</tr>")[0]
    assert "from the environment (read-only)" in row and "Disable" not in row and "move-up" not in row
    detail = client.get("/admin/upstreams/openai").get_data(as_text=True)
    assert 'id="env-note"' in detail and 'id="edit-upstream"' not in detail and 'id="add-key"' not in detail
    for path, data in (("/admin/upstreams/openai/disable", {}), ("/admin/upstreams/openai/remove", {}),
                       ("/admin/upstreams/openai", {"base_url": "http://x", "models": "m", "priority": "0"}),
                       ("/admin/upstreams/openai/keys", {"label": "x", "secret": SECRET}),
                       ("/admin/upstreams/openai/keys/disable", {"label": "openai#1"}),
                       ("/admin/upstreams/openai/move", {"direction": "up"})):
        resp = client.post(path, data={"csrf_token": token, **data})
        assert resp.status_code == 409, path
        assert 'id="refusal"' in resp.get_data(as_text=True)
    assert _add(client, token, name="openai").status_code == 400
    assert _actions(app) == []
    assert all(key not in page + detail for key in OPENAI_KEYS)


def test_without_the_csrf_token_every_action_is_refused(console):
    client, token = console.sign_in()
    _add(client, token)
    client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "main", "secret": SECRET})
    before = _actions(console)
    for path, data in (("/admin/upstreams", UPSTREAM), ("/admin/upstreams/deepseek", UPSTREAM),
                       ("/admin/upstreams/deepseek/disable", {}), ("/admin/upstreams/deepseek/enable", {}),
                       ("/admin/upstreams/deepseek/remove", {}), ("/admin/upstreams/deepseek/move", {"direction": "up"}),
                       ("/admin/upstreams/deepseek/test", {}),
                       ("/admin/upstreams/deepseek/keys", {"label": "x", "secret": "sk-abcdefghijklmnopqrstu"}),
                       ("/admin/upstreams/deepseek/keys/disable", {"label": "main"}),
                       ("/admin/upstreams/deepseek/keys/remove", {"label": "main"}),
                       ("/admin/upstreams/-/aliases", {"alias": "fast", "target": "deepseek-chat"}),
                       ("/admin/upstreams/-/aliases/remove", {"alias": "fast"})):
        assert client.post(path, data=data).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    assert _actions(console) == before and _stored(console) is not None


def test_a_viewer_sees_no_action_and_is_refused_each(console):
    admin, token = console.sign_in()
    _add(admin, token)
    admin.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "main", "secret": SECRET})
    admin.post("/admin/upstreams/-/aliases", data={"csrf_token": token, "alias": "fast", "target": "deepseek-chat"})
    before = _actions(console)
    viewer, token = console.sign_in("viewer")
    index = viewer.get("/admin/upstreams").get_data(as_text=True)
    detail = viewer.get("/admin/upstreams/deepseek").get_data(as_text=True)
    assert 'id="upstream-deepseek"' in index and 'data-label="main"' in detail
    for marker in ('id="add-upstream"', 'id="alias-form"', "move-up", "move-down", 'class="switch"', ">Remove<"):
        assert marker not in index, marker
    for marker in ('id="edit-upstream"', 'id="add-key"', 'id="test-form"', 'id="remove-upstream"', 'class="switch"',
                   ">Disable<", ">Remove<"):
        assert marker not in detail, marker
    for path, data in (("/admin/upstreams", UPSTREAM), ("/admin/upstreams/deepseek", UPSTREAM),
                       ("/admin/upstreams/deepseek/disable", {}), ("/admin/upstreams/deepseek/remove", {}),
                       ("/admin/upstreams/deepseek/move", {"direction": "up"}), ("/admin/upstreams/deepseek/test", {}),
                       ("/admin/upstreams/deepseek/keys", {"label": "x", "secret": "sk-abcdefghijklmnopqrstu"}),
                       ("/admin/upstreams/deepseek/keys/remove", {"label": "main"}),
                       ("/admin/upstreams/-/aliases", {"alias": "slow", "target": "x"}),
                       ("/admin/upstreams/-/aliases/remove", {"alias": "fast"})):
        assert viewer.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert _actions(console) == before


def test_moving_rewrites_priorities_into_the_new_fallback_order(console):
    client, token = console.sign_in()
    for name, priority in (("alpha", "5"), ("bravo", "5"), ("charlie", "1")):
        _add(client, token, name=name, priority=priority)

    def order():
        page = client.get("/admin/upstreams").get_data(as_text=True)
        return re.findall(r'<tr id="upstream-([a-z]+)"', page)

    assert order() == ["alpha", "bravo", "charlie"]
    page = client.get("/admin/upstreams").get_data(as_text=True)
    first = page.split('id="upstream-alpha"')[1].split("</tr>")[0]
    last = page.split('id="upstream-charlie"')[1].split("</tr>")[0]
    assert "move-up" not in first and "move-down" in first and "move-down" not in last
    assert client.post("/admin/upstreams/charlie/move", data={"csrf_token": token, "direction": "up"}).status_code == 302
    assert order() == ["alpha", "charlie", "bravo"]
    client.post("/admin/upstreams/charlie/move", data={"csrf_token": token, "direction": "up"})
    assert order() == ["charlie", "alpha", "bravo"]
    client.post("/admin/upstreams/alpha/move", data={"csrf_token": token, "direction": "down"})
    assert order() == ["charlie", "bravo", "alpha"]
    with console.app_context():
        priorities = {row.name: row.priority for row in store.all_upstreams(db.session)}
    assert priorities["charlie"] > priorities["bravo"] > priorities["alpha"]
    assert _actions(console).count("upstreams.update") >= 3
    resp = client.post("/admin/upstreams/alpha/move", data={"csrf_token": token, "direction": "sideways"})
    assert resp.status_code == 400


def test_aliases_are_data_merged_under_the_environments_and_routed_without_restart(gateway_app, make_admin):
    app = gateway_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute", AICHAT_MODEL_ALIASES={"latest": "gemini-2.5-flash"})
    make_admin(app, "admin", token=False, role="admin")
    client = app.test_client()
    login(client, "admin")
    token = csrf_token(client, "/admin/upstreams")
    version = _version(app)
    resp = client.post("/admin/upstreams/-/aliases", data={"csrf_token": token, "alias": "fast",
                                                           "target": "gpt-4o-mini"})
    assert resp.status_code == 302 and _version(app) == version + 1
    page = client.get("/admin/upstreams").get_data(as_text=True)
    assert 'data-alias="fast"' in page and 'data-alias="latest"' in page
    env_row = page.split('data-alias="latest"')[1].split("</tr>")[0]
    assert "environment (read-only)" in env_row and "Remove" not in env_row
    runtime_of(app).live.poll()
    assert runtime_of(app).gateway.router.resolve("fast").model == "gpt-4o-mini"
    assert "fast" in runtime_of(app).gateway.router.known_models()
    # An environment alias cannot be set or removed here.
    resp = client.post("/admin/upstreams/-/aliases", data={"csrf_token": token, "alias": "latest", "target": "x"})
    assert resp.status_code == 400 and 'id="alias-error"' in resp.get_data(as_text=True)
    resp = client.post("/admin/upstreams/-/aliases/remove", data={"csrf_token": token, "alias": "latest"})
    assert resp.status_code == 409
    for alias, target, field in (("has space", "m", "alias"), ("ok", "", "target"), ("same", "same", "target"),
                                 ("wild*", "m", "alias")):
        resp = client.post("/admin/upstreams/-/aliases", data={"csrf_token": token, "alias": alias, "target": target})
        assert resp.status_code == 400 and f'id="{field}-error"' in resp.get_data(as_text=True), alias
    resp = client.post("/admin/upstreams/-/aliases/remove", data={"csrf_token": token, "alias": "fast"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.execute(select(ModelAlias)).scalars().all() == []
    assert _actions(app) == ["upstreams.aliases.set", "upstreams.aliases.remove"]
    runtime_of(app).live.poll()
    assert "fast" not in runtime_of(app).gateway.router.aliases


def _version(app) -> int:
    with app.app_context():
        return store.config_version(db.session)


def test_the_test_button_shows_the_answer_or_the_redacted_error(console, fake_openai, caplog):
    caplog.set_level(logging.DEBUG)
    client, token = console.sign_in()
    _add(client, token, base_url=fake_openai.base_url, models="gpt-4o-mini")
    client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "good", "secret": OPENAI_KEYS[0]})
    # A key not shaped like one (only the key itself can redact it), which the upstream quotes in its refusal.
    plain = "plainsecret0123456789abcdefXYZ"
    client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "bad", "secret": plain})
    fake_openai.plan(key=plain, echo_key=True)
    resp = client.post("/admin/upstreams/deepseek/test", data={"csrf_token": token, "label": "good"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    result = page.split('id="test-result"')[1].split("</div>")[0]
    assert "OK" in result and "gpt-4o-mini" in result and "Echo:" in result
    resp = client.post("/admin/upstreams/deepseek/test", data={"csrf_token": token, "label": "bad"})
    page = resp.get_data(as_text=True)
    result = page.split('id="test-result"')[1].split("</div>")[0]
    assert "Failed" in result and "upstream_key_invalid" in result and "401" in result
    assert fake_openai.requests[-1].key == plain
    assert plain not in page and OPENAI_KEYS[0] not in page and plain not in caplog.text
    assert fake_openai.requests[-1].json["max_tokens"] <= 5 or fake_openai.requests[-1].json.get(
        "max_completion_tokens", 99) <= 5
    # A test is not traffic: no usage row, and no audit row (nothing changed).
    with console.app_context():
        assert db.session.execute(text("SELECT count(*) FROM ai_usage_log")).scalar() == 0
    assert "upstreams.test" not in _actions(console)


def test_the_list_shows_live_health_benched_keys_and_the_error_rate(console, fake_openai):
    from aichat.usage.days import today, usage_zone
    from aichat.usage.rollup import recompute_day
    from tests.conftest import CLIENT_KEY, usage_rows

    client, token = console.sign_in()
    _add(client, token, base_url=fake_openai.base_url, models="gpt-4o-mini")
    client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "good", "secret": OPENAI_KEYS[0]})
    client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "bad", "secret": SECRET})
    assert runtime_of(console).live.poll()
    api = console.test_client()
    for _ in range(3):
        resp = api.post("/v1/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 200, resp.get_data(as_text=True)
    rows = usage_rows(console, at_least=4)
    assert {r["key_label"] for r in rows} == {"good", "bad"}
    with console.app_context():
        recompute_day(db.engine, today(usage_zone(console.config)), usage_zone(console.config))
    page = client.get("/admin/upstreams?period=today").get_data(as_text=True)
    row = page.split('id="upstream-deepseek"')[1].split("</tr>")[0]
    errors = sum(r["status"] == "error" for r in rows)
    assert f'<td class="num">{len(rows)}</td>' in row
    assert f"{100 * errors / len(rows):.1f}%" in row
    assert "closed" in row and "bad (benched)" in row and "upstream_key_invalid" in row
    detail = client.get("/admin/upstreams/deepseek").get_data(as_text=True)
    bad = detail.split('data-label="bad"')[1].split("</tr>")[0]
    assert "benched" in bad and SECRET not in detail


def test_a_change_that_meets_another_made_meanwhile_is_a_409_not_a_500(console, monkeypatch):
    from aichat.gateway.specs import SpecError
    from aichat.upstreams import aliases

    client, token = console.sign_in()

    def raced(*args, **kwargs):
        raise SpecError("the change conflicts with another made at the same time: try again")

    monkeypatch.setattr(aliases, "set_alias", raced)
    resp = client.post("/admin/upstreams/-/aliases", data={"csrf_token": token, "alias": "fast", "target": "m"})
    assert resp.status_code == 409 and 'id="page-error"' in resp.get_data(as_text=True)
    assert _actions(console) == []


def test_a_key_the_log_benches_says_why_in_the_page_s_language(console):
    """A key refused as invalid after its last success (as the usage log tells it, whatever this process saw)
    reads as benched, with when and the HTTP status, in Chinese on a Chinese page."""
    from datetime import datetime, timedelta, timezone

    from tests.usage.factories import log_row, write_logs

    client, token = console.sign_in()
    _add(client, token)
    client.post("/admin/upstreams/deepseek/keys", data={"csrf_token": token, "label": "old", "secret": SECRET})
    now = datetime.now(timezone.utc)
    write_logs(console, [
        log_row(now - timedelta(minutes=30), upstream="deepseek", provider="openai", key_label="old"),
        log_row(now - timedelta(minutes=5), upstream="deepseek", provider="openai", key_label="old", status="error",
                http_status=401, error_code="upstream_key_invalid", cost=None, currency=None)])
    client.set_cookie("aichat_lang", "zh_CN")
    detail = client.get("/admin/upstreams/deepseek").get_data(as_text=True)
    row = detail.split('data-label="old"')[1].split("</tr>")[0]
    assert "被拒绝为无效密钥（HTTP 401）" in row and "since" not in row
    write_logs(console, [log_row(now - timedelta(minutes=1), upstream="deepseek", provider="openai", key_label="old")])
    row = client.get("/admin/upstreams/deepseek").get_data(as_text=True).split('data-label="old"')[1].split("</tr>")[0]
    assert "无效密钥" not in row, "a success after the refusal ends the bench"
