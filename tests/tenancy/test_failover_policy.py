"""Failover never moves a call to a model its caller may not use: a key's models, a site's preset."""
from __future__ import annotations

import pytest

from aichat.extensions import db
from aichat.models import ClientKey, Site
from aichat.runtime import runtime_of
from aichat.tenancy.store import bump, dumps, new_client_key, new_publishable_key
from tests.conftest import OPENAI_KEYS

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def app(gateway_app):
    """OpenAI first, Gemini in the fallback chain; a key of the local site that may use only gpt-4o models."""
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai", "gemini"], AICHAT_CONFIG_POLL_INTERVAL=0)
    keys = {}
    with app.app_context():
        local = db.session.execute(db.select(Site).where(Site.domain == "localhost")).scalar_one()
        for name, models in (("narrow", ["gpt-4o*"]), ("wide", [])):
            key, prefix, digest = new_client_key()
            local.keys.append(ClientKey(name=name, prefix=prefix, key_hash=digest, models=dumps(models)))
            keys[name] = key
        bump(db.session)
        db.session.commit()
    runtime_of(app).tenancy.poll()
    app.keys = keys
    return app


def _openai_down(fake_openai):
    for key in OPENAI_KEYS:
        fake_openai.plan(key=key, status=500, times=5)


@pytest.mark.parametrize("which, status, gemini_calls", [("narrow", 502, 0), ("wide", 200, 1)])
def test_a_key_limited_to_some_models_is_not_failed_over_to_another(app, fake_openai, fake_gemini, which, status,
                                                                     gemini_calls):
    _openai_down(fake_openai)
    resp = app.test_client().post("/v1/chat/completions", json=BODY,
                                  headers={"Authorization": f"Bearer {app.keys[which]}"})
    assert resp.status_code == status, resp.json
    assert len(fake_gemini.requests) == gemini_calls


def test_a_sites_allowed_models_bound_failover_for_its_pages(app, fake_openai, fake_gemini):
    with app.app_context():
        db.session.add(Site(domain="shop.example", name="Shop", publishable_key=new_publishable_key(),
                            origins=dumps(["https://shop.example"]), preset=dumps({"allowed_models": ["gpt-4o*"]})))
        bump(db.session)
        db.session.commit()
    runtime_of(app).tenancy.poll()
    _openai_down(fake_openai)
    resp = app.test_client().post("/api/v1/ai-proxy/chat", json={**BODY, "suggestions": False},
                                  headers={"Origin": "https://shop.example"})
    assert resp.status_code == 502 and fake_gemini.requests == []


def test_a_page_may_name_an_alias_of_a_model_its_site_allows(app, fake_gemini):
    """gemini-2.5-flash-latest is an alias of gemini-2.5-flash (the default aliases): allowed as that model."""
    with app.app_context():
        db.session.add(Site(domain="shop.example", name="Shop", publishable_key=new_publishable_key(),
                            origins=dumps(["https://shop.example"]),
                            preset=dumps({"allowed_models": ["gemini-2.5-flash"]})))
        bump(db.session)
        db.session.commit()
    runtime_of(app).tenancy.poll()
    client = app.test_client()
    for model, status in (("gemini-2.5-flash-latest", 200), ("gemini-2.5-pro", 400)):
        resp = client.post("/api/v1/ai-proxy/chat", json={**BODY, "model": model, "suggestions": False},
                           headers={"Origin": "https://shop.example"})
        assert resp.status_code == status, resp.json
    assert len(fake_gemini.requests) == 1
