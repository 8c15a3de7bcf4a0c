"""`flask keys …`: a key printed alone and once, stored as a hash; found by prefix or on stdin, never as an argument;
revoke and rotate, with their refusals on one line and exit code 2."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from aichat.extensions import db
from aichat.models import ClientKey, Site
from aichat.tenancy import keys
from aichat.tenancy.directory import key_digest
from aichat.tenancy.store import new_publishable_key
from tests.upstreams.conftest import ok, refused

KEY = re.compile(r"^aic_live_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def app(make_app):
    # No poller: its log line on a change would land in the commands' captured stderr.
    return make_app(AICHAT_CONFIG_POLL_INTERVAL=0)


@pytest.fixture
def shop(app):
    with app.app_context():
        db.session.add(Site(domain="shop.example.com", name="Shop", publishable_key=new_publishable_key()))
        db.session.commit()
    return "shop.example.com"


def create(flask, *args) -> str:
    result = ok(flask("keys", "create", *args))
    assert KEY.fullmatch(result.stdout.strip()) and result.stdout.count("\n") == 1, "the key alone on stdout"
    return result.stdout.strip()


def row(app, prefix: str) -> dict:
    with app.app_context():
        found = db.session.execute(select(ClientKey).where(ClientKey.prefix == prefix)).scalar_one()
        return {**keys.as_dict(found), "key_hash": found.key_hash}


def test_create_prints_the_key_once_and_stores_only_its_hash(app, flask, shop):
    result = ok(flask("keys", "create", "--site", shop, "--name", "checkout", "--expires", "30d", "--models",
                      "gpt-4o*, demo", "--rpm", "60", "--tpm", "1000", "--tpd", "50000", "--cost-day", "5",
                      "--cost-month", "100.50"))
    key = result.stdout.strip()
    assert KEY.fullmatch(key) and result.stdout == key + "\n"
    assert key not in result.stderr and "shown this once" in result.stderr
    stored = row(app, key[:17])
    assert stored["key_hash"] == key_digest(key).hex()
    assert (stored["site"], stored["name"], stored["models"]) == (shop, "checkout", ["gpt-4o*", "demo"])
    assert stored["limits"] == {"rpm": 60, "tpm": 1000, "tpd": 50000, "cost_day": "5", "cost_month": "100.50",
                                "currency": "USD"}
    expires = datetime.fromisoformat(stored["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=29, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=30)
    with app.app_context():  # nowhere in the database in clear
        dump = "\n".join(str(r) for table in ("client_key", "site", "config_version")
                         for r in db.session.execute(text(f"SELECT * FROM {table}")))
    assert key not in dump and key[17:] not in dump
    listed = ok(flask("keys", "list"))
    assert key not in listed.output and key[:17] in listed.stdout


def test_list_and_show_in_a_table_and_as_json(app, flask, shop):
    first = create(flask, "--site", shop, "--name", "one")
    second = create(flask, "--site", "localhost", "--models", "demo")
    table = ok(flask("keys", "list")).stdout.splitlines()
    assert table[0].split() == ["PREFIX", "NAME", "SITE", "STATE", "MODELS", "LIMITS", "CREATED", "LAST", "USED"]
    assert [line.split()[0] for line in table[1:]] == [second[:17], first[:17]], "by site, then age"
    only = json.loads(ok(flask("keys", "list", "--site", shop, "--json")).stdout)
    assert [(k["prefix"], k["state"], k["models"], k["last_used_at"]) for k in only] == [
        (first[:17], "active", [], None)]
    shown = json.loads(ok(flask("keys", "show", first[:14], "--json")).stdout)
    assert shown == only[0], "a start of the prefix is enough when only one key has it"
    human = ok(flask("keys", "show", "-", input=second + "\n")).stdout
    assert f"prefix:      {second[:17]}" in human and "models:      demo" in human
    for output in (table, only, shown, human):
        assert first not in str(output) and second not in str(output)


def test_a_whole_key_as_an_argument_is_refused_without_repeating_it(flask, shop):
    key = create(flask, "--site", shop)
    result = flask("keys", "revoke", key)
    refused(result, f"give its prefix {key[:17]}, or - and the key on standard input")
    assert key not in result.output


@pytest.mark.parametrize("args, message", [
    (("create", "--site", "nowhere.example"), "no site nowhere.example; create it with: flask sites create"),
    (("create", "--site", "http://x"), "is not a host name"),
    (("create", "--site", "localhost", "--expires", "30"), "--expires '30' is not a duration"),
    (("create", "--site", "localhost", "--expires", "0h"), "--expires '0h' is not a duration"),
    (("create", "--site", "localhost", "--rpm", "0"), "rpm must be at least 1"),
    (("create", "--site", "localhost", "--cost-day", "lots"), "cost_day must be an amount"),
    (("create", "--site", "localhost", "--models", "*"), "model pattern '*' is not a model name"),
    (("create", "--site", "localhost", "--name", "a\nb"), "key name 'a\\nb' must be"),
    (("show", "aic_live_zzzzzzzz"), "no client key starts with aic_live_zzzzzzzz"),
    (("show", "aic_live_"), "is not a client key prefix"),
    (("show", "sk-something-secret"), "give its prefix (aic_live_…, see flask keys list)"),
    (("show", "sk-short"), "the value given is not a client key prefix"),
    (("show", "-"), "no key on standard input"),
    (("revoke", "aic_live_zzzz"), "no client key starts with aic_live_zzzz"),
    (("rotate", "aic_live_zzzz", "--grace", "soon"), "--grace 'soon' is not a duration"),
    (("list", "--site", "nowhere.example"), "no site nowhere.example"),
])
def test_bad_input_is_one_line_and_exit_2(flask, args, message):
    refused(flask("keys", *args), message)


def test_an_unknown_whole_key_on_stdin_is_named_by_its_start_only(flask):
    unknown = "aic_live_" + "x" * 43
    result = flask("keys", "show", "-", input=unknown + "\n")
    refused(result, "no client key aic_live_xxxxxxxx… (the key given is not one of this gateway's)")
    assert unknown not in result.output


def test_an_ambiguous_prefix_names_the_keys_it_matches(app, flask):
    with app.app_context():
        site = db.session.execute(select(Site).where(Site.domain == "localhost")).scalar_one()
        for n in range(2):
            db.session.add(ClientKey(site=site, prefix=f"aic_live_abcd{n}xyz", key_hash=f"{n}" * 64))
        db.session.commit()
    refused(flask("keys", "show", "aic_live_abcd"), "aic_live_abcd is ambiguous: it starts aic_live_abcd0xyz, "
                                                    "aic_live_abcd1xyz; give more of the prefix")
    assert ok(flask("keys", "show", "aic_live_abcd1")).stdout.startswith("prefix:      aic_live_abcd1xyz")


def test_revoke_then_revoke_again(app, flask, shop):
    key = create(flask, "--site", shop)
    result = ok(flask("keys", "revoke", key[:17]))
    assert "Revoked client key" in result.stderr and "AICHAT_CONFIG_POLL_INTERVAL is 0" in result.stderr
    assert row(app, key[:17])["state"] == "revoked"
    assert "was already revoked" in ok(flask("keys", "revoke", "-", input=key)).stderr
    refused(flask("keys", "rotate", key[:17]), f"client key {key[:17]} is revoked; create a new one")


def test_revoke_waits_one_poll_interval_and_a_margin(make_app, shop):
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0.4)
    runner = app.test_cli_runner()
    key = runner.invoke(args=["keys", "create", "--site", shop]).stdout.strip()
    started = time.monotonic()
    result = ok(runner.invoke(args=["keys", "revoke", key[:17]]))
    assert time.monotonic() - started >= 1.4
    assert "waiting 1.4 s (AICHAT_CONFIG_POLL_INTERVAL + 1 s)" in result.stderr
    started = time.monotonic()
    ok(runner.invoke(args=["keys", "revoke", create(lambda *a, **k: runner.invoke(args=list(a), **k),
                                                    "--site", shop)[:17], "--no-wait"]))
    assert time.monotonic() - started < 1.0


def test_rotate_keeps_the_scope_and_gives_the_old_key_a_grace_period(app, flask, shop):
    old = create(flask, "--site", shop, "--name", "batch", "--models", "demo", "--rpm", "5", "--expires", "10d")
    result = ok(flask("keys", "rotate", old[:17], "--grace", "2h"))
    new = result.stdout.strip()
    assert KEY.fullmatch(new) and result.stdout == new + "\n" and new != old
    assert old not in result.output and new not in result.stderr
    before, after = row(app, old[:17]), row(app, new[:17])
    assert before["state"].startswith("rotated (grace until ") and before["replaced_by"] == new[:17]
    grace_end = datetime.fromisoformat(before["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=1, minutes=59) < grace_end - datetime.now(timezone.utc) <= timedelta(hours=2)
    assert (after["site"], after["name"], after["models"], after["limits"]) == (shop, "batch", ["demo"],
                                                                                {"rpm": 5, "currency": "USD"})
    lifetime = datetime.fromisoformat(after["expires_at"].replace("Z", "+00:00")) - datetime.now(timezone.utc)
    assert timedelta(days=9, hours=23) < lifetime <= timedelta(days=10), "as long as the old key was meant to last"
    refused(flask("keys", "rotate", old[:17]), f"was already rotated, to {new[:17]}; rotate that one")


def test_the_grace_period_never_outlasts_the_old_keys_own_expiry(app, flask, shop):
    old = create(flask, "--site", shop, "--expires", "1h")
    new = ok(flask("keys", "rotate", old[:17], "--grace", "2d", "--expires", "1w")).stdout.strip()
    left = datetime.fromisoformat(row(app, old[:17])["expires_at"].replace("Z", "+00:00")) - datetime.now(timezone.utc)
    assert left <= timedelta(hours=1)
    assert row(app, new[:17])["state"].startswith("expires ")


def test_rotate_with_no_grace_stops_the_old_key_at_once(app, flask, shop):
    old = create(flask, "--site", shop)
    result = ok(flask("keys", "rotate", old[:17], "--grace", "0"))
    assert row(app, old[:17])["state"] == "expired"
    assert "stopped working" in result.stderr


def test_every_change_bumps_the_tenancy_version(app, flask, shop):
    from aichat.tenancy.store import config_version

    def version():
        with app.app_context():
            return config_version(db.session)

    start = version()
    key = create(flask, "--site", shop)
    ok(flask("keys", "rotate", key[:17]))
    ok(flask("keys", "revoke", key[:17]))
    ok(flask("keys", "list"))
    assert version() == start + 3
