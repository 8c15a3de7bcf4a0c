"""The console's sites and client keys: every form and action, its CSRF token, its role, its audit row, its errors
next to the field; a new key or identity secret shown once and nowhere else; and in Chromium, a key issued and
revoked on the page and a preset changed on the page, obeyed by the live server without a restart."""
from __future__ import annotations

import json
import logging
import re
import time
from datetime import date

import pytest
import requests
from sqlalchemy import select

from aichat import audit
from aichat.extensions import db
from aichat.models import AIUsageStats, AuditEvent, ClientKey
from aichat.runtime import runtime_of
from aichat.tenancy import keys as key_store
from aichat.tenancy import sites as site_store
from tests.admin.conftest import PASSWORD, csrf_token, login
from tests.admin.test_pages_browser import WATCH

SHOP = "shop.example.com"
ORIGIN = "https://shop.example.com"
KEY = re.compile(r"aic_live_[A-Za-z0-9_-]{20,}")
SECRET = re.compile(r"aic_id_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def console(make_app, make_admin):
    """An app with a site, an admin and a viewer; `console.admin` and `console.viewer` are signed-in clients."""
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0.05, AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "admin", token=False, role="admin")
    make_admin(app, "viewer", token=False, role="viewer")
    with app.app_context():
        site_store.create_site(db.session, SHOP, [ORIGIN], limits={"tpd": 1000})
    app.admin, app.viewer = app.test_client(), app.test_client()
    assert login(app.admin, "admin").status_code == 302
    assert login(app.viewer, "viewer").status_code == 302
    return app


def _post(client, path, data=None, token_from="/admin/sites"):
    return client.post(path, data={"csrf_token": csrf_token(client, token_from), **(data or {})})


def _site_form(**changes) -> dict:
    form = {"domain": "blog.example.com", "name": "Blog", "origins": "https://blog.example.com",
            "client_system": "refuse", "currency": "USD", "allow_anonymous": "on", "suggestions": "on",
            "merge_anonymous": "on", "on_disconnect": "stop", "retention_days": "90"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _events(app, action=None) -> list[AuditEvent]:
    with app.app_context():
        rows = audit.events()
        return [row for row in rows if action is None or row.action == action]


def _field_error(html: str, field: str, prefix: str = "f") -> str:
    """The error shown under `field`, or '' when none is."""
    found = re.search(rf'<p class="field-error" id="{prefix}-{re.escape(field)}-error">([^<]*)</p>', html)
    return found.group(1) if found else ""


def test_the_list_shows_each_site_with_its_keys_and_last_7_days_of_usage(console):
    with console.app_context():
        site = site_store.find(db.session, SHOP)
        key_store.create(db.session, SHOP, name="backend")
        db.session.add(AIUsageStats(day=date.today(), site_id=site.id, site_domain=SHOP, upstream="openai",
                                    provider="openai", model="gpt-4o-mini", caller="", currency="USD", requests=1234,
                                    attempts=1234, successes=1234, prompt_tokens=5000, completion_tokens=678))
        # A row from before sites had ids names the domain only; one older than the week is not counted.
        db.session.add(AIUsageStats(day=date.today(), site_id=None, site_domain=SHOP, upstream="openai",
                                    provider="openai", model="m", caller="", currency="USD", requests=1000))
        db.session.add(AIUsageStats(day=date(2020, 1, 1), site_id=site.id, site_domain=SHOP, upstream="openai",
                                    provider="openai", model="m", caller="", currency="USD", requests=5))
        db.session.commit()
    html = console.admin.get("/admin/sites").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><a href=\"/admin/sites/shop.example.com\">.*?</tr>", html, re.S).group(0)
    assert ORIGIN in row and "2,234" in row and "5,678" in row and "Enabled" in row
    assert re.search(r'<td class="num">1</td>', row), "one client key"
    assert 'id="new-site"' in html
    assert 'id="new-site"' not in console.viewer.get("/admin/sites").get_data(as_text=True)


