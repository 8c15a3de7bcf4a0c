"""Which site a usage row is billed to: the caller's site by id; for reading, the local site's rows name Origin or
Referer for browsers, an explicit field for key holders."""
import hashlib

import openai
import pytest

from aichat.runtime import runtime_of
from tests.conftest import CLIENT_KEY, usage_rows

PROXY = "/api/v1/ai-proxy/chat"
V1 = "/v1/chat/completions"
LABEL = "key:" + hashlib.sha256(CLIENT_KEY.encode()).hexdigest()[:10]
MESSAGES = [{"role": "user", "content": "hi"}]
BEARER = {"Authorization": f"Bearer {CLIENT_KEY}"}
SHOP = "https://shop.example.com"


@pytest.fixture
def app(make_app):
    return make_app(AICHAT_ALLOWED_ORIGINS=[SHOP])


def _proxy(client, headers=None, **body):
    return client.post(PROXY, json={"messages": MESSAGES, "suggestions": False, **body}, headers=headers or {})


def _last(app):
    row = usage_rows(app, at_least=1)[-1]
    assert row["site_id"] == runtime_of(app).directory.local_site.id, "every caller here is of the local site"
    return row["site_domain"], row["caller"]


@pytest.mark.parametrize("headers, site", [
    ({"Origin": SHOP}, "shop.example.com"),
    ({"Referer": "https://blog.example.org/posts/1?page=2"}, "blog.example.org"),
    ({"Origin": SHOP, "Referer": "https://blog.example.org/"}, "shop.example.com"),
    ({}, "unknown"),
    ({"Referer": "not a url"}, "unknown"),
    ({"Referer": "http://[shop.example.com/"}, "unknown"),
])
def test_browser_calls_are_billed_to_their_page(app, headers, site):
    assert _proxy(app.test_client(), headers).status_code == 200
    assert _last(app) == (site, None)


def test_a_key_holder_names_its_site_on_the_browser_endpoint(app):
    resp = _proxy(app.test_client(), {**BEARER, "Origin": SHOP}, site_domain="Checkout.Example.NET")
    assert resp.status_code == 200, resp.json
    assert _last(app) == ("checkout.example.net", LABEL), "the explicit field wins over Origin, lower-cased"


def test_a_key_alone_identifies_the_caller(app):
    assert _proxy(app.test_client(), {**BEARER, "Origin": SHOP}).status_code == 200
    assert _last(app) == ("shop.example.com", LABEL)


@pytest.mark.parametrize("headers", [{}, {"Origin": SHOP}, {"Authorization": "Basic " + CLIENT_KEY}])
def test_without_a_valid_key_the_field_is_refused(app, headers):
    resp = _proxy(app.test_client(), headers, site_domain="shop.example.com")
    assert resp.status_code == 400
    error = resp.json["error"]
    assert error["code"] == "site_domain_not_allowed"
    assert "client keys of the local site" in error["message"] and "Origin" in error["message"]
    assert usage_rows(app) == [], "a refused request reaches no upstream"


def test_a_key_that_is_not_valid_is_refused_not_taken_for_a_browser(app):
    resp = _proxy(app.test_client(), {"Authorization": "Bearer not-a-client-key", "Origin": SHOP})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_api_key"
    assert usage_rows(app) == []


def test_a_null_field_is_no_field(app):
    assert _proxy(app.test_client(), {"Origin": SHOP}, site_domain=None).status_code == 200
    assert _last(app) == ("shop.example.com", None)


BAD = ["https://shop.example.com", "shop.example.com:8443", "shop.example.com/path", "shop example.com", "",
       " shop.example.com", "shop.example.com.", "-shop.example.com", "shop-.example.com", "shop..example.com",
       "shop_1.example.com", "bücher.example", "shop.exampl\u212a.com", "a" * 64 + ".example", "a." * 126 + "ab",
       123, True, ["shop.example.com"], {"host": "shop.example.com"}]
GOOD = ["localhost", "shop.example.com", "xn--bcher-kva.example", "10.0.0.7", "a" * 63 + ".example",
        ("a" * 62 + ".") * 4 + "b"]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("path", [PROXY, V1])
def test_bad_values_are_400_on_both_endpoints(app, path, value):
    body = {"messages": MESSAGES, "site_domain": value}
    resp = app.test_client().post(path, json=body, headers=BEARER)
    assert resp.status_code == 400
    error = resp.json["error"]
    assert error["code"] == "invalid_site_domain"
    if path == V1:
        assert error["param"] == "site_domain" and error["type"] == "invalid_request_error"
    assert usage_rows(app) == []


@pytest.mark.parametrize("value", GOOD)
def test_good_values(app, value):
    assert len(value) <= 253
    resp = app.test_client().post(V1, json={"messages": MESSAGES, "site_domain": value}, headers=BEARER)
    assert resp.status_code == 200, resp.json
    assert _last(app) == (value, LABEL)


@pytest.fixture
def sdk(gateway_app, live_server):
    app = gateway_app()
    return openai.OpenAI(api_key=CLIENT_KEY, base_url=live_server(app) + "/v1", max_retries=0, timeout=10), app


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_sdk_names_the_site_with_extra_body(sdk, fake_openai, stream):
    client, app = sdk
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=stream, extra_body={"site_domain": "Shop.Example.com"},
        extra_headers={"Referer": "https://elsewhere.example/"})
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices) == "Echo: hi"
    assert _last(app) == ("shop.example.com", LABEL)
    assert "site_domain" not in fake_openai.requests[-1].json, "the field is ours, not the upstream's"


def test_the_openai_sdk_without_the_field(sdk):
    client, app = sdk
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert _last(app) == ("unknown", LABEL)


def test_the_openai_sdk_gets_bad_request_for_a_bad_site(sdk, fake_openai):
    client, app = sdk
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                       extra_body={"site_domain": "https://shop.example.com"})
    assert raised.value.param == "site_domain" and raised.value.code == "invalid_site_domain"
    assert not fake_openai.requests
