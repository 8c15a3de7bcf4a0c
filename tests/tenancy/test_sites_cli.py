"""`flask sites …`: every change checked, refused in one line with exit code 2, and in force after the next poll."""
from __future__ import annotations

import json

import pytest

from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy import LOCAL_DOMAIN, sites
from aichat.tenancy.store import config_version
from tests.tenancy.conftest import add_key, polled
from tests.upstreams.conftest import ok, refused

SHOP = "https://shop.example.com"


@pytest.fixture
def shop(flask):
    """The site shop.example.com with two origins and a preset and limits; returns its publishable key."""
    result = ok(flask("sites", "create", "shop.example.com", "--origin", SHOP,
                      "--origin", "https://www.shop.example.com/", "--name", "The Shop", "--max-tokens", "512",
                      "--temperature-range", "0.2-1.0",
                      "--allowed-models", "gpt-4o*", "--default-model", "gpt-4o-mini", "--rpm", "60",
                      "--cost-day", "5.50", "--system-prompt", "You are the shop's assistant."))
    return result.stdout.strip()


def show(flask, domain="shop.example.com") -> dict:
    return json.loads(ok(flask("sites", "show", domain, "--json")).stdout)


def test_create_prints_the_publishable_key_alone_and_stores_every_setting(flask, shop):
    assert shop.startswith("pk_") and "\n" not in shop
    site = show(flask)
    assert site["publishable_key"] == shop and site["name"] == "The Shop" and site["enabled"]
    assert site["origins"] == [SHOP, "https://www.shop.example.com"]
    assert site["preset"]["max_tokens"] == 512 and site["preset"]["allowed_models"] == ["gpt-4o*"]
    assert (site["preset"]["temperature_min"], site["preset"]["temperature_max"]) == (0.2, 1.0)
    assert site["preset"]["system_prompt"] == "You are the shop's assistant."
    assert site["limits"]["rpm"] == 60 and site["limits"]["cost_day"] == "5.50"
    listed = json.loads(ok(flask("sites", "list", "--json")).stdout)
    assert [s["domain"] for s in listed] == [LOCAL_DOMAIN, "shop.example.com"]
    table = ok(flask("sites", "list")).stdout
    assert "shop.example.com" in table and SHOP in table and "enabled" in table


def test_a_change_is_in_force_after_the_next_poll_not_before(app, flask):
    before = polled(app)
    version = before.version
    ok(flask("sites", "create", "blog.example.com", "--origin", "https://blog.example.com"))
    assert runtime_of(app).directory.site_for_origin("https://blog.example.com") is None
    after = polled(app)
    assert after.version == version + 1
    assert after.site_for_origin("https://blog.example.com").domain == "blog.example.com"
    ok(flask("sites", "disable", "blog.example.com"))
    assert polled(app).site_for_origin("https://blog.example.com").enabled is False


@pytest.mark.parametrize("args, message", [
    (["create", "bad domain", "--origin", SHOP], "is not a host name"),
    (["create", "x.example", "--origin", "x.example"], "is not an origin"),
    (["create", "x.example", "--origin", "https://x.example/path"], "is not an origin"),
    (["create", "x.example"], "give at least one --origin"),
    (["create", "x.example", "--origin", SHOP], "already used by site 'shop.example.com'"),
    (["create", "shop.example.com", "--origin", "https://other.example"], "already exists"),
    (["create", "x.example", "--origin", "https://x.example", "--client-system", "sometimes"], "one of refuse"),
    (["create", "x.example", "--origin", "https://x.example", "--temperature-range", "hot"], "is not LOW-HIGH"),
    (["create", "x.example", "--origin", "https://x.example", "--temperature-range", "1.5-0.5"],
     "above temperature_max"),
    (["create", "x.example", "--origin", "https://x.example", "--max-tokens", "0"], "at least 1"),
    (["create", "x.example", "--origin", "https://x.example", "--rpm", "many"], "whole number"),
    (["create", "x.example", "--origin", "https://x.example", "--currency", "dollars"], "three-letter"),
    (["update", "shop.example.com", "--default-model", "gemini-2.5-flash"], "not among allowed_models"),
    (["update", "shop.example.com"], "nothing to change"),
    (["update", "shop.example.com", "--remove-origin", "https://nope.example"], "has no origin"),
    (["update", "shop.example.com", "--domain", LOCAL_DOMAIN], "cannot be renamed"),
    (["update", LOCAL_DOMAIN, "--domain", "local.example"], "cannot be renamed"),
    (["update", "nowhere.example", "--name", "N"], "no site 'nowhere.example'"),
    (["show", "nowhere.example"], "no site"),
    (["disable", "nowhere.example"], "no site"),
    (["remove", LOCAL_DOMAIN, "--yes"], "cannot be removed"),
])
def test_bad_input_is_refused_in_one_line_with_exit_code_2(app, flask, shop, args, message):
    version = _version(app)
    refused(flask("sites", *args), message)
    assert _version(app) == version, "a refused change changes nothing"