def test_an_admin_creates_a_site_audited_and_served_without_restart(console):
    resp = _post(console.admin, "/admin/sites", _site_form(max_tokens="64", allowed_models="gpt-4o*\ngemini*",
                                                           ip_deny="10.0.0.0/8", rpm="30", retention_days="30"),
                 "/admin/sites/new")
    assert resp.status_code == 302 and resp.location.endswith("/admin/sites/blog.example.com?saved=1")
    with console.app_context():
        site = site_store.site_dict(site_store.get(db.session, "blog.example.com"))
    assert site["preset"]["max_tokens"] == 64 and site["preset"]["allowed_models"] == ["gpt-4o*", "gemini*"]
    assert site["retention_days"] == 30 and len(_events(console)) == 1
    assert site["limits"]["rpm"] == 30 and site["ip_deny"] == ["10.0.0.0/8"] and site["name"] == "Blog"
    [event] = _events(console, "sites.create")
    assert event.actor == "admin" and event.target_type == "site" and event.target == "blog.example.com"
    assert json.loads(event.after)["preset"]["max_tokens"] == 64
    runtime_of(console).tenancy.poll()  # what each process does every AICHAT_CONFIG_POLL_INTERVAL (or did already)
    assert "blog.example.com" in {s.domain for s in runtime_of(console).directory.sites.values()}


@pytest.mark.parametrize("field, value", [
    ("domain", "not a domain!"), ("origins", "ftp://blog.example.com"), ("max_tokens", "many"),
    ("temperature_min", "7"), ("ip_allow", "999.1.1.1"), ("rpm", "-3"), ("cost_day", "lots"),
    ("currency", "dollars"), ("allowed_models", "*"), ("retention_days", "forever")])
def test_a_bad_field_is_named_next_to_it_with_a_400_and_nothing_changes(console, field, value):
    resp = _post(console.admin, "/admin/sites", _site_form(**{field: value}), "/admin/sites/new")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and _field_error(html, field), html[:3000]
    assert value in html or field == "origins", "what was typed stays in the form"
    with console.app_context():
        assert site_store.find(db.session, "blog.example.com") is None
    assert _events(console) == []


def test_errors_are_said_in_the_admins_language(console):
    resp = console.admin.post("/admin/sites", headers={"Accept-Language": "zh-CN"},
                              data={"csrf_token": csrf_token(console.admin, "/admin/sites/new"),
                                    **_site_form(domain="not a domain!", rpm="many")})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "主机名" in _field_error(html, "domain") and "整数" in _field_error(html, "rpm")


def test_rules_between_fields_and_clashes_with_other_sites_go_to_their_field(console):
    html = _post(console.admin, "/admin/sites", _site_form(temperature_min="1.5", temperature_max="0.5"),
                 "/admin/sites/new").get_data(as_text=True)
    assert "lowest temperature is above the highest" in _field_error(html, "temperature_min")
    resp = _post(console.admin, "/admin/sites", _site_form(origins=ORIGIN), "/admin/sites/new")
    assert resp.status_code == 400
    assert f"Another site ({SHOP}) lists this origin" in _field_error(resp.get_data(as_text=True), "origins")
    resp = _post(console.admin, "/admin/sites", _site_form(domain=SHOP, origins="https://x.example.com"),
                 "/admin/sites/new")
    assert resp.status_code == 400
    assert "A site with this domain already exists." == _field_error(resp.get_data(as_text=True), "domain")


