"""The playground: a console admin chats through the gateway under a site's preset and limits, and every attempt is
billed and logged like a site's, marked as the playground's."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy.store import bump, dumps
from tests.admin.conftest import csrf_token, login
from tests.conftest import OPENAI_KEYS, usage_rows
from tests.limits.conftest import USAGE, set_site_limits

CHAT = "/admin/playground/chat"


def events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def set_preset(app, domain: str = "localhost", **preset) -> None:
    from aichat.models import Site

    with app.app_context():
        site = db.session.execute(select(Site).where(Site.domain == domain)).scalar_one()
        site.preset = dumps(preset)
        bump(db.session)
        db.session.commit()
    assert runtime_of(app).tenancy.poll()


@pytest.fixture
def pg_app(gateway_app, fake_openai, make_admin):
    """The fake OpenAI first (every answer uses USAGE, in several pieces), Gemini after it; an owner, an admin
    and a viewer."""
    fake_openai.default = fake_openai.default.replace(usage=dict(USAGE), chunks=5, text="one two three four five")
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai", "gemini"], AICHAT_CONFIG_POLL_INTERVAL=0,
                      AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "owner", token=False)
    make_admin(app, "ops", token=False, role="admin")
    make_admin(app, "viewer", token=False, role="viewer")
    return app


def signed_in(app, username: str = "ops"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    client.token = csrf_token(client, "/admin/")
    return client


def chat(client, token: str | None = "", **body):
    body = {"site": "localhost", "messages": [{"role": "user", "content": "hello"}], **body}
    headers = {"X-CSRFToken": client.token if token == "" else token} if token is not None else {}
    return client.post(CHAT, json=body, headers=headers)


def test_an_answer_streams_as_the_browser_api_sends_it_and_ends_with_the_calls_numbers(pg_app, fake_openai):
    client = signed_in(pg_app)
    answer = chat(client, temperature=0.3)
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    found = events(answer.get_data(as_text=True))
    deltas = [data["content"] for name, data in found if name == "delta"]
    assert len(deltas) >= 3 and "".join(deltas) == "one two three four five"
    name, done = found[-1]
    assert name == "done"
    assert (done["upstream"], done["provider"]) == ("openai", "openai")
    assert done["usage"] == USAGE
    assert done["cost"] is not None and float(done["cost"]) > 0 and done["currency"] == "USD"
    assert done["latency_ms"] >= done["ttft_ms"] > 0
    assert fake_openai.requests[-1].json["temperature"] == 0.3
    [row] = usage_rows(pg_app, at_least=1)
    assert (row["caller"], row["endpoint"], row["site_domain"], row["status"]) == (
        "playground:ops", "playground", "localhost", "success")
    assert row["request_id"] == done["id"] and row["total_tokens"] == 30
    assert str(row["cost"]).rstrip("0") == done["cost"].rstrip("0")


def test_every_attempt_is_recorded_once_with_the_playgrounds_mark(pg_app, fake_openai):
    """Does a failover in the playground leave one row per attempt, each marked, none twice?"""
    fake_openai.plan(error="server_error", times=2)  # both OpenAI keys fail; Gemini answers
    client = signed_in(pg_app)
    found = events(chat(client).get_data(as_text=True))
    assert found[-1][0] == "done" and found[-1][1]["upstream"] == "gemini"
    rows = usage_rows(pg_app, at_least=3)
    assert [(r["attempt"], r["upstream"], r["status"]) for r in rows] == [
        (1, "openai", "error"), (2, "openai", "error"), (3, "gemini", "success")]
    assert {(r["caller"], r["endpoint"]) for r in rows} == {("playground:ops", "playground")}
    assert len({r["request_id"] for r in rows}) == 1


def test_a_sites_limit_stops_the_playground_with_a_429(pg_app, fake_openai):
    set_site_limits(pg_app, rpm=1)
    client = signed_in(pg_app)
    assert chat(client).status_code == 200
    refused = chat(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    error = refused.json["error"]
    assert error["code"] == "rate_limited" and error["limit"]["owner"] == "site"
    assert len(fake_openai.requests) == 1, "the refused call went upstream"
    assert len(usage_rows(pg_app, at_least=1)) == 1


def test_the_playground_counts_against_the_sites_limit_a_page_then_meets(pg_app):
    """The playground's calls use the site's quota: a page of the site is refused after them."""
    set_site_limits(pg_app, rpm=2)
    client = signed_in(pg_app)
    assert [chat(client).status_code for _ in range(2)] == [200, 200]
    page = pg_app.test_client().post("/api/v1/ai-proxy/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert page.status_code == 429


def test_the_sites_preset_applies(pg_app, fake_openai):
    set_preset(pg_app, system_prompt="You sell shoes.", temperature_max=0.5)
    client = signed_in(pg_app)
    assert events(chat(client).get_data(as_text=True))[-1][0] == "done"
    assert fake_openai.requests[-1].json["messages"][0] == {"role": "system", "content": "You sell shoes."}
    refused = chat(client, temperature=1.5)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "preset_violation"


def test_choosing_an_upstream_sends_the_call_there_first(pg_app, fake_gemini):
    client = signed_in(pg_app)
    found = events(chat(client, upstream="gemini").get_data(as_text=True))
    assert found[-1][1]["upstream"] == "gemini" and len(fake_gemini.requests) == 1
    assert usage_rows(pg_app, at_least=1)[0]["upstream"] == "gemini"


@pytest.mark.parametrize("body, status, param", [
    ({"site": "nowhere.example"}, 400, "site"),
    ({"site": ""}, 400, "site"),
    ({"upstream": "nope"}, 400, "upstream"),
    ({"temperature": 5}, 400, "temperature"),
    ({"messages": []}, 400, "messages"),
    ({"model": "no-such-model"}, 404, "model"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_goes_upstream(pg_app, fake_openai, body, status, param):
    client = signed_in(pg_app)
    refused = chat(client, **body)
    assert refused.status_code == status, refused.get_data(as_text=True)
    assert refused.json["error"]["code"] and (refused.json["error"].get("param") in (None, param))
    assert fake_openai.requests == []


def test_a_viewer_may_not_spend_and_sees_a_notice(pg_app, fake_openai):
    client = signed_in(pg_app, "viewer")
    page = client.get("/admin/playground").get_data(as_text=True)
    assert 'id="playground-viewer"' in page and 'id="playground"' not in page
    assert chat(client).status_code == 403
    assert fake_openai.requests == []


def test_the_chat_needs_the_csrf_token_and_a_session(pg_app, fake_openai):
    client = signed_in(pg_app)
    assert chat(client, token=None).status_code == 400
    assert chat(client, token="not-the-token").status_code == 400
    anonymous = pg_app.test_client().post(CHAT, json={"site": "localhost", "messages": []})
    assert anonymous.status_code in (302, 400)
    assert fake_openai.requests == []


def test_the_page_offers_sites_upstreams_and_models(pg_app):
    client = signed_in(pg_app)
    page = client.get("/admin/playground").get_data(as_text=True)
    assert '<option value="localhost">' in page and '<option value="gemini">' in page
    assert 'value="gpt-4o-mini"' in page and "playground:ops" in page
    assert OPENAI_KEYS[0] not in page


def test_a_spent_budget_stops_the_playground(pg_app, fake_openai):
    set_site_limits(pg_app, cost_day="0.000001")
    client = signed_in(pg_app)
    answers = [chat(client) for _ in range(2)]
    refused = answers[-1]
    assert refused.status_code == 429 and refused.json["error"]["code"] == "budget_exhausted"
    assert refused.json["error"]["limit"]["name"] == "cost_day"
    assert len(fake_openai.requests) <= 1


def test_every_upstream_down_is_a_clear_error_and_each_attempt_is_logged(pg_app, fake_openai, fake_gemini):
    fake_openai.plan(error="server_error", times=2)
    fake_gemini.plan(error="server_error", times=2)
    client = signed_in(pg_app)
    refused = chat(client)
    assert refused.status_code == 502 and refused.json["error"]["code"] == "upstream_server_error"
    rows = usage_rows(pg_app, at_least=4)
    assert len(rows) == 4 and {(r["caller"], r["endpoint"], r["status"]) for r in rows} == {
        ("playground:ops", "playground", "error")}