def test_an_unknown_preset_field_in_a_preset_file_is_refused(flask, shop):
    refused(flask("sites", "update", "shop.example.com", "--preset-file", "-", input='{"colour": "red"}'),
            "unknown preset field 'colour'")
    refused(flask("sites", "update", "shop.example.com", "--preset-file", "-", input='[1]'), "JSON object")


def test_a_preset_copied_from_another_site(flask, shop):
    preset = json.dumps(show(flask)["preset"])
    ok(flask("sites", "create", "copy.example.com", "--origin", "https://copy.example.com", "--preset-file", "-",
             "--max-tokens", "100", input=preset))
    copied = show(flask, "copy.example.com")["preset"]
    assert copied == {**show(flask)["preset"], "max_tokens": 100}


def test_an_origin_of_allowed_origins_belongs_to_the_local_site(make_app):
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_ALLOWED_ORIGINS=["https://legacy.example"])
    runner = app.test_cli_runner()
    refused(runner.invoke(args=["sites", "create", "legacy.example", "--origin", "https://legacy.example"]),
            "belongs to the local site through AICHAT_ALLOWED_ORIGINS")
    local = json.loads(ok(runner.invoke(args=["sites", "show", LOCAL_DOMAIN, "--json"])).stdout)
    assert local["origins"] == [] and local["environment_origins"] == ["https://legacy.example"]


def test_update_renames_changes_and_clears(app, flask, shop):
    key = add_key(app, "shop.example.com")
    site_id = polled(app).by_domain["shop.example.com"].id
    result = ok(flask("sites", "update", "shop.example.com", "--domain", "store.example.com", "--name", "Store",
                      "--add-origin", "https://m.shop.example.com", "--remove-origin", "https://www.shop.example.com",
                      "--max-tokens", "none", "--temperature-range", "none", "--client-system", "replace",
                      "--no-suggestions", "--rpm", "none", "--tpd", "100000", "--no-anonymous"))
    assert "Updated site 'store.example.com'" in result.stderr and result.stdout == ""
    refused(flask("sites", "show", "shop.example.com"), "no site")
    site = show(flask, "store.example.com")
    assert site["origins"] == ["https://m.shop.example.com", SHOP] and site["name"] == "Store"
    assert site["preset"]["max_tokens"] is None and site["preset"]["temperature_min"] is None
    assert site["preset"]["client_system"] == "replace" and site["preset"]["suggestions"] is False
    assert site["preset"]["allowed_models"] == ["gpt-4o*"], "what is not named stays"
    assert site["limits"]["rpm"] is None and site["limits"]["tpd"] == 100000 and site["limits"]["cost_day"] == "5.50"
    assert site["allow_anonymous"] is False and site["publishable_key"] == shop
    directory = polled(app)
    renamed = directory.by_domain["store.example.com"]
    assert renamed.id == site_id and directory.site_of(directory.key_for(key)) is renamed, "its keys follow"
    assert directory.site_for_origin("https://www.shop.example.com") is None


def test_a_cleared_system_prompt_and_model_list(flask, shop):
    ok(flask("sites", "update", "shop.example.com", "--system-prompt", "", "--allowed-models", "none",
             "--default-model", "none"))
    preset = show(flask)["preset"]
    assert preset["system_prompt"] is None and preset["allowed_models"] == [] and preset["default_model"] is None