def test_an_edit_changes_what_the_form_holds_and_is_audited_once(console):
    page = console.admin.get(f"/admin/sites/{SHOP}").get_data(as_text=True)
    assert 'id="limits-left"' in page or 'id="limits-left-none"' in page
    form = _site_form(domain=SHOP, name="Shop", origins=f"{ORIGIN}\nhttps://m.shop.example.com", max_tokens="32",
                      tpd="1000", retention_days="", on_disconnect="finish", merge_anonymous=None)
    resp = _post(console.admin, f"/admin/sites/{SHOP}", form, f"/admin/sites/{SHOP}")
    assert resp.status_code == 302
    with console.app_context():
        site = site_store.site_dict(site_store.get(db.session, SHOP))
    assert site["origins"] == ["https://m.shop.example.com", ORIGIN] and site["preset"]["max_tokens"] == 32
    assert site["retention_days"] is None and site["on_disconnect"] == "finish" and site["merge_anonymous"] is False
    [event] = _events(console, "sites.update")
    assert json.loads(event.before)["preset"]["max_tokens"] is None and json.loads(event.after)["preset"][
        "max_tokens"] == 32
    assert _post(console.admin, f"/admin/sites/{SHOP}", form, f"/admin/sites/{SHOP}").status_code == 302
    assert len(_events(console, "sites.update")) == 1, "saving the same form again records no change"
    bad = _post(console.admin, f"/admin/sites/{SHOP}", {**form, "rpm_user": "x"}, f"/admin/sites/{SHOP}")
    assert bad.status_code == 400 and "whole number" in _field_error(bad.get_data(as_text=True), "rpm_user")


def test_what_is_left_today_is_shown_for_each_limit(console):
    runtime_of(console).tenancy.poll()
    html = console.admin.get(f"/admin/sites/{SHOP}").get_data(as_text=True)
    row = re.search(r'<tr data-limit="tpd">.*?</tr>', html, re.S).group(0)
    assert row.count("1,000") == 2, "limit 1,000 and 1,000 left, nothing used yet"


def test_disable_enable_and_remove_are_audited(console):
    assert _post(console.admin, f"/admin/sites/{SHOP}/enabled", {"enabled": "0"}).status_code == 302
    with console.app_context():
        assert site_store.get(db.session, SHOP).enabled is False
    assert _post(console.admin, f"/admin/sites/{SHOP}/enabled", {"enabled": "1"}).status_code == 302
    confirm = console.admin.get(f"/admin/sites/{SHOP}/remove").get_data(as_text=True)
    assert 'id="remove-confirm"' in confirm
    assert _post(console.admin, f"/admin/sites/{SHOP}/remove").status_code == 302
    with console.app_context():
        assert site_store.find(db.session, SHOP) is None
    assert [e.action for e in reversed(_events(console))] == ["sites.disable", "sites.enable", "sites.remove"]
    local = _post(console.admin, "/admin/sites/localhost/remove")
    assert local.status_code == 409 and 'id="remove-refused"' in local.get_data(as_text=True)


def test_every_action_needs_its_csrf_token_and_the_admin_role(console):
    actions = [("/admin/sites", _site_form()), (f"/admin/sites/{SHOP}", _site_form(domain=SHOP)),
               (f"/admin/sites/{SHOP}/enabled", {"enabled": "0"}), (f"/admin/sites/{SHOP}/remove", {}),
               (f"/admin/sites/{SHOP}/identity-secret", {}), (f"/admin/sites/{SHOP}/keys", {"name": "x"})]
    with console.app_context():
        prefix = key_store.create(db.session, SHOP, name="k").row.prefix
    actions += [(f"/admin/sites/{SHOP}/keys/{prefix}/revoke", {}), (f"/admin/sites/{SHOP}/keys/{prefix}/rotate", {})]
    for path, data in actions:
        assert console.admin.post(path, data=data).status_code == 400, f"{path} without its CSRF token"
        resp = _post(console.viewer, path, data)
        assert resp.status_code == 403 and "Not allowed" in resp.get_data(as_text=True), path
    for path in ("/admin/sites/new", f"/admin/sites/{SHOP}/remove"):
        assert console.viewer.get(path).status_code == 403
    assert _events(console) == []
    with console.app_context():
        assert site_store.get(db.session, SHOP).enabled and not site_store.get(db.session, SHOP).identity_secret
        assert db.session.execute(select(ClientKey)).scalars().one().revoked_at is None


