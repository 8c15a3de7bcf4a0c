"""`flask sites identity-secret` and the conversation settings of `flask sites update` and `show`."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from aichat.extensions import db
from aichat.models import AuditEvent, Site
from aichat.runtime import runtime_of
from tests.chat.conftest import BASE, ChatSite, new_session, page, user_token

SHOP = ChatSite("shop.example.com", "https://shop.example.com", secret="")  # its page, for the headers


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture
def shop_site(run):
    assert run("sites", "create", "shop.example.com", "--origin", "https://shop.example.com").exit_code == 0
    return "shop.example.com"


def _everything_stored(app) -> str:
    """Every site and audit row as text, to search for a secret."""
    with app.app_context():
        rows = [db.session.execute(text(f"SELECT * FROM {table}")).all() for table in ("site", "audit_event")]
    return repr(rows)


def test_identity_secret_is_made_once_printed_alone_and_stored_encrypted(app, run, shop_site):
    made = run("sites", "identity-secret", shop_site)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("aic_id_") and len(secret) > 40 and made.stdout == secret + "\n"
    assert "Created" in made.stderr
    again = run("sites", "identity-secret", shop_site)
    assert again.stdout.strip() == secret and again.stderr == ""
    assert secret not in _everything_stored(app)
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
    assert actions.count("sites.identity_secret.create") == 1
    shown = run("sites", "show", shop_site, "--json")
    assert json.loads(shown.stdout)["identity_secret"] is True and secret not in shown.stdout
    assert "identity secret:   set" in run("sites", "show", shop_site).stdout


def test_the_secret_signs_tokens_the_api_accepts_and_rotation_keeps_the_old_one_for_its_grace(app, run, shop_site):
    old = run("sites", "identity-secret", shop_site).stdout.strip()
    runtime_of(app).tenancy.poll()
    client = app.test_client()
    signed_old = page(SHOP, token=user_token(old, "u-1"))
    assert client.get(BASE, headers=signed_old).status_code == 200

    rotated = run("sites", "identity-secret", shop_site, "--rotate", "--grace", "2h")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip()
    assert new != old and "verifies tokens until" in rotated.stderr
    runtime_of(app).tenancy.poll()
    assert client.get(BASE, headers=signed_old).status_code == 200, "the old secret within its grace"
    assert client.get(BASE, headers=page(SHOP, token=user_token(new, "u-1"))).status_code == 200
    assert run("sites", "identity-secret", shop_site).stdout.strip() == new
    assert "previous one verifies until" in run("sites", "show", shop_site).stdout

    run("sites", "identity-secret", shop_site, "--rotate", "--grace", "0")
    runtime_of(app).tenancy.poll()
    refused = client.get(BASE, headers=page(SHOP, token=user_token(new, "u-1")))
    assert (refused.status_code, refused.json["error"]["code"]) == (401, "invalid_user_token")
    assert old not in _everything_stored(app) and new not in _everything_stored(app)


@pytest.mark.parametrize("args, says", [
    (("nowhere.example.com",), "no site"),
    (("shop.example.com", "--grace", "1h"), "--rotate"),
    (("shop.example.com", "--rotate", "--grace", "soon"), "duration"),
    (("shop.example.com", "--rotate", "--grace", "31d"), "longer than 30 days"),
])
def test_identity_secret_refuses_bad_input_in_one_line(run, shop_site, args, says):
    refused = run("sites", "identity-secret", *args)
    assert refused.exit_code == 2 and says in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert refused.stdout == ""


def test_update_sets_the_conversation_settings_and_show_prints_them(app, run, shop_site):
    changed = run("sites", "update", shop_site, "--no-merge-anonymous", "--on-disconnect", "finish",
                  "--retention-days", "30")
    assert changed.exit_code == 0, changed.output
    site = json.loads(run("sites", "show", shop_site, "--json").stdout)
    assert (site["merge_anonymous"], site["on_disconnect"], site["retention_days"]) == (False, "finish", 30)
    assert run("sites", "update", shop_site, "--retention-days", "none").exit_code == 0
    shown = run("sites", "show", shop_site).stdout
    assert "retention_days:    keep" in shown and "on_disconnect:     finish" in shown
    runtime_of(app).tenancy.poll()
    spec = runtime_of(app).directory.by_domain[shop_site]
    assert (spec.merge_anonymous, spec.on_disconnect, spec.retention_days) == (False, "finish", None)


def test_a_new_site_has_the_default_conversation_settings(app, run, shop_site):
    site = json.loads(run("sites", "show", shop_site, "--json").stdout)
    assert (site["merge_anonymous"], site["on_disconnect"], site["retention_days"], site["identity_secret"]) == (
        True, "stop", 90, False)


@pytest.mark.parametrize("args", [("--retention-days", "0"), ("--retention-days", "ten"),
                                  ("--retention-days", "-3"), ("--on-disconnect", "pause")])
def test_update_refuses_bad_conversation_settings(app, run, shop_site, args):
    refused = run("sites", "update", shop_site, *args)
    assert refused.exit_code == 2, refused.output
    with app.app_context():
        row = db.session.execute(select(Site).where(Site.domain == shop_site)).scalar_one()
        assert (row.retention_days, row.on_disconnect) == (90, "stop")


def test_a_session_header_on_a_site_with_a_secret_still_works_anonymously(app, run, shop_site):
    run("sites", "identity-secret", shop_site)
    runtime_of(app).tenancy.poll()
    assert app.test_client().post(BASE, headers=page(SHOP, session=new_session())).status_code == 201


def test_a_secret_the_keys_in_force_cannot_open_refuses_tokens_until_rotated(app, run, shop_site, caplog):
    """Stored under a key no longer configured: the site still serves, its users' tokens are refused and the log
    says why; `--rotate --grace 0` makes a working one."""
    from aichat.crypto import KeyRing, new_key

    lost = run("sites", "identity-secret", shop_site).stdout.strip()
    with app.app_context():
        row = db.session.execute(select(Site).where(Site.domain == shop_site)).scalar_one()
        row.identity_secret = KeyRing([new_key()]).encrypt(lost)
        db.session.commit()
    run("sites", "update", shop_site, "--retention-days", "60")  # any change: every process reloads
    runtime_of(app).tenancy.poll()
    assert "cannot be decrypted" in caplog.text and lost not in caplog.text
    client = app.test_client()
    refused = client.get(BASE, headers=page(SHOP, token=user_token(lost, "u-1")))
    assert (refused.status_code, refused.json["error"]["code"]) == (401, "invalid_user_token")
    assert client.get(BASE, headers=page(SHOP, session=new_session())).status_code == 200
    assert run("sites", "identity-secret", shop_site).exit_code == 2, "it says so instead of printing garbage"
    fresh = run("sites", "identity-secret", shop_site, "--rotate", "--grace", "0").stdout.strip()
    runtime_of(app).tenancy.poll()
    assert client.get(BASE, headers=page(SHOP, token=user_token(fresh, "u-1"))).status_code == 200
