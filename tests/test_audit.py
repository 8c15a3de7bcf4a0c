"""The audit log: a row for every change made through the CLI, secrets masked, `flask audit list`, pruning."""
import getpass
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, text

from aichat import audit
from aichat.extensions import db
from aichat.models import AdminUser, AuditEvent, ModelPrice
from aichat.runtime import runtime_of
from tests.upstreams.conftest import DEEPSEEK_KEY, OLD_KEY

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another long passphrase"
CLI = f"cli:{getpass.getuser()}"


@pytest.fixture
def app(make_app):
    return make_app(AICHAT_ENCRYPTION_KEY=[OLD_KEY], AICHAT_ENV="development", AICHAT_CONFIG_POLL_INTERVAL=0)


@pytest.fixture
def model(app):
    name = f"audit-model-{uuid.uuid4().hex[:8]}"
    yield name
    with app.app_context():
        db.session.execute(delete(ModelPrice).where(ModelPrice.model == name))
        db.session.commit()


def _events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        db.session.expunge_all()
        return rows


def test_mask_hides_secrets_by_name_and_by_shape():
    masked = audit.mask({
        "password": "hunter2", "api_key": "anything", "token_hash": "ab" * 32, "keys": [{"label": "main",
                                                                                          "secret": "x"}],
        "note": f"pasted {DEEPSEEK_KEY} by mistake", "header": "Bearer abcdefgh12345678",
        "hash_like": "scrypt:32768:8:1$salt$digest", "admin_token": None, "prefix": "aic_AbCdEf",
        "count_keys": 2, "enabled": True, "at": datetime(2026, 1, 2, tzinfo=timezone.utc),
        "google": "AIzaSyA-1234567890abcdefghijklmnopqrstu", "fernet": "gAAAAABnXoZ" + "x" * 40})
    assert masked == {
        "password": "***", "api_key": "***", "token_hash": "***", "keys": [{"label": "main", "secret": "***"}],
        "note": "pasted *** by mistake", "header": "***", "hash_like": "***", "admin_token": None,
        "prefix": "aic_AbCdEf", "count_keys": 2, "enabled": True, "at": "2026-01-02T00:00:00+00:00",
        "google": "***", "fernet": "***"}


def test_every_cli_change_is_recorded_with_who_what_and_where_and_no_secret(app, flask, model, tmp_path):
    """Each command that changes something leaves one row; reads leave none; no secret reaches any column."""
    prices_file = tmp_path / "prices.json"
    prices_file.write_text(json.dumps([{"model": model, "input_per_mtok": "1", "output_per_mtok": "2",
                                        "valid_from": "2026-01-01"}]))
    changes = [
        (("users", "create-admin", "alice", "--password-stdin"), PASSWORD + "\n", "users.create", "admin:alice"),
        (("users", "create-admin", "bob", "--role", "viewer", "--password-stdin"), PASSWORD + "\n", "users.create",
         "admin:bob"),
        (("users", "set-password", "bob", "--password-stdin"), NEW_PASSWORD + "\n", "users.set_password",
         "admin:bob"),
        (("users", "set-role", "bob", "admin"), None, "users.set_role", "admin:bob"),
        (("users", "disable", "bob"), None, "users.disable", "admin:bob"),
        (("users", "enable", "bob"), None, "users.enable", "admin:bob"),
        (("users", "create-token", "bob", "--name", "grafana"), None, "users.create_token", "token:"),
        (("users", "revoke-token", "{token_id}"), None, "users.revoke_token", "token:"),
        (("users", "remove", "bob", "--yes"), None, "users.remove", "admin:bob"),
        (("upstreams", "add", "deepseek", "--kind", "openai", "--base-url", "https://api.deepseek.com/v1",
          "--models", "deepseek-chat,deepseek-*"), None, "upstreams.add", "upstream:deepseek"),
        (("upstreams", "keys", "add", "deepseek", "--label", "main"), DEEPSEEK_KEY + "\n", "upstreams.keys.add",
         "upstream_key:deepseek/main"),
        (("upstreams", "keys", "disable", "deepseek", "main"), None, "upstreams.keys.disable",
         "upstream_key:deepseek/main"),
        (("upstreams", "keys", "enable", "deepseek", "main"), None, "upstreams.keys.enable",
         "upstream_key:deepseek/main"),
        (("upstreams", "update", "deepseek", "--priority", "7"), None, "upstreams.update", "upstream:deepseek"),
        (("upstreams", "disable", "deepseek"), None, "upstreams.disable", "upstream:deepseek"),
        (("upstreams", "enable", "deepseek"), None, "upstreams.enable", "upstream:deepseek"),
        (("upstreams", "reencrypt"), None, "upstreams.reencrypt", "upstream_keys:*"),
        (("upstreams", "keys", "remove", "deepseek", "main"), None, "upstreams.keys.remove",
         "upstream_key:deepseek/main"),
        (("upstreams", "remove", "deepseek", "--yes"), None, "upstreams.remove", "upstream:deepseek"),
        (("prices", "set", model, "--input", "1", "--output", "2", "--valid-from", "2026-01-01"), None,
         "prices.set", f"price:{model}@2026-01-01"),
        (("prices", "import", str(prices_file)), None, "prices.import", f"price:{prices_file}"),
        (("usage", "prune", "--older-than", "3650d"), None, "usage.prune", "usage_log:"),
    ]
    reads = [("users", "list"), ("users", "tokens", "alice"), ("upstreams", "list"), ("prices", "list"),
             ("audit", "list")]
    printed, token_id = [], None
    for args, stdin, action, target in changes:
        before = len(_events(app))
        result = flask(*(arg.format(token_id=token_id) for arg in args), input=stdin)
        issued = re.search(r"Token (\d+) ", result.stderr)  # create-token names its id for revoke-token
        token_id = issued[1] if issued else token_id
        assert result.exit_code == 0, (args, result.output)
        printed.append(result.stdout)
        new = _events(app)[before:]
        assert [(e.action, f"{e.target_type}:{e.target}".startswith(target)) for e in new] == [(action, True)], args
        assert (new[0].actor, new[0].address) == (CLI, "cli")
    count = len(_events(app))
    for args in reads:
        assert flask(*args).exit_code == 0
    assert len(_events(app)) == count, "a read was recorded as a change"

    token = next(line for line in printed if line.startswith("aic_")).strip()
    secrets = [PASSWORD, NEW_PASSWORD, DEEPSEEK_KEY, token, "scrypt:", "gAAAAA"]
    with app.app_context():
        secrets += [h for (h,) in db.session.execute(db.select(AdminUser.password_hash))]
        dump = "\n".join(str(row) for row in db.session.execute(text("SELECT * FROM audit_event")))
    leaked = [s[:12] for s in secrets if s in dump]
    assert not leaked, f"secrets in the audit table: {leaked}"
    assert '"password": "***"' in dump, "the password change is recorded, masked"

    by_action = {e.action: e for e in _events(app)}
    assert json.loads(by_action["users.set_role"].before)["role"] == "viewer"
    assert json.loads(by_action["users.set_role"].after)["role"] == "admin"
    assert json.loads(by_action["upstreams.keys.add"].after) == {"upstream": "deepseek", "label": "main",
                                                                 "enabled": True}
    assert json.loads(by_action["users.create_token"].after)["prefix"] == token[:10]
    removed = by_action["upstreams.remove"]
    assert removed.after is None and json.loads(removed.before)["priority"] == 7


