"""The conversation API with each kind of caller: an anonymous session, a signed-in user, a site's backend with a
client key, and nobody; every answer checked against the OpenAPI document."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from aichat.chat import conversations as store
from aichat.extensions import db
from aichat.models import ChatMessage, Conversation
from tests.chat.conftest import (BASE, assert_documented, key_of, make_site, new_session, page, server,
                                 user_token)

ONE = f"{BASE}/{{conversation_id}}"


def test_an_anonymous_session_creates_lists_reads_renames_and_deletes(app, shop):
    client, me = app.test_client(), page(shop, session=new_session())
    created = client.post(BASE, json={"title": "Shoes"}, headers=me)
    assert created.status_code == 201, created.json
    assert_documented(client, created, BASE, "post")
    conversation = created.json
    assert conversation["id"].startswith("c_") and len(conversation["id"]) == 24
    assert (conversation["title"], conversation["message_count"]) == ("Shoes", 0)

    listed = client.get(BASE, headers=me)
    assert_documented(client, listed, BASE, "get")
    assert listed.json == {"conversations": [conversation], "next": None}
    assert listed.headers["Cache-Control"] == "no-store", "one end user's answer: no shared cache may keep it"
    assert {"x-aichat-session", "x-aichat-user"} <= {v.strip().lower() for v in listed.headers["Vary"].split(",")}

    shown = client.get(f"{BASE}/{conversation['id']}", headers=me)
    assert_documented(client, shown, ONE, "get")
    assert shown.json == {**conversation, "messages": []}

    renamed = client.patch(f"{BASE}/{conversation['id']}", json={"title": "Boots"}, headers=me)
    assert_documented(client, renamed, ONE, "patch")
    assert renamed.json["title"] == "Boots" and renamed.json["updated_at"] > conversation["updated_at"]

    removed = client.delete(f"{BASE}/{conversation['id']}", headers=me)
    assert removed.status_code == 204
    assert_documented(client, removed, ONE, "delete")
    assert client.get(f"{BASE}/{conversation['id']}", headers=me).status_code == 404
    assert client.get(BASE, headers=me).json["conversations"] == []


def test_an_untitled_conversation_has_an_empty_title(app, shop):
    client, me = app.test_client(), page(shop, session=new_session())
    for body in ({}, {"title": None}, None):
        created = client.post(BASE, json=body, headers=me) if body is not None else client.post(BASE, headers=me)
        assert created.status_code == 201 and created.json["title"] == ""


def test_a_signed_in_user_has_the_same_conversations_on_every_device(app, shop):
    client = app.test_client()
    laptop = page(shop, session=new_session(), token=user_token(shop, "u-1"))
    phone = page(shop, session=new_session(), token=user_token(shop, "u-1", name="Ada"))
    created = client.post(BASE, json={"title": "from the laptop"}, headers=laptop).json
    assert client.get(BASE, headers=phone).json["conversations"] == [created]
    assert client.get(f"{BASE}/{created['id']}", headers=page(shop, token=user_token(shop, "u-1"))).status_code == 200


def test_a_sites_backend_acts_for_a_user_with_its_client_key(app, shop):
    client, key = app.test_client(), key_of(app, shop)
    mine = client.post(BASE, json={"title": "in the page"}, headers=page(shop, token=user_token(shop, "u-7"))).json
    assert client.get(BASE, headers=server(key, "u-7")).json["conversations"] == [mine]
    made = client.post(BASE, json={"title": "from the backend"}, headers=server(key, "u-7"))
    assert made.status_code == 201
    assert {c["id"] for c in client.get(BASE, headers=page(shop, token=user_token(shop, "u-7"))).json[
        "conversations"]} == {mine["id"], made.json["id"]}
    assert client.get(BASE, headers=server(key, "u-8")).json["conversations"] == []


ENDPOINTS = [("get", BASE), ("post", BASE), ("delete", BASE), ("get", f"{BASE}/export"), ("post", f"{BASE}/claim"),
             ("post", f"{BASE}/import"), ("get", f"{BASE}/c_{'a' * 22}"), ("patch", f"{BASE}/c_{'a' * 22}"), ("delete", f"{BASE}/c_{'a' * 22}")]


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_without_an_end_user_every_endpoint_refuses(app, shop, method, path):
    client = app.test_client()
    body = {"json": {"title": "x"}} if method in ("post", "patch") else {}
    nobody = getattr(client, method)(path, headers=page(shop), **body)
    assert (nobody.status_code, nobody.json["error"]["code"]) == (401, "session_required")
    key = key_of(app, shop)
    backend = getattr(client, method)(path, headers={"Authorization": f"Bearer {key}"}, **body)
    assert (backend.status_code, backend.json["error"]["code"]) == (400, "end_user_required")
    anonymous_server = getattr(client, method)(path, **body)  # no Origin: the local site, still nobody
    assert anonymous_server.status_code == 401


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_every_endpoint_refuses_a_bad_end_user(app, shop, blog, method, path):
    client = app.test_client()
    body = {"json": {"title": "x"}} if method in ("post", "patch") else {}
    for headers, status, code in [
            (page(shop, session="short"), 400, "invalid_session"),
            (page(shop, token="not-a-token"), 401, "invalid_user_token"),
            (page(shop, token=user_token(blog, "u-1")), 401, "invalid_user_token"),  # another site's token
            (page(shop, token=user_token(shop, "u-1", expires_in=-120)), 401, "user_token_expired"),
            (page(shop, session=new_session(), token=user_token(shop, "u-1", expires_in=-120)), 401,
             "user_token_expired"),
            ({**page(shop, session=new_session()), "X-AIChat-End-User": "u-1"}, 403, "end_user_not_allowed"),
            (server(key_of(app, shop), "a\x7fb"), 400, "invalid_end_user")]:
        refused = getattr(client, method)(path, headers=headers, **body)
        assert (refused.status_code, refused.json["error"]["code"]) == (status, code), headers


def _conversation(client, headers, title="mine") -> str:
    created = client.post(BASE, json={"title": title}, headers=headers)
    assert created.status_code == 201, created.json
    return created.json["id"]


def test_no_one_else_can_read_or_change_a_conversation(app, shop, blog):
    """Another session, another user, the same session id or user id on another site, another site's backend:
    each gets 404 as for an unknown id, and sees none of it in lists and exports; erasing theirs leaves it."""
    client, session = app.test_client(), new_session()
    anon_id = _conversation(client, page(shop, session=session), "anonymous")
    user_id = _conversation(client, page(shop, token=user_token(shop, "u-1")), "signed in")
    others = [page(shop, session=new_session()), page(shop, token=user_token(shop, "u-2")),
              page(blog, session=session), page(blog, token=user_token(blog, "u-1")),
              server(key_of(app, blog), "u-1"), server(key_of(app, shop), "u-2")]
    for other in others:
        for conversation_id in (anon_id, user_id):
            one = f"{BASE}/{conversation_id}"
            for response in (client.get(one, headers=other), client.patch(one, json={"title": "x"}, headers=other),
                             client.delete(one, headers=other)):
                assert (response.status_code, response.json["error"]["code"]) == (404, "conversation_not_found")
                assert_documented(client, response, ONE, response.request.method.lower())
        assert client.get(BASE, headers=other).json["conversations"] == []
        assert client.get(f"{BASE}/export", headers=other).json["conversations"] == []
        assert client.delete(BASE, headers=other).status_code == 204
    assert client.get(f"{BASE}/{anon_id}", headers=page(shop, session=session)).json["title"] == "anonymous"
    assert client.get(f"{BASE}/{user_id}", headers=server(key_of(app, shop), "u-1")).json["title"] == "signed in"


def test_an_unknown_or_malformed_id_is_not_found(app, shop):
    client, me = app.test_client(), page(shop, session=new_session())
    for conversation_id in (f"c_{'b' * 22}", "c_short", "export2", "m_" + "a" * 22, "%00"):
        response = client.get(f"{BASE}/{conversation_id}", headers=me)
        assert (response.status_code, response.json["error"]["code"]) == (404, "conversation_not_found")


def _add_messages(app, conversation_id: str, *texts: str) -> None:
    with app.app_context():
        row = db.session.execute(db.select(Conversation).filter_by(public_id=conversation_id)).scalar_one()
        for number, text in enumerate(texts):
            store.add_message(db.session, row, ("user", "assistant")[number % 2], text, request_id=f"req-{number}")
        db.session.commit()


def test_a_conversation_shows_its_messages_oldest_first(app, shop):
    client, me = app.test_client(), page(shop, session=new_session())
    conversation_id = _conversation(client, me)
    _add_messages(app, conversation_id, "hello", "hi! how can I help?", "shoes")
    shown = client.get(f"{BASE}/{conversation_id}", headers=me)
    assert_documented(client, shown, ONE, "get")
    assert [(m["role"], m["content"], m["status"]) for m in shown.json["messages"]] == [
        ("user", "hello", "complete"), ("assistant", "hi! how can I help?", "complete"), ("user", "shoes", "complete")]
    assert shown.json["message_count"] == 3 and all(m["id"].startswith("m_") for m in shown.json["messages"])


def test_export_holds_every_conversation_with_its_messages(app, shop):
    client, me = app.test_client(), page(shop, token=user_token(shop, "u-1"))
    first, second = _conversation(client, me, "first"), _conversation(client, me, "second")
    _add_messages(app, first, "one", "two")
    _conversation(client, page(shop, token=user_token(shop, "u-2")), "someone else's")
    exported = client.get(f"{BASE}/export", headers=me)
    assert_documented(client, exported, f"{BASE}/export", "get")
    found = {c["id"]: [m["content"] for m in c["messages"]] for c in exported.json["conversations"]}
    assert found == {first: ["one", "two"], second: []}
    assert exported.json["conversations"][0]["id"] == first, "the newest updated first (messages update it)"


def test_erasure_deletes_every_conversation_of_the_caller_and_their_messages(app, shop):
    client, me, other = app.test_client(), page(shop, token=user_token(shop, "u-1")), page(shop, session=new_session())
    for title in ("a", "b"):
        _add_messages(app, _conversation(client, me, title), "text")
    kept = _conversation(client, other)
    _add_messages(app, kept, "kept")
    erased = client.delete(BASE, headers=me)
    assert erased.status_code == 204
    assert_documented(client, erased, BASE, "delete")
    assert client.get(BASE, headers=me).json["conversations"] == []
    with app.app_context():
        assert db.session.execute(db.select(Conversation.public_id)).scalars().all() == [kept]
        assert db.session.execute(db.select(ChatMessage.content)).scalars().all() == ["kept"]


def test_claim_moves_the_sessions_conversations_to_the_user_when_the_site_merges(app, shop):
    client, session = app.test_client(), new_session()
    anonymous = [_conversation(client, page(shop, session=session), t) for t in ("a", "b")]
    other_session = _conversation(client, page(shop, session=new_session()))
    both = page(shop, session=session, token=user_token(shop, "u-1"))
    claimed = client.post(f"{BASE}/claim", headers=both)
    assert claimed.status_code == 200 and claimed.json == {"claimed": 2}
    assert_documented(client, claimed, f"{BASE}/claim", "post")
    ids = {c["id"] for c in client.get(BASE, headers=page(shop, token=user_token(shop, "u-1"))).json["conversations"]}
    assert ids == set(anonymous)
    assert client.get(BASE, headers=page(shop, session=session)).json["conversations"] == []
    assert client.post(f"{BASE}/claim", headers=both).json == {"claimed": 0}
    assert client.get(f"{BASE}/{other_session}", headers=both).status_code == 404


def test_claim_needs_a_user_and_a_site_that_merges(app, shop):
    client, session = app.test_client(), new_session()
    _conversation(client, page(shop, session=session))
    alone = client.post(f"{BASE}/claim", headers=page(shop, session=session))
    assert (alone.status_code, alone.json["error"]["code"]) == (401, "user_required")
    assert client.post(f"{BASE}/claim", headers=page(shop, token=user_token(shop, "u-1"))).json == {"claimed": 0}
    apart = make_site(app, "apart.example.com", merge_anonymous=False)
    _conversation(client, page(apart, session=session))
    refused = client.post(f"{BASE}/claim", headers=page(apart, session=session, token=user_token(apart, "u-1")))
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "merge_disabled")
    assert_documented(client, refused, f"{BASE}/claim", "post")
    assert len(client.get(BASE, headers=page(apart, session=session)).json["conversations"]) == 1


def test_pages_walk_newest_first_without_offset(app, shop):
    client, me = app.test_client(), page(shop, session=new_session())
    made = [_conversation(client, me, f"n{number}") for number in range(7)]
    client.patch(f"{BASE}/{made[2]}", json={"title": "touched"}, headers=me)  # now the newest
    statements = []

    def note(_conn, _cursor, statement, parameters, *_rest):
        statements.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
        seen, cursor = [], None
        while True:
            answer = client.get(BASE, query_string={"limit": 3, **({"before": cursor} if cursor else {})}, headers=me)
            assert answer.status_code == 200, answer.json
            assert_documented(client, answer, BASE, "get")
            seen.append([c["id"] for c in answer.json["conversations"]])
            cursor = answer.json["next"]
            if cursor is None:
                break
        event.remove(db.engine, "before_cursor_execute", note)
    assert [len(p) for p in seen] == [3, 3, 1]
    assert sum(seen, []) == [made[2], made[6], made[5], made[4], made[3], made[1], made[0]]
    listings = [(s, p) for s, p in statements if "FROM conversation" in s]
    assert listings and not any(_skips(*listing) for listing in listings)


def _skips(statement: str, parameters) -> bool:
    """Does the query skip rows by OFFSET? (SQLite's dialect writes `LIMIT ? OFFSET ?` with 0, which skips none.)"""
    if "OFFSET" not in statement.upper():
        return False
    values = list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
    return values[-1] != 0


@pytest.mark.parametrize("query, code", [({"limit": 0}, "invalid_limit"), ({"limit": 101}, "invalid_limit"),
                                         ({"limit": "x"}, "invalid_limit"), ({"before": "nope"}, "invalid_cursor"),
                                         ({"before": "1-c_short"}, "invalid_cursor")])
def test_bad_paging_parameters_are_400_naming_them(app, shop, query, code):
    response = app.test_client().get(BASE, query_string=query, headers=page(shop, session=new_session()))
    assert (response.status_code, response.json["error"]["code"]) == (400, code)


@pytest.mark.parametrize("method", ["post", "patch"])
@pytest.mark.parametrize("kwargs, status, code", [
    ({"json": {"title": "x" * 201}}, 400, "invalid_title"),
    ({"json": {"title": 5}}, 400, "invalid_title"),
    ({"json": {"title": "a\x00b"}}, 400, "invalid_title"),
    ({"data": '{"title": "a\\ud800"}', "content_type": "application/json"}, 400, "invalid_title"),  # lone surrogate
    ({"json": ["title"]}, 400, "invalid_json"),
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": "title=x", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ({"json": {"title": "x", "padding": "y" * 33_000}}, 413, "body_too_large"),
])
def test_bad_bodies_are_refused_naming_the_field(app, shop, method, kwargs, status, code):
    client, me = app.test_client(), page(shop, session=new_session())
    path = BASE if method == "post" else f"{BASE}/{_conversation(client, me)}"
    response = getattr(client, method)(path, headers=me, **kwargs)
    assert (response.status_code, response.json["error"]["code"]) == (status, code)


def test_a_rename_needs_a_title(app, shop):
    client, me = app.test_client(), page(shop, session=new_session())
    one = f"{BASE}/{_conversation(client, me)}"
    for body in ({}, {"title": ""}, {"title": None}):
        response = client.patch(one, json=body, headers=me)
        assert (response.status_code, response.json["error"]["code"]) == (400, "invalid_title")


def test_a_site_without_anonymous_visitors_serves_its_signed_in_users(app):
    closed = make_site(app, "members.example.com")
    with app.app_context():
        from aichat.tenancy import sites

        sites.update_site(db.session, closed.domain, allow_anonymous=False)
    from aichat.runtime import runtime_of

    runtime_of(app).tenancy.poll()
    client = app.test_client()
    refused = client.get(BASE, headers=page(closed, session=new_session()))
    assert (refused.status_code, refused.json["error"]["code"]) == (401, "sign_in_required")
    assert client.get(BASE, headers=page(closed, token=user_token(closed, "u-1"))).status_code == 200


def test_cors_lets_a_sites_pages_send_the_end_user_headers(app, shop):
    preflight = app.test_client().options(f"{BASE}/c_{'a' * 22}", headers={
        "Origin": shop.origin, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "x-aichat-session, x-aichat-user, content-type"})
    assert preflight.status_code == 204
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-aichat-session", "x-aichat-user", "x-aichat-end-user", "content-type"} <= allowed
    assert {"PATCH", "DELETE"} <= {m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")}
    answer = app.test_client().get(BASE, headers=page(shop, session=new_session()))
    assert answer.headers["Access-Control-Allow-Origin"] == shop.origin
    stranger = app.test_client().options(BASE, headers={"Origin": "https://evil.example.net",
                                                        "Access-Control-Request-Method": "GET"})
    assert stranger.status_code == 403 and "Access-Control-Allow-Origin" not in stranger.headers


def test_a_user_id_that_is_not_ascii_is_one_owner_from_a_backend_and_a_page(app, shop):
    """A backend sends `josé` as UTF-8 bytes; the page's hmac token names the same user."""
    from aichat.chat.identity import hmac_token

    client, key = app.test_client(), key_of(app, shop)
    utf8_as_sent = "josé".encode().decode("latin-1")  # how a header's bytes reach the app
    made = client.post(BASE, json={"title": "t"}, headers=server(key, utf8_as_sent))
    assert made.status_code == 201
    token = hmac_token(shop.secret, "josé").encode().decode("latin-1")
    listed = client.get(BASE, headers=page(shop, token=token))
    assert [c["id"] for c in listed.json["conversations"]] == [made.json["id"]]
    assert client.get(BASE, headers=page(shop, token=user_token(shop, "josé"))).json["conversations"] == [made.json]


def test_changes_count_against_the_limit_per_address_and_reading_does_not(make_app):
    """A page cannot make conversations without bound: creating, renaming and deleting count against
    AICHAT_RATE_LIMIT per client address, like chat requests; listing and reading never do."""
    from tests.chat.conftest import ENCRYPTION_KEY

    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY], AICHAT_RATE_LIMIT="3/minute")
    shop = make_site(app, "shop.example.com")
    client, me = app.test_client(), page(shop, session=new_session())
    made = [client.post(BASE, json={}, headers=me) for _ in range(2)]
    assert [r.status_code for r in made] == [201, 201]
    assert all(client.get(BASE, headers=me).status_code == 200 for _ in range(5)), "reading is not counted"
    assert client.patch(f"{BASE}/{made[0].json['id']}", json={"title": "x"}, headers=me).status_code == 200
    refused = client.post(BASE, json={}, headers=me)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"]["code"] == "rate_limited" and refused.json["error"]["limit"]["owner"] == "gateway"
    assert_documented(client, refused, BASE, "post")
    other = client.post(BASE, json={}, headers=me, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert other.status_code == 201, "another address has its own count"
