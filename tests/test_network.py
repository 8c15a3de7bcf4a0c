"""The client address behind trusted proxies, and the address rules of the admin pages, the monitoring API and
/metrics: a refused address gets 403 in the surface's shape, and a spoofed X-Forwarded-For changes nothing."""
import json

import pytest

from tests.conftest import CLIENT_KEY

MONITORING = "/api/v1/ai-monitoring/summary"
CHAT = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def get(app, path, peer, forwarded=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    with app.test_client().open(path, environ_base={"REMOTE_ADDR": peer}, headers=headers, **kwargs) as resp:
        resp.get_data()
        return resp


@pytest.fixture
def guarded(make_app):
    """Admin and monitoring open to 203.0.113.0/24 and 2001:db8::/32 except 203.0.113.66 and 2001:db8:bad::/48."""

    def build(proxies: int, **settings):
        allow, deny = ["203.0.113.0/24", "2001:db8::/32"], ["203.0.113.66", "2001:db8:bad::/48"]
        return make_app(AICHAT_TRUSTED_PROXIES=proxies, AICHAT_ADMIN_ALLOW_IPS=allow, AICHAT_ADMIN_DENY_IPS=deny,
                        AICHAT_MONITORING_ALLOW_IPS=allow, AICHAT_MONITORING_DENY_IPS=deny, **settings)

    return build


@pytest.mark.parametrize("peer, admitted", [("203.0.113.7", True), ("203.0.113.66", False), ("198.51.100.7", False),
                                            ("2001:db8::7", True), ("2001:db8:bad::7", False), ("2001:db9::7", False),
                                            ("::ffff:203.0.113.7", True), ("::ffff:203.0.113.66", False)])
def test_direct_clients_by_their_socket_address(guarded, peer, admitted):
    app = guarded(0)
    page = get(app, "/admin/login", peer)
    api = get(app, MONITORING, peer)
    if admitted:
        assert page.status_code == 200
        assert api.status_code == 401, "let in: the API then asks for credentials"
        return
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert "AICHAT_ADMIN_ALLOW_IPS" in page.get_data(as_text=True)
    assert api.status_code == 403 and api.json["error"]["code"] == "address_not_allowed"
    assert api.json["error"]["request_id"] == api.headers["X-Request-ID"]
    assert "AICHAT_MONITORING_ALLOW_IPS" in api.json["error"]["message"]


def test_without_trusted_proxies_a_forwarded_header_changes_nothing(guarded):
    """A direct client from outside writes an allowed address into X-Forwarded-For: still refused, and a client from
    inside that names an outside address is still let in."""
    app = guarded(0)
    assert get(app, "/admin/login", "198.51.100.7", forwarded="203.0.113.7").status_code == 403
    assert get(app, MONITORING, "198.51.100.7", forwarded="203.0.113.7, 203.0.113.8").status_code == 403
    assert get(app, "/admin/login", "203.0.113.7", forwarded="198.51.100.7").status_code == 200


def test_behind_one_proxy_the_address_it_appended_counts_and_what_the_client_wrote_does_not(guarded):
    app = guarded(1)
    proxy = "10.0.0.2"  # the balancer itself is not in the list: the client behind it is judged
    assert get(app, "/admin/login", proxy, forwarded="203.0.113.7").status_code == 200
    assert get(app, "/admin/login", proxy, forwarded="2001:db8::7").status_code == 200
    # The client sent `X-Forwarded-For: 203.0.113.7` itself; the proxy appended the address it really came from.
    assert get(app, "/admin/login", proxy, forwarded="203.0.113.7, 198.51.100.7").status_code == 403
    assert get(app, MONITORING, proxy, forwarded="203.0.113.7, 2001:db8:bad::7").status_code == 403
    assert get(app, MONITORING, proxy, forwarded="198.51.100.7, 203.0.113.7").status_code == 401, "let in"
    # Without the header (a request straight to the app, bypassing the proxy), the peer is the client.
    assert get(app, "/admin/login", "203.0.113.9").status_code == 200
    assert get(app, "/admin/login", proxy).status_code == 403


def test_a_refused_address_learns_nothing_else(guarded, make_admin):
    """The address is checked first: before the CSRF check of a form, the credentials of the API, and routing."""
    app = guarded(0)
    _, token = make_admin(app)
    outside = "198.51.100.7"
    assert get(app, "/admin/login", outside, method="POST", data={"username": "admin"}).status_code == 403
    assert get(app, MONITORING, outside, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert get(app, "/admin/no-such-page", outside).status_code == 403
    assert get(app, "/api/v1/ai-monitoring/no-such", outside).status_code == 403
    assert get(app, MONITORING, "203.0.113.7", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_other_surfaces_are_not_covered(guarded):
    app = guarded(0)
    outside = "198.51.100.7"
    assert get(app, "/health", outside).status_code == 200
    assert get(app, "/administrator", outside).status_code == 404, "a prefix covers a path segment, not a string"
    assert get(app, CHAT, outside, method="POST", json=BODY).status_code == 200


@pytest.mark.parametrize("setting", ["AICHAT_ADMIN_ALLOW_IPS", "AICHAT_ADMIN_DENY_IPS",
                                     "AICHAT_MONITORING_ALLOW_IPS", "AICHAT_MONITORING_DENY_IPS"])
def test_a_bad_entry_stops_the_start_naming_the_setting_and_the_entry(make_app, setting):
    with pytest.raises(ValueError, match=rf"{setting}: '10\.0\.0\.0/33'"):
        make_app(**{setting: ["10.0.0.1", "10.0.0.0/33"]})


def test_settings_from_the_environment(monkeypatch, app_from_environment):
    monkeypatch.setenv("AICHAT_ADMIN_ALLOW_IPS", "203.0.113.0/24, 2001:db8::/32")
    monkeypatch.setenv("AICHAT_TRUSTED_PROXIES", "1")
    app = app_from_environment()
    assert get(app, "/admin/login", "10.0.0.2", forwarded="2001:db8::1").status_code == 200
    assert get(app, "/admin/login", "10.0.0.2", forwarded="198.51.100.7").status_code == 403
    monkeypatch.setenv("AICHAT_CLIENT_IP_STORAGE", "partly")
    with pytest.raises(ValueError, match="AICHAT_CLIENT_IP_STORAGE"):
        app_from_environment()


@pytest.mark.parametrize("hops", [-1, "1", True])
def test_a_bad_proxy_count_stops_the_start(make_app, hops):
    with pytest.raises(ValueError, match="AICHAT_TRUSTED_PROXIES"):
        make_app(AICHAT_TRUSTED_PROXIES=hops)


@pytest.mark.parametrize("proxies", [0, 1])
def test_rate_limits_count_per_client_address_as_the_proxies_report_it(make_app, proxies):
    """Three chats a minute: with no trusted proxy, spoofed X-Forwarded-For values are one client (the peer); behind
    one proxy, the client addresses it reports are counted apart."""
    app = make_app(AICHAT_RATE_LIMIT="3/minute", AICHAT_TRUSTED_PROXIES=proxies)
    statuses = [get(app, CHAT, "10.0.0.2", forwarded=f"198.51.100.{n}", method="POST", json=BODY).status_code
                for n in range(5)]
    assert statuses == ([200, 200, 200, 429, 429] if proxies == 0 else [200] * 5)
    if proxies:
        same = [get(app, CHAT, "10.0.0.2", forwarded="203.0.113.5", method="POST", json=BODY).status_code
                for _ in range(4)]
        assert same == [200, 200, 200, 429]


def access_line(capsys, path: str) -> dict:
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line.get("logger") == "aichat.access" and line["path"] == path]
    return line


@pytest.mark.parametrize("storage, client, logged", [
    ("full", "198.51.100.7", "198.51.100.7"),
    ("truncated", "198.51.100.7", "198.51.100.0/24"),
    ("truncated", "2001:db8:1:2::5", "2001:db8:1::/48"),
    ("none", "198.51.100.7", None),
])
def test_the_access_log_keeps_the_client_address_as_configured(make_app, capsys, storage, client, logged):
    app = make_app(AICHAT_TRUSTED_PROXIES=1, AICHAT_CLIENT_IP_STORAGE=storage)
    capsys.readouterr()
    assert get(app, CHAT, "10.0.0.2", forwarded=f"203.0.113.9, {client}", method="POST", json=BODY,
               headers={"Authorization": f"Bearer {CLIENT_KEY}"}).status_code == 200
    line = access_line(capsys, CHAT)
    assert line["remote_addr"] == logged, "the client the proxy saw, never the spoofed entry or the proxy"
