"""`flask users …` through Flask's CLI runner, against the real database."""
import hashlib
import re

import pytest
from werkzeug.security import check_password_hash

from aichat.admin import accounts
from aichat.api.auth import admin_from_token
from aichat.extensions import db
from aichat.models import AdminUser, ApiToken
from tests.admin.conftest import PASSWORD

TOKEN = re.compile(r"aic_[A-Za-z0-9_-]{43}")


@pytest.fixture
def users(app):
    """Run `flask users ARGS…` with optional stdin; returns click's Result (stdout and stderr apart)."""
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=["users", *args], input=input)

    return run


def _admin(app, username):
    with app.app_context():
        return db.session.execute(db.select(AdminUser).where(AdminUser.username == username)).scalar_one_or_none()


def _refused(result, message):
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_create_admin_from_stdin_stores_a_scrypt_hash(app, users):
    result = users("create-admin", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    admin = _admin(app, "alice")
    assert admin.is_active and admin.last_login_at is None
    assert admin.password_hash.startswith("scrypt:")
    assert PASSWORD not in admin.password_hash
    assert check_password_hash(admin.password_hash, PASSWORD)
    assert not check_password_hash(admin.password_hash, PASSWORD + "x")


def test_create_admin_reads_only_the_first_line(app, users):
    assert users("create-admin", "alice", "--password-stdin", input=PASSWORD + "\r\nsecond line\n").exit_code == 0
    with app.app_context():
        assert accounts.authenticate("alice", PASSWORD) is not None


def test_create_admin_from_the_prompt_asks_twice(app, users):
    result = users("create-admin", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Repeat the password" in result.stderr
    assert PASSWORD not in result.output, "the password is never echoed"
    with app.app_context():
        assert accounts.authenticate("alice", PASSWORD) is not None


def test_prompt_mismatch_asks_again(app, users):
    result = users("create-admin", "alice", input=f"{PASSWORD}\n{PASSWORD}!\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.stderr
    with app.app_context():
        assert accounts.authenticate("alice", PASSWORD) is not None


def test_prompt_mismatch_without_a_second_try_creates_nobody(app, users):
    result = users("create-admin", "alice", input=f"{PASSWORD}\n{PASSWORD}!\n")
    assert result.exit_code != 0
    assert _admin(app, "alice") is None


@pytest.mark.parametrize("password, message", [
    ("", "no password on stdin"),
    ("short pass", "at least 12 characters"),
    ("x" * 1025, "at most 1024 characters"),
])
def test_bad_passwords_are_refused(app, users, password, message):
    _refused(users("create-admin", "alice", "--password-stdin", input=password + "\n"), message)
    assert _admin(app, "alice") is None


def test_short_password_at_the_prompt_is_refused(app, users):
    _refused(users("create-admin", "alice", input="short\nshort\n"), "at least 12 characters")
    assert _admin(app, "alice") is None


@pytest.mark.parametrize("username", ["", "bad name", "a" * 65, "ünï", "semi;colon", "slash/name"])
def test_bad_usernames_are_refused_before_the_password_is_asked(app, users, username):
    result = users("create-admin", username)
    _refused(result, "1 to 64 characters")
    assert "Password" not in result.output


@pytest.mark.parametrize("username", ["a", "ops.team_1@example.com", "x-" * 32])
def test_good_usernames(app, users, username):
    assert users("create-admin", username, "--password-stdin", input=PASSWORD).exit_code == 0
    assert _admin(app, username) is not None


@pytest.mark.parametrize("again", ["alice", "ALICE"])
def test_duplicate_usernames_are_refused(app, users, again):
    assert users("create-admin", "alice", "--password-stdin", input=PASSWORD).exit_code == 0
    _refused(users("create-admin", again, "--password-stdin", input="another password 1\n"), "already exists")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(AdminUser)).scalar() == 1
        assert accounts.authenticate("alice", PASSWORD) is not None, "the first admin's password is kept"


@pytest.mark.parametrize("args", [
    ("set-password", "nobody", "--password-stdin"), ("disable", "nobody"), ("enable", "nobody"),
    ("create-token", "nobody"), ("tokens", "nobody"),
])
def test_unknown_user(app, users, args):
    _refused(users(*args, input=PASSWORD), "no admin called 'nobody'")


def test_set_password(app, users, make_admin):
    make_admin(app, "alice", token=False)
    result = users("set-password", "alice", "--password-stdin", input="a brand new password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert accounts.authenticate("alice", PASSWORD) is None
        assert accounts.authenticate("alice", "a brand new password") is not None


def test_set_password_keeps_the_policy(app, users, make_admin):
    make_admin(app, "alice", token=False)
    _refused(users("set-password", "alice", "--password-stdin", input="too short\n"), "at least 12")
    with app.app_context():
        assert accounts.authenticate("alice", PASSWORD) is not None


def test_set_password_from_the_prompt(app, users, make_admin):
    make_admin(app, "alice", token=False)
    assert users("set-password", "alice", input="a brand new password\n" * 2).exit_code == 0
    with app.app_context():
        assert accounts.authenticate("alice", "a brand new password") is not None


def test_disable_and_enable(app, users, make_admin):
    _, token = make_admin(app, "alice", role="admin")  # the last owner cannot be disabled
    assert users("disable", "alice").exit_code == 0
    with app.test_request_context():
        assert not _admin(app, "alice").is_active
        assert accounts.authenticate("alice", PASSWORD) is None
        assert admin_from_token(token) is None, "a disabled admin's tokens stop working"
    assert users("enable", "alice").exit_code == 0
    with app.test_request_context():
        assert accounts.authenticate("alice", PASSWORD) is not None
        assert admin_from_token(token).username == "alice"


def test_create_token_prints_the_token_alone(app, users, make_admin):
    admin_id, _ = make_admin(app, "alice", token=False)
    result = users("create-token", "alice", "--name", "grafana")
    assert result.exit_code == 0, result.output
    assert TOKEN.fullmatch(result.stdout.removesuffix("\n")), repr(result.stdout)
    token = result.stdout.strip()
    assert token not in result.stderr
    with app.test_request_context():
        row = db.session.execute(db.select(ApiToken).where(ApiToken.name == "grafana")).scalar_one()
        assert row.admin_id == admin_id and row.prefix == token[:10]
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        for table in (ApiToken, AdminUser):
            for stored in db.session.execute(db.select(table)).scalars():
                for column in table.__table__.columns:
                    assert token not in str(getattr(stored, column.name)), f"clear token in {column.name}"
        assert admin_from_token(token).id == admin_id


def test_created_token_works_as_bearer_on_the_monitoring_api(app, users, make_admin):
    make_admin(app, "alice", token=False)
    token = users("create-token", "alice").stdout.strip()
    client = app.test_client()
    assert client.get("/api/v1/ai-monitoring/summary").status_code == 401
    assert client.get("/api/v1/ai-monitoring/summary", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    resp = client.get("/api/v1/ai-monitoring/summary", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_create_token_refuses_a_disabled_admin_and_long_names(app, users, make_admin):
    make_admin(app, "alice", token=False, role="admin")
    _refused(users("create-token", "alice", "--name", "n" * 65), "at most 64")
    users("disable", "alice")
    _refused(users("create-token", "alice"), "disabled")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(ApiToken)).scalar() == 0


def test_list_shows_accounts_and_never_a_hash(app, users, make_admin):
    make_admin(app, "alice")
    make_admin(app, "bob", token=False)
    users("create-token", "alice")
    users("disable", "bob")
    with app.app_context():
        accounts.record_login(accounts.get("alice"))
        hashes = [a.password_hash for a in accounts.all_admins()]
    result = users("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "ACTIVE", "CREATED", "LAST", "LOGIN", "LOCKED", "UNTIL", "TOKENS"]
    alice = next(line for line in lines if line.startswith("alice"))
    bob = next(line for line in lines if line.startswith("bob"))
    assert alice.split()[1:3] == ["owner", "yes"] and alice.split()[-1] == "2" and alice.count("UTC") == 2
    assert bob.split()[1:3] == ["owner", "no"] and bob.split()[-1] == "0" and bob.count("UTC") == 1
    assert "scrypt" not in result.output and not any(h in result.output for h in hashes)


def test_list_counts_only_live_tokens(app, users, make_admin):
    make_admin(app, "alice")
    users("create-token", "alice")
    with app.app_context():
        first = accounts.tokens_of(accounts.get("alice"))[0].id
    assert users("revoke-token", str(first)).exit_code == 0
    alice = next(line for line in users("list").stdout.splitlines() if line.startswith("alice"))
    assert alice.split()[-1] == "1"


def test_tokens_lists_and_revoke_token_revokes(app, users, make_admin):
    _, first = make_admin(app, "alice")
    second = users("create-token", "alice", "--name", "ci").stdout.strip()
    with app.app_context():
        ids = [t.id for t in accounts.tokens_of(accounts.get("alice"))]
    listing = users("tokens", "alice")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PREFIX", "CREATED", "LAST", "USED", "REVOKED"]
    assert [line.split()[0] for line in lines[1:]] == [str(i) for i in ids]
    assert lines[2].split()[1:3] == ["ci", second[:10] + "…"]
    assert first not in listing.output and second not in listing.output

    revoked = users("revoke-token", str(ids[1]))
    assert revoked.exit_code == 0 and "Revoked" in revoked.stderr
    with app.test_request_context():
        assert admin_from_token(second) is None
        assert admin_from_token(first).username == "alice", "the other token still works"
    assert users("tokens", "alice").stdout.splitlines()[2].endswith("UTC")
    again = users("revoke-token", str(ids[1]))
    assert again.exit_code == 0 and "already revoked" in again.stderr
    _refused(users("revoke-token", "99999"), "no API token with id 99999")
    assert users("revoke-token", "not-a-number").exit_code == 2


def test_tokens_of_an_admin_without_any(app, users, make_admin):
    make_admin(app, "alice", token=False)
    result = users("tokens", "alice")
    assert result.exit_code == 0 and result.stdout == "" and "no API tokens" in result.stderr