def test_a_refused_change_records_nothing(app, flask):
    assert flask("users", "set-role", "nobody", "admin").exit_code == 1
    assert flask("upstreams", "disable", "nothing").exit_code == 2
    assert _events(app) == []


@pytest.fixture
def history(app):
    """Three events: two from the CLI a while ago, one by an admin from an address."""
    now = datetime.now(timezone.utc)
    with app.app_context():
        audit.record("upstreams.add", "upstream", "deepseek", after={"priority": 1})
        audit.record("upstreams.update", "upstream", "deepseek", before={"priority": 1}, after={"priority": 5})
        audit.record("users.unlock", "admin", "alice", actor="root", address="203.0.113.7",
                     before={"locked_until": now}, after={"locked_until": None})
        old = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "upstreams.add")).scalar_one()
        old.created_at = now - timedelta(days=10)
        db.session.commit()


def test_audit_list_reads_and_filters(app, flask, history):
    table = flask("audit", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["AT", "(UTC)", "ACTOR", "FROM", "ACTION", "TARGET", "CHANGE"]
    assert [line.split()[4] for line in lines[1:]] == ["users.unlock", "upstreams.update", "upstreams.add"]
    assert "priority: 1 → 5" in lines[2]
    assert len(flask("audit", "list", "--since", "7d").stdout.splitlines()) == 3
    assert len(flask("audit", "list", "--since", "2000-01-01").stdout.splitlines()) == 4
    assert [e["actor"] for e in json.loads(flask("audit", "list", "--actor", "root", "--json").stdout)] == ["root"]
    by_target = json.loads(flask("audit", "list", "--target", "upstream:deepseek", "--json").stdout)
    assert [e["action"] for e in by_target] == ["upstreams.update", "upstreams.add"]
    assert by_target[0]["before"] == {"priority": 1} and by_target[0]["address"] == "cli"
    assert len(json.loads(flask("audit", "list", "--target", "admin", "--json").stdout)) == 1
    assert flask("audit", "list", "--actor", "nobody").stderr.startswith("No audit events")
    bad = flask("audit", "list", "--since", "last week")
    assert bad.exit_code == 2 and "--since" in bad.stderr and "Traceback" not in bad.output


def test_old_events_are_pruned_by_the_background_job(app, history):
    job = runtime_of(app).jobs[audit.PRUNE_JOB]
    assert job.interval == audit.PRUNE_INTERVAL
    app.config["AICHAT_AUDIT_RETENTION_DAYS"] = 7
    assert job.run_once()
    assert [e.action for e in _events(app)] == ["upstreams.update", "users.unlock"]


def test_retention_zero_keeps_everything_and_turns_the_job_off(make_app):
    app = make_app(AICHAT_AUDIT_RETENTION_DAYS=0)
    assert runtime_of(app).jobs[audit.PRUNE_JOB].interval == 0
    with app.app_context():
        assert audit.prune(0) == 0