def test_a_viewer_reads_the_site_but_sees_no_button(console):
    with console.app_context():
        key_store.create(db.session, SHOP, name="k")
    html = console.viewer.get(f"/admin/sites/{SHOP}").get_data(as_text=True)
    assert 'id="key-list"' in html and "<fieldset class=\"card\" disabled>" in html
    for marker in ('id="save-site"', 'id="disable-site"', 'id="remove-site"', 'id="rotate-secret"', "data-revoke",
                   "data-rotate", 'id="issue-key"'):
        assert marker not in html, marker
    admin_html = console.admin.get(f"/admin/sites/{SHOP}").get_data(as_text=True)
    for marker in ('id="save-site"', 'id="disable-site"', 'id="remove-site"', 'id="rotate-secret"', "data-revoke",
                   "data-rotate", 'id="issue-key"'):
        assert marker in admin_html, marker


def _everything_after(app, client, caplog) -> str:
    """Every audit row, the site's pages and the captured logs, as one text to look for a secret in."""
    with app.app_context():
        rows = [json.dumps(dict(r._mapping), default=str) for r in db.session.execute(select(AuditEvent.__table__))]
    pages = [client.get(p).get_data(as_text=True) for p in ("/admin/sites", f"/admin/sites/{SHOP}", "/admin/audit")]
    return "\n".join(rows + pages + [caplog.text])


