"""`GET /api/v1/conversations/settings`: what a page of a site learns of its conversation settings (the widget
follows on_disconnect), without an end user and without a database query."""
from __future__ import annotations

from sqlalchemy import event

from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy import sites
from tests.chat.conftest import BASE, assert_documented, key_of, make_site, new_session, page, user_token

SETTINGS = f"{BASE}/settings"


def test_a_page_learns_its_sites_settings_without_a_session(app, shop):
    client = app.test_client()
    answer = client.get(SETTINGS, headers=page(shop))
    assert answer.status_code == 200, answer.json
    assert_documented(client, answer, SETTINGS, "get")
    assert answer.json == {"on_disconnect": "stop", "merge_anonymous": True, "retention_days": 90}
    assert answer.headers["Access-Control-Allow-Origin"] == shop.origin
    with_user = client.get(SETTINGS, headers=page(shop, session=new_session(), token=user_token(shop, "u-1")))
    assert with_user.json == answer.json


def test_each_site_gets_its_own_and_a_change_is_seen_after_the_poll(app, shop):
    finishing = make_site(app, "news.example.org", on_disconnect="finish", merge_anonymous=False, retention_days=None)
    client = app.test_client()
    assert client.get(SETTINGS, headers=page(finishing)).json == {
        "on_disconnect": "finish", "merge_anonymous": False, "retention_days": None}
    assert client.get(SETTINGS, headers=page(shop)).json["on_disconnect"] == "stop"
    with app.app_context():
        sites.update_site(db.session, shop.domain, conversations={"on_disconnect": "finish", "retention_days": 7})
    runtime_of(app).tenancy.poll()
    assert client.get(SETTINGS, headers=page(shop)).json == {
        "on_disconnect": "finish", "merge_anonymous": True, "retention_days": 7}
    assert client.get(SETTINGS, headers={"Authorization": f"Bearer {key_of(app, finishing)}"}).json[
        "on_disconnect"] == "finish", "a site's backend reads its own site's settings"


def test_it_reads_no_database(app, shop):
    client, statements = app.test_client(), []
    client.get(SETTINGS, headers=page(shop))  # a first request may warm up what the app loads once

    def note(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            for headers in (page(shop), page(shop, session=new_session())):
                assert client.get(SETTINGS, headers=headers).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    assert statements == []


def test_strangers_are_refused_and_end_user_headers_are_not_read(app, shop):
    client = app.test_client()
    stranger = client.get(SETTINGS, headers={"Origin": "https://evil.example.net"})
    assert (stranger.status_code, stranger.json["error"]["code"]) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert_documented(client, stranger, SETTINGS, "get")
    preflight = client.options(SETTINGS, headers={"Origin": shop.origin, "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "x-aichat-site"})
    assert preflight.status_code == 204
    # The settings are the site's, the same for every visitor: a stale token or a bad session changes nothing.
    for visitor in (page(shop, session="short"), page(shop, token="hmac:u-1:" + "0" * 64)):
        assert client.get(SETTINGS, headers=visitor).json["on_disconnect"] == "stop"
    bad_key = client.get(SETTINGS, headers={"Authorization": "Bearer aic_live_nope"})
    assert (bad_key.status_code, bad_key.json["error"]["code"]) == (401, "invalid_api_key")
    assert_documented(client, bad_key, SETTINGS, "get")
    assert client.patch(SETTINGS, json={"title": "x"}, headers=page(shop, session=new_session())).status_code == 404


def test_a_site_without_anonymous_visitors_tells_its_pages_too(app):
    closed = make_site(app, "members.example.com", on_disconnect="finish")
    with app.app_context():
        sites.update_site(db.session, closed.domain, allow_anonymous=False)
    runtime_of(app).tenancy.poll()
    assert app.test_client().get(f"{BASE}", headers=page(closed, session=new_session())).status_code == 401
    assert app.test_client().get(SETTINGS, headers=page(closed)).json["on_disconnect"] == "finish", \
        "the page learns how its signed-in visitors' answers end before anyone signs in"
