"""POST /api/v1/conversations/import: a signed-in user takes a conversation the browser kept while anonymous, only
where the site merges; every refusal a clear 4xx naming what is wrong, every answer checked against the document."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from aichat.api.conversations import IMPORT_BODY_MAX
from aichat.chat import turns
from aichat.chat.conversations import IMPORT_MESSAGES_MAX, Owner
from aichat.extensions import db
from aichat.models import ChatMessage, Conversation, Site
from tests.chat.conftest import BASE, assert_documented, key_of, make_site, new_session, page, server, user_token

IMPORT = f"{BASE}/import"
TRANSCRIPT = [{"role": "user", "content": "Which boots\nfor snow?"},
              {"role": "assistant", "content": "The **Alpine** ones — 防水, warm to -20 °C."},
              {"role": "user", "content": "And in blue?"},
              {"role": "assistant", "content": "Yes, in navy."}]


def test_a_signed_in_user_imports_a_transcript_as_a_conversation_of_theirs(app, shop):
    client, me = app.test_client(), page(shop, session=new_session(), token=user_token(shop, "u-1"))
    older = client.post(BASE, json={"title": "older"}, headers=me).json
    began = "2026-11-30T08:15:00.250Z"
    made = client.post(IMPORT, json={"title": "Snow boots", "messages": TRANSCRIPT, "created_at": began}, headers=me)
    assert made.status_code == 201, made.json
    assert_documented(client, made, IMPORT, "post")
    conversation = made.json
    assert (conversation["title"], conversation["message_count"]) == ("Snow boots", 4)
    assert conversation["created_at"] == "2026-11-30T08:15:00.250000+00:00"
    assert conversation["updated_at"] > older["updated_at"], "it counts as used now: first in the list"

    listed = client.get(BASE, headers=me).json["conversations"]
    assert [c["id"] for c in listed] == [conversation["id"], older["id"]]
    shown = client.get(f"{BASE}/{conversation['id']}", headers=page(shop, token=user_token(shop, "u-1"))).json
    assert [(m["role"], m["content"], m["status"]) for m in shown["messages"]] == [
        (m["role"], m["content"], "complete") for m in TRANSCRIPT]
    assert len({m["id"] for m in shown["messages"]}) == 4

    with app.app_context():  # the chat path continues it like any stored conversation
        site_id = db.session.execute(select(Site.id).where(Site.domain == shop.domain)).scalar_one()
        _, history = turns.history(db.session, Owner(site_id, "user:u-1"), conversation["id"], budget=8000,
                                   max_messages=200)
    assert [(m.role, m.content) for m in history] == [(m["role"], m["content"]) for m in TRANSCRIPT]


def test_an_untitled_import_takes_its_first_question_and_a_future_start_is_now(app, shop):
    client, me = app.test_client(), page(shop, token=user_token(shop, "u-1"))
    ahead = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    made = client.post(IMPORT, json={"title": "", "messages": [{"role": "assistant", "content": "Hi!"},
                                                                 {"role": "user", "content": "  Where   is " + "x" * 80}],
                                     "created_at": ahead}, headers=me)
    assert made.status_code == 201, made.json
    assert made.json["title"] == ("Where is " + "x" * 80)[:60]
    assert made.json["created_at"] <= made.json["updated_at"], "a start in the future is taken as now"
    assert client.post(IMPORT, json={"messages": TRANSCRIPT[:1]}, headers=me).json["title"] == "Which boots for snow?"


def test_an_imported_conversation_is_its_users_alone(app, shop, blog):
    client = app.test_client()
    session = new_session()
    made = client.post(IMPORT, json={"title": "mine", "messages": TRANSCRIPT},
                       headers=page(shop, session=session, token=user_token(shop, "u-1"))).json
    for other in (page(shop, session=session), page(shop, token=user_token(shop, "u-2")),
                  page(blog, token=user_token(blog, "u-1"))):
        assert client.get(f"{BASE}/{made['id']}", headers=other).status_code == 404
        assert client.get(BASE, headers=other).json["conversations"] == []


def test_a_sites_backend_imports_for_a_user(app, shop):
    client, key = app.test_client(), key_of(app, shop)
    made = client.post(IMPORT, json={"title": "migrated", "messages": TRANSCRIPT}, headers=server(key, "u-9"))
    assert made.status_code == 201
    assert client.get(BASE, headers=page(shop, token=user_token(shop, "u-9"))).json["conversations"] == [made.json]


def test_importing_needs_a_signed_in_user(app, shop):
    client = app.test_client()
    body = {"title": "x", "messages": TRANSCRIPT}
    anonymous = client.post(IMPORT, json=body, headers=page(shop, session=new_session()))
    assert anonymous.status_code == 401 and anonymous.json["error"]["code"] == "user_required"
    assert_documented(client, anonymous, IMPORT, "post")
    nobody = client.post(IMPORT, json=body, headers=page(shop))
    assert nobody.status_code == 401 and nobody.json["error"]["code"] == "session_required"
    forged = client.post(IMPORT, json=body, headers=page(shop, token=user_token("aic_id_" + "f" * 43, "u-1")))
    assert forged.status_code == 401 and forged.json["error"]["code"] == "invalid_user_token"
    with app.app_context():
        assert db.session.query(Conversation).count() == 0


def test_a_site_that_keeps_anonymous_conversations_apart_refuses_imports(app):
    apart = make_site(app, "apart.example.com", merge_anonymous=False)
    client = app.test_client()
    refused = client.post(IMPORT, json={"title": "x", "messages": TRANSCRIPT},
                          headers=page(apart, session=new_session(), token=user_token(apart, "u-1")))
    assert refused.status_code == 409 and refused.json["error"]["code"] == "merge_disabled"
    assert_documented(client, refused, IMPORT, "post")
    with app.app_context():
        assert db.session.query(Conversation).count() == 0


def test_a_whole_transcript_fits_and_a_larger_body_is_413(app, shop):
    client, me = app.test_client(), page(shop, token=user_token(shop, "u-1"))
    # Far over the 32 KB of the other conversation endpoints: 200 messages of 1,000 characters.
    full = [{"role": ("user", "assistant")[i % 2], "content": "snow " * 200} for i in range(IMPORT_MESSAGES_MAX)]
    assert 32 * 1024 < len(json.dumps({"messages": full})) < IMPORT_BODY_MAX
    made = client.post(IMPORT, json={"title": "long", "messages": full}, headers=me)
    assert made.status_code == 201 and made.json["message_count"] == IMPORT_MESSAGES_MAX

    huge = [{"role": "user", "content": "x" * (IMPORT_BODY_MAX // 2)}] * 2
    refused = client.post(IMPORT, json={"title": "huge", "messages": huge}, headers=me)
    assert refused.status_code == 413 and refused.json["error"]["code"] == "body_too_large"
    assert str(IMPORT_BODY_MAX) in refused.json["error"]["message"]
    assert_documented(client, refused, IMPORT, "post")
    # The other endpoints keep their own limit.
    assert client.post(BASE, json={"title": "x", "pad": "x" * 40_000}, headers=me).status_code == 413


NUL, LONE = "a\u0000b", '"\\ud800"'
BAD_BODIES = [
    ({"title": "x"}, "invalid_messages"),
    ({"title": "x", "messages": []}, "invalid_messages"),
    ({"title": "x", "messages": "hello"}, "invalid_messages"),
    ({"title": "x", "messages": [{"role": "user", "content": "hi"}] * (IMPORT_MESSAGES_MAX + 1)}, "invalid_messages"),
    ({"title": "x", "messages": [{"role": "system", "content": "you are"}]}, "invalid_messages"),
    ({"title": "x", "messages": [{"role": "user", "content": ""}]}, "invalid_messages"),
    ({"title": "x", "messages": [{"role": "user", "content": 5}]}, "invalid_messages"),
    ({"title": "x", "messages": [{"role": "user"}]}, "invalid_messages"),
    ({"title": "x", "messages": [{"role": "user", "content": NUL}]}, "invalid_messages"),
    ({"title": "x", "messages": ["hi"]}, "invalid_messages"),
    ({"title": "x" * 201, "messages": TRANSCRIPT}, "invalid_title"),
    ({"title": "a\nb", "messages": TRANSCRIPT}, "invalid_title"),
    ({"title": 7, "messages": TRANSCRIPT}, "invalid_title"),
    ({"title": "x", "messages": TRANSCRIPT, "created_at": "2026-12-04T10:00:00"}, "invalid_created_at"),
    ({"title": "x", "messages": TRANSCRIPT, "created_at": "yesterday"}, "invalid_created_at"),
    ({"title": "x", "messages": TRANSCRIPT, "created_at": "2026-13-40T10:00:00Z"}, "invalid_created_at"),
    ({"title": "x", "messages": TRANSCRIPT, "created_at": "0001-01-01T00:00:00+01:00"}, "invalid_created_at"),
    ({"title": "x", "messages": TRANSCRIPT, "created_at": 1733300000}, "invalid_created_at"),
]


@pytest.mark.parametrize("body, code", BAD_BODIES, ids=[code + str(i) for i, (_, code) in enumerate(BAD_BODIES)])
def test_a_bad_transcript_is_400_naming_the_field(app, shop, body, code):
    client = app.test_client()
    refused = client.post(IMPORT, json=body, headers=page(shop, token=user_token(shop, "u-1")))
    assert refused.status_code == 400 and refused.json["error"]["code"] == code, refused.json
    assert_documented(client, refused, IMPORT, "post")
    with app.app_context():
        assert db.session.query(Conversation).count() == 0 and db.session.query(ChatMessage).count() == 0


@pytest.mark.parametrize("raw, content_type, status, code", [
    (f'{{"title": "x", "messages": [{{"role": "user", "content": {LONE}}}]}}', "application/json", 400,
     "invalid_messages"),
    ('{"title": "x", "messages": [', "application/json", 400, "invalid_json"),
    ('["x"]', "application/json", 400, "invalid_json"),
    ('{"title": "x", "messages": []}', "text/plain", 415, "unsupported_media_type"),
])
def test_a_body_that_is_not_a_transcript_is_refused(app, shop, raw, content_type, status, code):
    client = app.test_client()
    headers = {**page(shop, token=user_token(shop, "u-1")), "Content-Type": content_type}
    refused = client.post(IMPORT, data=raw.encode(), headers=headers)
    assert refused.status_code == status and refused.json["error"]["code"] == code, refused.json