def test_the_system_prompt_from_a_file(flask, shop, tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("Answer only about the shop.\nBe brief.\n")
    ok(flask("sites", "update", "shop.example.com", "--system-prompt-file", str(path)))
    assert show(flask)["preset"]["system_prompt"] == "Answer only about the shop.\nBe brief."
    refused(flask("sites", "update", "shop.example.com", "--system-prompt-file", str(path), "--system-prompt", "x"),
            "not both")


def test_rotating_the_publishable_key(app, flask, shop):
    result = ok(flask("sites", "update", "shop.example.com", "--rotate-publishable-key"))
    new = result.stdout.strip()
    assert new.startswith("pk_") and new != shop
    directory = polled(app)
    assert directory.by_publishable_key[new].domain == "shop.example.com" and shop not in directory.by_publishable_key


def test_disable_and_enable(app, flask, shop):
    assert "Disabled site 'shop.example.com'" in ok(flask("sites", "disable", "shop.example.com")).stderr
    assert "already disabled" in ok(flask("sites", "disable", "shop.example.com")).stderr
    assert polled(app).by_domain["shop.example.com"].enabled is False
    ok(flask("sites", "enable", "shop.example.com"))
    assert show(flask)["enabled"] is True and polled(app).by_domain["shop.example.com"].enabled


def test_remove_deletes_the_site_and_its_keys(app, flask, shop):
    key = add_key(app, "shop.example.com")
    assert polled(app).key_for(key) is not None
    aborted = flask("sites", "remove", "shop.example.com", input="n\n")
    assert aborted.exit_code == 1 and "delete its 1 client key" in aborted.stderr
    result = ok(flask("sites", "remove", "shop.example.com", "--yes"))
    assert "deleted its 1 client key" in result.stderr and "usage history stays" in result.stderr
    directory = polled(app)
    assert "shop.example.com" not in directory.by_domain and directory.key_for(key) is None
    with app.app_context():
        assert sites.key_counts(db.session) == {}


def test_every_change_returns_the_site_before_and_after(app):
    with app.app_context():
        created = sites.create_site(db.session, "a.example", ["https://a.example"], limits={"rpm": 5})
        assert created.before is None and created.after["limits"]["rpm"] == 5
        updated = sites.update_site(db.session, "a.example", limits={"rpm": None}, name="A")
        assert updated.before == created.after and updated.after["limits"]["rpm"] is None
        assert updated.after["name"] == "A"
        disabled = sites.set_enabled(db.session, "a.example", False)
        assert disabled.before["enabled"] and not disabled.after["enabled"]
        removed = sites.remove_site(db.session, "a.example")
        assert removed.after is None and removed.before == {**disabled.after, "client_keys": 0}


def _version(app) -> int:
    with app.app_context():
        return config_version(db.session)


def test_update_origin_adds_one_as_the_refusal_of_an_unknown_origin_suggests(flask, shop):
    ok(flask("sites", "update", "shop.example.com", "--origin", "https://m.shop.example.com"))
    assert "https://m.shop.example.com" in show(flask)["origins"]


def test_every_change_leaves_one_audit_entry_with_the_site_before_and_after(app, flask):
    from aichat import audit
    from aichat.models import AuditEvent

    commands = [("create", "a.example", "--origin", "https://a.example", "--rpm", "5"),
                ("update", "a.example", "--domain", "b.example", "--rpm", "none"), ("disable", "b.example"),
                ("enable", "b.example"), ("remove", "b.example", "--yes")]
    for command in commands:
        ok(flask("sites", *command))
    refused(flask("sites", "remove", LOCAL_DOMAIN, "--yes"), "cannot be removed")
    ok(flask("sites", "list")), ok(flask("sites", "show", LOCAL_DOMAIN))
    with app.app_context():
        rows = [audit.as_dict(row) for row in
                db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert [(r["action"], r["target_type"], r["target"]) for r in rows] == [
        ("sites.create", "site", "a.example"), ("sites.update", "site", "b.example"),
        ("sites.disable", "site", "b.example"), ("sites.enable", "site", "b.example"),
        ("sites.remove", "site", "b.example")], "one per change; refusals and reads leave none"
    created, renamed, removed = rows[0], rows[1], rows[4]
    assert created["before"] is None and created["after"]["limits"]["rpm"] == 5
    assert renamed["before"]["domain"] == "a.example" and renamed["after"]["limits"]["rpm"] is None
    assert removed["after"] is None and removed["before"]["client_keys"] == 0
    assert rows[0]["actor"].startswith("cli:")


def test_a_sites_address_lists_are_set_replaced_and_cleared(app, flask):
    ok(flask("sites", "create", "lists.example.com", "--origin", "https://lists.example.com",
             "--allow-ip", "10.1.2.3/8", "--allow-ip", "2001:DB8::/32", "--deny-ip", "10.9.0.0/16"))
    shown = json.loads(ok(flask("sites", "show", "lists.example.com", "--json")).stdout)
    assert (shown["ip_allow"], shown["ip_deny"]) == (["10.0.0.0/8", "2001:db8::/32"], ["10.9.0.0/16"])
    ok(flask("sites", "update", "lists.example.com", "--allow-ip", "none", "--deny-ip", "192.0.2.0/24"))
    shown = json.loads(ok(flask("sites", "show", "lists.example.com", "--json")).stdout)
    assert (shown["ip_allow"], shown["ip_deny"]) == ([], ["192.0.2.0/24"])
    refused(flask("sites", "update", "lists.example.com", "--deny-ip", "10.0.0.0/33"), "--deny-ip: '10.0.0.0/33'")
