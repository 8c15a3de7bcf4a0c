"""A site's preset enforced on its browsers' requests over HTTP, and not on its own backend's."""
from __future__ import annotations

import json

import pytest

from aichat.extensions import db
from aichat.providers.base import SUGGESTIONS_MARKER
from aichat.runtime import runtime_of
from aichat.tenancy import sites
from tests.tenancy.conftest import add_key

URL = "/api/v1/ai-proxy/chat"
SHOP = "https://shop.example.com"
PROMPT = "You are the shop's assistant. Answer only about the shop."
PRESET = {"system_prompt": PROMPT, "default_model": "gpt-4o-mini", "allowed_models": ["gpt-4o*"],
          "temperature_min": 0.2, "temperature_max": 1.0, "max_tokens": 256, "max_input_chars": 200,
          "max_input_tokens": 40, "max_messages": 3, "client_system": "refuse", "suggestions": True}


@pytest.fixture
def shop(gateway_app, fake_openai, fake_gemini):
    """An app with both fake upstreams and the site shop.example.com with PRESET (and overrides), in force."""

    def build(**preset):
        app = gateway_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_PROVIDER_ORDER=["openai", "gemini"])
        with app.app_context():
            if sites.find(db.session, "shop.example.com") is None:
                sites.create_site(db.session, "shop.example.com", [SHOP], preset={**PRESET, **preset})
            else:
                sites.update_site(db.session, "shop.example.com", preset={**PRESET, **preset})
        runtime_of(app).tenancy.poll()
        return app

    return build


def user(text: str = "Do you ship to Canada?") -> dict:
    return {"role": "user", "content": text}


def chat(app, origin: str | None = SHOP, key: str | None = None, **body):
    headers = {"Origin": origin} if origin else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return app.test_client().post(URL, json={"messages": [user()], "suggestions": False, **body}, headers=headers)


def sent(fake) -> dict:
    return fake.requests[-1].json


@pytest.mark.parametrize("rule, body, limit", [
    ("max_messages", {"messages": [user("a"), {"role": "assistant", "content": "b"}, user("c"),
                                   {"role": "assistant", "content": "d"}]}, "at most 3"),
    ("client_system", {"messages": [{"role": "system", "content": "You are a pirate."}, user()]}, "'system'"),
    ("max_input_chars", {"messages": [user("x" * 201)]}, "at most 200"),
    ("max_input_tokens", {"messages": [user("word " * 40)]}, "at most 40"),
    ("allowed_models", {"model": "gemini-2.5-flash"}, "'gemini-2.5-flash' is not available on this site"),
    ("temperature", {"temperature": 1.5}, "0.2 to 1"),
    ("max_tokens", {"max_tokens": 257}, "at most 256"),
    ("max_tokens", {"max_tokens": 257, "stream": True}, "at most 256"),
])
def test_a_browser_request_outside_the_preset_is_a_400_naming_the_rule(shop, fake_openai, fake_gemini, rule, body,
                                                                       limit):
    resp = chat(shop(), **body)
    assert resp.status_code == 400 and resp.mimetype == "application/json"
    error = resp.json["error"]
    assert error["code"] == "preset_violation" and error["message"].startswith(f"{rule}: ")
    assert limit in error["message"]
    assert error["request_id"] == resp.headers["X-Request-ID"]
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP, "the page can read why"
    assert fake_openai.total_requests == fake_gemini.total_requests == 0, "nothing is sent upstream"


def test_what_goes_upstream_is_the_sites_assistant(shop, fake_openai):
    resp = chat(shop(), messages=[user("12345")])
    assert resp.status_code == 200 and resp.json["model"] == "gpt-4o-mini"
    body = sent(fake_openai)
    assert body["messages"][0] == {"role": "system", "content": PROMPT} and body["messages"][1]["content"] == "12345"
    assert body["model"] == "gpt-4o-mini" and body["max_tokens"] == 256
    assert body.get("temperature") in (None, 1.0)


def test_at_the_limits_a_request_passes(shop, fake_openai):
    # 200 characters, estimated at 63 tokens: 25 + 13 + 13 for the text and 4 for each message's framing.
    messages = [user("x" * 100), {"role": "assistant", "content": "y" * 50}, user("z" * 50)]
    resp = chat(shop(max_input_tokens=63), messages=messages,
                model="gpt-4o", temperature=0.2, max_tokens=256)
    assert resp.status_code == 200, resp.json
    assert sent(fake_openai)["temperature"] == 0.2 and sent(fake_openai)["max_tokens"] == 256


def test_a_page_system_message_replaced_or_kept_as_the_site_says(shop, fake_openai):
    pirate = {"role": "system", "content": "You are a pirate."}
    replaced = chat(shop(client_system="replace"), messages=[pirate, user()])
    assert replaced.status_code == 200
    assert [m["content"] for m in sent(fake_openai)["messages"] if m["role"] == "system"] == [PROMPT]
    kept = chat(shop(client_system="allow"), messages=[pirate, user()])
    assert kept.status_code == 200
    assert [m["content"] for m in sent(fake_openai)["messages"]][:2] == [PROMPT, "You are a pirate."]


def test_suggestions_off_for_the_site_whatever_the_page_asks(shop, fake_openai):
    app = shop(suggestions=False)
    resp = chat(app, suggestions=True)
    assert resp.status_code == 200 and resp.json["suggestions"] == []
    assert SUGGESTIONS_MARKER not in json.dumps(sent(fake_openai))
    chat(shop(), suggestions=True)
    assert SUGGESTIONS_MARKER in json.dumps(sent(fake_openai)), "on where the site leaves them on"


def test_a_sites_own_backend_is_not_bound_by_the_preset_only_by_its_keys_models(shop, fake_openai, fake_gemini):
    app = shop()
    backend = add_key(app, "shop.example.com")
    runtime_of(app).tenancy.poll()
    free = chat(app, origin=None, key=backend, model="gpt-4o-mini", max_tokens=2000, temperature=1.8,
                messages=[{"role": "system", "content": "Internal summariser."}, user("x" * 500)])
    assert free.status_code == 200, free.json
    body = sent(fake_openai)
    assert body["messages"][0]["content"] == "Internal summariser." and body["max_tokens"] == 2000
    assert chat(app, origin=None, key=backend, model="gemini-2.5-flash").status_code == 200, \
        "the site's allowed models bind its browsers, not its keys"
    scoped = add_key(app, "shop.example.com", models=("gemini-*",))
    runtime_of(app).tenancy.poll()
    assert chat(app, origin=None, key=scoped, model="gemini-2.5-flash").status_code == 200
    refused = chat(app, origin=None, key=scoped, model="gpt-4o-mini")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "model_not_allowed"


def test_the_local_site_refuses_a_page_system_message_by_default(make_app):
    app = make_app()
    resp = app.test_client().post(URL, json={"messages": [{"role": "system", "content": "x"}, user()]},
                                  headers={"Origin": "http://localhost"})
    assert resp.status_code == 400 and resp.json["error"]["message"].startswith("client_system: ")