def test_a_new_client_key_is_shown_once_and_nowhere_else(console, caplog):
    caplog.set_level(logging.DEBUG)
    resp = _post(console.admin, f"/admin/sites/{SHOP}/keys",
                 {"name": "backend", "models": "gpt-4o*", "rpm": "60", "expires": "30d"}, f"/admin/sites/{SHOP}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    [key] = KEY.findall(html)
    with console.app_context():
        row = key_store.find(db.session, key)
        assert row.name == "backend" and row.json("models") == ["gpt-4o*"] and row.json("limits")["rpm"] == 60
        assert row.expires_at is not None
    [event] = _events(console, "keys.create")
    assert event.target == key[:17] and json.loads(event.after)["name"] == "backend"
    rest = _everything_after(console, console.admin, caplog)
    assert key[:17] in rest, "the pages and the audit row name the key by its prefix"
    assert key not in rest, "the key is shown on the page that issued it, and only there"
    with console.admin.session_transaction() as session:
        assert key not in json.dumps(dict(session), default=str)


def test_a_bad_key_form_is_named_next_to_its_field(console):
    for field, value in (("expires", "forever"), ("rpm", "0"), ("models", "*"), ("allow_ips", "nope"),
                         ("cost_day", "-1")):
        resp = _post(console.admin, f"/admin/sites/{SHOP}/keys", {"name": "k", field: value}, f"/admin/sites/{SHOP}")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and _field_error(html, field, "k"), (field, html[-3000:])
        assert not KEY.search(html)
    with console.app_context():
        assert db.session.execute(select(ClientKey)).first() is None


def test_revoke_and_rotate_from_the_page(console, caplog):
    with console.app_context():
        old = key_store.create(db.session, SHOP, name="spare").row.prefix
    assert _post(console.admin, f"/admin/sites/{SHOP}/keys/{old}/rotate", {"grace": "soon"},
                 f"/admin/sites/{SHOP}").status_code == 400
    resp = _post(console.admin, f"/admin/sites/{SHOP}/keys/{old}/rotate", {"grace": "1h"}, f"/admin/sites/{SHOP}")
    [new] = KEY.findall(resp.get_data(as_text=True))
    assert 'id="replaced"' in resp.get_data(as_text=True)
    assert [e.action for e in reversed(_events(console))] == ["keys.rotate", "keys.create"]
    page = console.admin.get(f"/admin/sites/{SHOP}").get_data(as_text=True)
    assert re.search(rf'data-prefix="{old}">.*?data-state="rotated"', page, re.S)
    assert _post(console.admin, f"/admin/sites/{SHOP}/keys/{new[:17]}/revoke").status_code == 302
    with console.app_context():
        assert key_store.find(db.session, new).revoked_at is not None
    [event] = _events(console, "keys.revoke")
    assert json.loads(event.after)["state"] == "revoked" and new not in _everything_after(console, console.admin,
                                                                                          caplog)
    again = _post(console.admin, f"/admin/sites/{SHOP}/keys/{old}/rotate", {"grace": "1h"}, f"/admin/sites/{SHOP}")
    assert again.status_code == 400 and "rotated already, to aic_live_" in again.get_data(as_text=True)
    assert console.admin.post(f"/admin/sites/{SHOP}/keys/aic_live_nothere/revoke",
                              data={"csrf_token": csrf_token(console.admin, "/admin/sites")}).status_code == 404


def test_each_keys_usage_over_the_chosen_period(console):
    with console.app_context():
        prefix = key_store.create(db.session, SHOP, name="k").row.prefix
        site = site_store.find(db.session, SHOP)
        db.session.add(AIUsageStats(day=date(2026, 1, 10), site_id=site.id, site_domain=SHOP, upstream="openai",
                                    provider="openai", model="m", caller=prefix, currency="USD", requests=4321,
                                    attempts=4321, successes=4321))
        db.session.commit()
    week = console.admin.get(f"/admin/sites/{SHOP}").get_data(as_text=True)
    assert "4,321" not in week
    custom = console.admin.get(f"/admin/sites/{SHOP}?period=custom&from=2026-01-01&to=2026-01-31").get_data(
        as_text=True)
    assert re.search(rf'data-prefix="{prefix}">.*?4,321', custom, re.S)


def test_the_identity_secret_is_shown_once_to_an_admin_and_nowhere_else(console, caplog):
    caplog.set_level(logging.DEBUG)
    first = _post(console.admin, f"/admin/sites/{SHOP}/identity-secret", {}, f"/admin/sites/{SHOP}")
    [secret] = SECRET.findall(first.get_data(as_text=True))
    assert first.headers["Cache-Control"] == "no-store"
    bad = _post(console.admin, f"/admin/sites/{SHOP}/identity-secret", {"secret_grace": "a while"},
                f"/admin/sites/{SHOP}")
    assert bad.status_code == 400 and _field_error(bad.get_data(as_text=True), "secret_grace")
    second = _post(console.admin, f"/admin/sites/{SHOP}/identity-secret", {"secret_grace": "2h"},
                   f"/admin/sites/{SHOP}")
    [rotated] = SECRET.findall(second.get_data(as_text=True))
    assert rotated != secret
    assert [e.action for e in reversed(_events(console))] == ["sites.identity_secret.create",
                                                              "sites.identity_secret.rotate"]
    rest = _everything_after(console, console.admin, caplog)
    assert secret not in rest and rotated not in rest
    assert "Set" in console.viewer.get(f"/admin/sites/{SHOP}").get_data(as_text=True)


# --- in Chromium, against a live server ------------------------------------------------------------


def _sign_in(page, base):
    page.goto(base + "/admin/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture
def live(gateway_app, make_admin, live_server, page):
    app = gateway_app(AICHAT_CONFIG_POLL_INTERVAL=0.05)
    make_admin(app, "admin", token=False, role="admin")
    with app.app_context():
        site_store.create_site(db.session, SHOP, [ORIGIN])
    runtime_of(app).jobs.start()  # as a served worker does after fork: the tenancy poll among them
    base = live_server(app)
    page.add_init_script(WATCH)
    _sign_in(page, base)
    yield app, base, page
    assert page.evaluate("window.__violations") == [], "the pages keep the Content-Security-Policy"


def _chat(base, key, **body):
    return requests.post(base + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body})


def test_a_key_issued_on_the_page_works_and_stops_when_revoked_there(live):
    app, base, page = live
    for path in ("/admin/sites", "/admin/sites/new", "/admin/conversations"):
        assert page.goto(base + path).status == 200, path
    page.click("text=Sites")
    page.click(f"text={SHOP}")
    page.click("details.issue summary")
    page.fill("#k-name", "browser test")
    page.click("#issue-key-submit")
    key = page.inner_text("#new-key").strip()
    assert KEY.fullmatch(key)
    assert _until(lambda: _chat(base, key).status_code == 200), "the running server accepts the new key"
    assert _chat(base, key).json()["choices"][0]["message"]["content"]
    page.click("#back")
    assert key not in page.content(), "the key is not shown again"
    page.reload()
    assert key not in page.content()
    page.click(f"[data-revoke='{key[:17]}']")
    page.wait_for_load_state()
    assert page.get_attribute(f"tr[data-prefix='{key[:17]}'] .key-state", "data-state") == "revoked"
    assert _until(lambda: _chat(base, key).status_code == 401), "the revoked key is refused, no restart"
    assert "revoked" in _chat(base, key).json()["error"]["message"]


def test_a_preset_changed_on_the_page_is_obeyed_by_the_next_chat(live):
    app, base, page = live
    url = base + "/api/v1/ai-proxy/chat"
    body = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False, "max_tokens": 50,
            "model": "gpt-4o-mini"}
    headers = {"Origin": ORIGIN}
    assert _until(lambda: requests.post(url, json=body, headers=headers, timeout=10).status_code == 200)
    page.goto(f"{base}/admin/sites/{SHOP}")
    page.fill("#f-max_tokens", "20")
    page.fill("#f-allowed_models", "gemini*")
    page.click("#save-site")
    page.wait_for_load_state()
    assert page.is_visible("#saved")

    def refused():
        return requests.post(url, json=body, headers=headers, timeout=10).status_code == 400

    assert _until(refused), "the running server applies the new preset"
    answer = requests.post(url, json=body, headers=headers, timeout=10)
    assert "max_tokens" in answer.json()["error"]["message"] or "allowed_models" in answer.json()["error"]["message"]
    within = requests.post(url, json={**body, "max_tokens": 10, "model": "gemini-2.5-flash"}, headers=headers,
                           timeout=10)
    assert within.status_code == 200, within.text
    wrong_model = requests.post(url, json={**body, "max_tokens": 10}, headers=headers, timeout=10)
    assert wrong_model.status_code == 400 and "allowed_models" in wrong_model.json()["error"]["message"]


