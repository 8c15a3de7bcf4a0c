"""A stored client key on the chat surfaces: billed to its site, refused when revoked or expired (saying which,
never repeating the key), limited to its models, and its last use written at most once a minute."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import openai
import pytest
from sqlalchemy import select, update

from aichat.extensions import db
from aichat.models import ClientKey, Site
from aichat.runtime import runtime_of
from aichat.tenancy.store import bump, config_version, new_publishable_key
from tests.conftest import usage_rows
from tests.upstreams.conftest import ok

V1 = "/v1/chat/completions"
PROXY = "/api/v1/ai-proxy/chat"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def app(gateway_app):
    app = gateway_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_API_KEYS=[])
    with app.app_context():
        db.session.add(Site(domain="shop.example.com", name="Shop", publishable_key=new_publishable_key()))
        db.session.commit()
    return app


def flask(app, *args, input=None):
    """`flask …` on the app, then the reload a running server does within AICHAT_CONFIG_POLL_INTERVAL."""
    result = ok(app.test_cli_runner().invoke(args=list(args), input=input))
    runtime_of(app).tenancy.poll()
    return result


def new_key(app, *args) -> str:
    return flask(app, "keys", "create", "--site", "shop.example.com", *args).stdout.strip()


def post(app, key: str, path: str = V1, **body):
    return app.test_client().post(path, json={"messages": HI, **body}, headers={"Authorization": f"Bearer {key}"})


def test_a_key_is_billed_to_its_site_on_both_endpoints(app):
    key = new_key(app)
    assert post(app, key, model="gpt-4o-mini").status_code == 200
    assert post(app, key, PROXY, suggestions=False).status_code == 200
    with app.app_context():
        site = db.session.execute(select(Site.id).where(Site.domain == "shop.example.com")).scalar()
    rows = usage_rows(app, at_least=2)
    assert [(r["site_id"], r["site_domain"], r["caller"], r["endpoint"]) for r in rows] == [
        (site, "shop.example.com", key[:17], "v1"), (site, "shop.example.com", key[:17], "ai-proxy")]


@pytest.mark.parametrize("path", [V1, PROXY, "/v1/models"])
def test_a_revoked_key_gets_401_saying_so_on_its_next_request(app, path):
    key = new_key(app)
    call = (lambda: app.test_client().get(path, headers={"Authorization": f"Bearer {key}"})) \
        if path == "/v1/models" else (lambda: post(app, key, path))
    assert call().status_code == 200
    flask(app, "keys", "revoke", key[:17])
    refused = call()
    assert refused.status_code == 401
    assert refused.json["error"]["message"] == f"the API key {key[:17]}… was revoked"
    assert key not in refused.get_data(as_text=True)


def test_an_expired_key_gets_401_saying_when(app, fake_openai):
    key = new_key(app, "--expires", "1h")
    assert post(app, key).status_code == 200
    gone = datetime.now(timezone.utc) - timedelta(seconds=1)
    with app.app_context():
        db.session.execute(update(ClientKey).where(ClientKey.prefix == key[:17]).values(expires_at=gone))
        bump(db.session)  # (an expiry needs no reload; a changed expiry does)
        db.session.commit()
    runtime_of(app).tenancy.poll()
    sent = len(fake_openai.requests)
    refused = post(app, key)
    assert refused.status_code == 401
    assert refused.json["error"]["message"] == f"the API key {key[:17]}… expired at {gone:%Y-%m-%dT%H:%M:%SZ}"
    assert len(fake_openai.requests) == sent


def test_an_unknown_key_is_401_without_repeating_it(app):
    refused = post(app, "aic_live_" + "q" * 43)
    assert refused.status_code == 401 and "q" * 20 not in refused.get_data(as_text=True)


def test_a_key_limited_to_some_models_is_refused_others_with_403_naming_the_model(app, fake_openai):
    key = new_key(app, "--models", "gpt-4o*")
    assert post(app, key, model="gpt-4o-mini").status_code == 200
    sent = len(fake_openai.requests)
    for path in (V1, PROXY):
        refused = post(app, key, path, model="gemini-2.5-flash")
        assert refused.status_code == 403, refused.json
        error = refused.json["error"]
        assert error["code"] == "model_not_allowed"
        assert "may not use model 'gemini-2.5-flash'; it may use gpt-4o*" in error["message"]
    assert post(app, key, V1, model="openai/gpt-4o").status_code == 200, "upstream/model counts as the model"
    assert len(fake_openai.requests) == sent + 1, "nothing refused reached an upstream"
    listed = app.test_client().get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json["data"]
    assert listed and all(m["id"].startswith("gpt-4o") for m in listed)


def test_with_no_model_asked_the_default_model_is_checked(app):
    key = new_key(app, "--models", "gpt-4o*")
    refused = post(app, key)  # the default model here is Gemini's, the first provider's
    assert refused.status_code == 403 and "'gemini-2.5-flash'" in refused.json["error"]["message"]
    assert post(app, new_key(app, "--models", "gemini-*")).status_code == 200


def test_the_openai_sdk_raises_permission_denied_for_a_model_not_allowed(app, live_server):
    key = new_key(app, "--models", "gpt-4o-mini")
    client = openai.OpenAI(api_key=key, base_url=live_server(app) + "/v1", max_retries=0, timeout=10)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert raised.value.code == "model_not_allowed" and raised.value.param == "model"
    assert key not in str(raised.value)


def test_last_use_is_written_at_most_once_a_minute_and_reloads_nobody(app):
    key = new_key(app)
    used = runtime_of(app).keys_used
    assert used.flush() == 0, "nothing used yet"
    with app.app_context():
        version = config_version(db.session)
    for _ in range(3):
        assert post(app, key).status_code == 200
    assert used.flush() == 1
    with app.app_context():
        first = db.session.execute(select(ClientKey.last_used_at).where(ClientKey.prefix == key[:17])).scalar()
        assert first is not None and config_version(db.session) == version, "a use is not a configuration change"
    assert post(app, key).status_code == 200
    assert used.flush() == 0, "used again within the minute: not written again"
    with app.app_context():
        db.session.execute(update(ClientKey).values(last_used_at=datetime.now(timezone.utc) - timedelta(minutes=2)))
        db.session.commit()
    assert post(app, key).status_code == 200
    assert used.flush() == 1
    listed = flask(app, "keys", "list").stdout
    assert "-" != listed.splitlines()[1].split()[-1]
