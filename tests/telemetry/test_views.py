"""Who may read /metrics: an address AICHAT_METRICS_ALLOW_IPS admits (and DENY_IPS does not), with the token when one
is set; nobody else."""
import pytest

TOKEN = "metrics-token-0123456789"


def get(app, address="127.0.0.1", **headers):
    with app.test_client().get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address}) as resp:
        resp.get_data()
        return resp


def test_loopback_may_scrape_by_default(app):
    resp = get(app)
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain; version=0.0.4")
    assert "aichat_requests_total" in resp.get_data(as_text=True)
    assert get(app, address="::1").status_code == 200
    assert get(app, address="::ffff:127.0.0.1").status_code == 200


def test_another_address_gets_403_json_without_a_token(app):
    resp = get(app, address="203.0.113.9")
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "address_not_allowed"
    assert "AICHAT_METRICS_ALLOW_IPS" in resp.json["error"]["message"]
    assert resp.json["error"]["request_id"] == resp.headers["X-Request-ID"]


@pytest.mark.parametrize("address, allowed", [("10.1.2.3", True), ("10.255.0.1", True), ("11.0.0.1", False),
                                              ("192.168.5.5", True), ("192.168.5.6", False),
                                              ("fd00::42", True), ("fe80::1", False), ("127.0.0.1", False),
                                              ("::ffff:10.9.9.9", True), ("10.66.0.1", False), ("fd00::66", False)])
def test_addresses_and_cidr_networks(make_app, address, allowed):
    """Is an address inside an allowed network (v4 or v6, or v4 mapped into v6) and outside the denied ones let in?"""
    app = make_app(AICHAT_METRICS_ALLOW_IPS=["10.0.0.0/8", "192.168.5.5", "fd00::/8"],
                   AICHAT_METRICS_DENY_IPS=["10.66.0.0/16", "fd00::66"])
    assert get(app, address=address).status_code == (200 if allowed else 403)


def test_with_a_token_any_address_may_scrape_with_it_and_a_wrong_or_missing_one_gets_401(make_app):
    app = make_app(AICHAT_METRICS_TOKEN=TOKEN)
    assert get(app, address="198.51.100.7", Authorization=f"Bearer {TOKEN}").status_code == 200
    assert get(app, address="198.51.100.7", Authorization=f"bearer {TOKEN}").status_code == 200
    wrong = get(app, address="198.51.100.7", Authorization=f"Bearer {TOKEN}x")
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_token"
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="metrics", error="invalid_token"'
    assert TOKEN not in wrong.get_data(as_text=True)
    missing = get(app, address="198.51.100.7")
    assert missing.status_code == 401 and missing.json["error"]["code"] == "missing_token"
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert get(app, address="198.51.100.7", Authorization=f"Basic {TOKEN}").status_code == 401
    assert get(app, address="127.0.0.1").status_code == 401, "once a token is set, loopback sends it too"


def test_a_token_and_an_allow_list_are_both_required(make_app):
    app = make_app(AICHAT_METRICS_TOKEN=TOKEN, AICHAT_METRICS_ALLOW_IPS=["10.0.0.0/8"])
    assert get(app, address="10.0.0.5", Authorization=f"Bearer {TOKEN}").status_code == 200
    assert get(app, address="10.0.0.5").status_code == 401
    assert get(app, address="203.0.113.9", Authorization=f"Bearer {TOKEN}").status_code == 403


def test_an_empty_allow_list_admits_every_address(make_app):
    app = make_app(AICHAT_METRICS_ALLOW_IPS=[], AICHAT_METRICS_DENY_IPS=["203.0.113.0/24"])
    assert get(app, address="198.51.100.7").status_code == 200
    assert get(app, address="203.0.113.9").status_code == 403, "deny still wins"


def test_a_denied_address_is_refused_even_with_the_token(make_app):
    app = make_app(AICHAT_METRICS_TOKEN=TOKEN, AICHAT_METRICS_DENY_IPS=["198.51.100.0/24"])
    assert get(app, address="198.51.100.7", Authorization=f"Bearer {TOKEN}").status_code == 403


def test_a_token_sent_where_none_is_configured_is_just_ignored(app):
    assert get(app, address="198.51.100.7", Authorization="Bearer anything").status_code == 403
    assert get(app, Authorization="Bearer anything").status_code == 200


@pytest.mark.parametrize("entry", ["10.0.0.300", "localhost", "10.0.0.0/33", "", "fd00::/200"])
@pytest.mark.parametrize("setting", ["AICHAT_METRICS_ALLOW_IPS", "AICHAT_METRICS_DENY_IPS"])
def test_a_bad_entry_stops_the_start_naming_it(make_app, setting, entry):
    with pytest.raises(ValueError) as exc:
        make_app(**{setting: ["127.0.0.1", entry]})
    assert setting in str(exc.value) and repr(entry) in str(exc.value)


def test_the_allowlist_from_the_environment_is_parsed_at_start(monkeypatch, app_from_environment):
    """AICHAT_METRICS_ALLOW_IPS=10.0.0.0/8,bad in the environment: create_app fails, and says which entry."""
    monkeypatch.setenv("AICHAT_METRICS_ALLOW_IPS", "10.0.0.0/8, 300.1.1.1")
    with pytest.raises(ValueError, match=r"AICHAT_METRICS_ALLOW_IPS: '300\.1\.1\.1'"):
        app_from_environment()


def test_the_old_setting_name_stops_the_start_with_the_new_one(monkeypatch, app_from_environment):
    monkeypatch.setenv("AICHAT_METRICS_ALLOW", "10.0.0.0/8")
    with pytest.raises(ValueError, match="AICHAT_METRICS_ALLOW is now AICHAT_METRICS_ALLOW_IPS"):
        app_from_environment()


def test_metrics_is_never_rate_limited(make_app):
    app = make_app(RATELIMIT_DEFAULT="2/minute")
    assert all(get(app).status_code == 200 for _ in range(5))