def test_key_usage_on_the_page_matches_the_caller_summary(console):
    """Does the page's one grouped query count a key's usage as usage/queries.caller_summary does?"""
    from aichat.admin.period import choose
    from aichat.usage.by_site import per_key
    from aichat.usage.queries import caller_summary

    with console.app_context():
        prefix = key_store.create(db.session, SHOP, name="k").row.prefix
        site = site_store.find(db.session, SHOP)
        for day, model, currency, cost in ((date.today(), "a", "USD", "0.5"), (date.today(), "b", "USD", "0.25"),
                                           (date.today(), "b", "EUR", "1"), (date(2020, 1, 1), "a", "USD", "9")):
            db.session.add(AIUsageStats(day=day, site_id=site.id, site_domain=SHOP, upstream="u", provider="openai",
                                        model=model, caller=prefix, currency=currency, requests=7, attempts=7,
                                        successes=7, prompt_tokens=11, completion_tokens=13, cost=cost))
        db.session.commit()
        period = choose({"period": "30"}, console.config).period
        ours, theirs = per_key(db.session, period, [prefix])[prefix], caller_summary(db.session, period, prefix)
    assert ours["requests"] == theirs["requests"] == 21 and ours["cost"] == theirs["cost"] == {"EUR": "1",
                                                                                                "USD": "0.75"}
    assert ours["tokens"]["total"] == theirs["tokens"]["total"] == 72
