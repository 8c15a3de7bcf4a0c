"""Which site a chat request belongs to: its client key's, or the site of its Origin or publishable key."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from aichat.extensions import db
from aichat.models import ClientKey, Site
from aichat.runtime import runtime_of
from aichat.tenancy.store import bump, dumps, new_client_key, new_publishable_key
from tests.conftest import usage_rows

PROXY = "/api/v1/ai-proxy/chat"
V1 = "/v1/chat/completions"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}
SHOP = "https://shop.example"


@pytest.fixture
def shop(make_app):
    """An app with a site shop.example (origin https://shop.example), an off site, and keys of the shop."""
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0)
    keys = {}
    with app.app_context():
        site = Site(domain="shop.example", name="Shop", publishable_key=new_publishable_key(), origins=dumps([SHOP]))
        off = Site(domain="off.example", name="Off", publishable_key=new_publishable_key(), enabled=False,
                   origins=dumps(["https://off.example"]))
        closed = Site(domain="closed.example", name="Members", publishable_key=new_publishable_key(),
                      allow_anonymous=False, origins=dumps(["https://closed.example"]))
        now = datetime.now(timezone.utc)
        for name, extra in [("live", {}), ("revoked", {"revoked_at": now}),
                            ("expired", {"expires_at": now - timedelta(minutes=1)})]:
            key, prefix, digest = new_client_key()
            site.keys.append(ClientKey(name=name, prefix=prefix, key_hash=digest, **extra))
            keys[name] = key
        key, prefix, digest = new_client_key()
        off.keys.append(ClientKey(name="off", prefix=prefix, key_hash=digest))
        keys["off"] = key
        db.session.add_all([site, off, closed])
        bump(db.session)
        db.session.commit()
        pk = site.publishable_key
    runtime_of(app).tenancy.poll()
    return app, keys, pk


def _post(app, path=PROXY, **headers):
    return app.test_client().post(path, json=BODY, headers=headers)


def test_a_page_of_a_site_is_billed_to_that_site(shop):
    app, _, _ = shop
    assert _post(app, Origin=SHOP).status_code == 200
    assert usage_rows(app, at_least=1)[-1]["site_domain"] == "shop.example"


@pytest.mark.parametrize("origin, status, code", [
    ("https://evil.example", 403, "origin_not_allowed"),
    ("https://off.example", 403, "site_disabled"),
    ("https://closed.example", 401, "sign_in_required"),
])
def test_pages_that_may_not_call_are_refused_before_any_upstream(shop, origin, status, code):
    app, _, _ = shop
    resp = _post(app, Origin=origin)
    assert (resp.status_code, resp.json["error"]["code"]) == (status, code)
    assert usage_rows(app) == []


def test_a_publishable_key_names_the_site_and_must_agree_with_the_origin(shop):
    app, _, pk = shop
    assert _post(app, Origin=SHOP, **{"X-AIChat-Site": pk}).status_code == 200
    wrong = _post(app, Origin="https://www.example.org", **{"X-AIChat-Site": pk})
    assert (wrong.status_code, wrong.json["error"]["code"]) == (403, "origin_not_allowed")
    unknown = _post(app, Origin=SHOP, **{"X-AIChat-Site": "pk_nothing"})
    assert (unknown.status_code, unknown.json["error"]["code"]) == (403, "unknown_site")


@pytest.mark.parametrize("path", [PROXY, V1])
def test_a_site_key_is_billed_to_its_site_and_cannot_name_another(shop, path):
    app, keys, _ = shop
    bearer = f"Bearer {keys['live']}"
    assert _post(app, path, Authorization=bearer).status_code == 200
    row = usage_rows(app, at_least=1)[-1]
    assert row["site_domain"] == "shop.example" and row["caller"] == keys["live"][:17]
    other = app.test_client().post(path, json={**BODY, "site_domain": "elsewhere.example"},
                                   headers={"Authorization": bearer})
    assert other.status_code == 400 and other.json["error"]["code"] == "site_domain_not_allowed"


@pytest.mark.parametrize("which, status, words", [
    ("revoked", 401, "was revoked"), ("expired", 401, "expired at"), ("off", 403, "is disabled"),
])
@pytest.mark.parametrize("path", [PROXY, V1])
def test_keys_that_may_not_call_say_why_and_never_repeat_the_key(shop, which, status, words, path):
    app, keys, _ = shop
    resp = _post(app, path, Authorization=f"Bearer {keys[which]}")
    assert resp.status_code == status and words in resp.get_data(as_text=True)
    assert keys[which] not in resp.get_data(as_text=True)
    assert usage_rows(app) == []


def test_the_local_site_disabled_refuses_callers_without_an_origin(shop):
    app, _, _ = shop
    assert _post(app).status_code == 200
    with app.app_context():
        db.session.execute(db.update(Site).where(Site.domain == "localhost").values(enabled=False))
        bump(db.session)
        db.session.commit()
    runtime_of(app).tenancy.poll()
    resp = _post(app)
    assert (resp.status_code, resp.json["error"]["code"]) == (403, "site_disabled")
