"""The end user on the chat endpoint: limits count each end user apart, and requests without the headers are
served as before."""
from __future__ import annotations

from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy import sites
from tests.chat.conftest import key_of, make_site, new_session, page, server, user_token

PROXY = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def _per_user_limit(app, site, rpm_user: int) -> None:
    with app.app_context():
        sites.update_site(db.session, site.domain, limits={"rpm_user": rpm_user})
    runtime_of(app).tenancy.poll()


def test_rpm_user_counts_each_end_user_apart(app):
    shop = make_site(app, "shop.example.com")
    _per_user_limit(app, shop, 1)
    client, session = app.test_client(), new_session()
    assert client.post(PROXY, json=BODY, headers=page(shop, session=session)).status_code == 200
    again = client.post(PROXY, json=BODY, headers=page(shop, session=session))
    assert again.status_code == 429 and again.json["error"]["limit"]["scope"] == "user"
    assert client.post(PROXY, json=BODY, headers=page(shop, session=new_session())).status_code == 200
    signed = page(shop, session=session, token=user_token(shop, "u-1"))
    assert client.post(PROXY, json=BODY, headers=signed).status_code == 200, "the user, not the session, counts"
    assert client.post(PROXY, json=BODY, headers=server(key_of(app, shop), "u-1")).status_code == 429, \
        "a backend acting for u-1 counts against u-1"
    assert client.post(PROXY, json=BODY, headers=server(key_of(app, shop), "u-2")).status_code == 200


def test_without_end_user_headers_the_chat_is_served_as_before(app):
    shop = make_site(app, "shop.example.com")
    _per_user_limit(app, shop, 1)
    client = app.test_client()
    for _ in range(3):  # no end user named: the per-user limit has no one to count
        assert client.post(PROXY, json=BODY, headers=page(shop)).status_code == 200


def test_a_bad_token_on_the_chat_endpoint_is_a_clear_401(app):
    shop = make_site(app, "shop.example.com")
    refused = app.test_client().post(PROXY, json=BODY, headers=page(shop, token=user_token(shop, "u", -100)))
    assert (refused.status_code, refused.json["error"]["code"]) == (401, "user_token_expired")
    assert refused.headers["Access-Control-Allow-Origin"] == shop.origin, "the page can read why"
