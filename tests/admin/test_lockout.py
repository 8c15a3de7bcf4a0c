"""Login lockout: repeated failures lock a name, the same way whether it exists or not; unlock by time or CLI."""
import re
import time
from datetime import timedelta

import pytest

from aichat import audit
from aichat.admin import accounts
from aichat.extensions import db
from tests.admin.conftest import PASSWORD, login

LOCKED = "Too many failed sign-ins for this name"
LOCK_SECONDS = 3  # each attempt costs a scrypt check: a busy machine needs a few seconds for several


@pytest.fixture
def lock_app(make_app, make_admin):
    """Three failures lock a name for three seconds; the per-address limit is out of the way."""
    app = make_app(AICHAT_LOGIN_MAX_FAILURES=3, AICHAT_LOGIN_LOCK_MINUTES=LOCK_SECONDS / 60,
                   AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "alice", token=False)
    return app


def _answers(client, username, password, times):
    return [(r.status_code, LOCKED in r.get_data(as_text=True))
            for r in (login(client, username, password) for _ in range(times))]


def test_failures_lock_the_account_and_even_the_right_password_is_refused(lock_app):
    client = lock_app.test_client()
    assert _answers(client, "alice", "wrong password!", 3) == [(401, False), (401, False), (423, True)]
    locked = login(client, "alice", PASSWORD)
    assert locked.status_code == 423 and LOCKED in locked.get_data(as_text=True)
    assert "flask users unlock NAME" in locked.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302, "a locked login opened a session"
    with lock_app.app_context():
        [event] = audit.events()
        assert (event.action, event.target, event.actor, event.address) == ("users.lock", "alice", "-", "127.0.0.1")


def _page(response, username):
    """The page with the name typed and the (per-session) CSRF token left out."""
    text = response.get_data(as_text=True).replace(username, "NAME")
    return re.sub(r'name="csrf_token" value="[^"]+"', "", text)


def test_an_unknown_name_locks_exactly_like_a_real_one(lock_app):
    """Could anyone tell from the answers whether a name exists? Same statuses, same pages, same timing rules."""
    real, ghost = lock_app.test_client(), lock_app.test_client()
    for step in range(5):
        a, b = login(real, "alice", "wrong password!"), login(ghost, "nobody", "wrong password!")
        assert a.status_code == b.status_code, f"attempt {step + 1}"
        assert _page(a, "alice") == _page(b, "nobody"), f"attempt {step + 1}"
    time.sleep(LOCK_SECONDS + 0.1)
    a, b = login(real, "alice", "wrong password!"), login(ghost, "nobody", "wrong password!")
    assert a.status_code == b.status_code == 401, "both locks ended after the lock time"


def test_the_lock_ends_by_itself_after_the_lock_time(lock_app):
    client = lock_app.test_client()
    _answers(client, "alice", "wrong password!", 3)
    assert login(client, "alice", PASSWORD).status_code == 423
    time.sleep(LOCK_SECONDS + 0.1)
    assert login(client, "alice", PASSWORD).status_code == 302
    with lock_app.app_context():
        alice = accounts.get("alice")
        assert (alice.failed_logins, alice.locked_until) == (0, None), "a good login clears the count"


def test_failures_spread_wider_than_the_window_never_lock(lock_app):
    """A count starts again when its first failure is older than the lock time."""
    client = lock_app.test_client()
    for _ in range(3):
        assert _answers(client, "alice", "wrong password!", 2) == [(401, False), (401, False)]
        with lock_app.app_context():
            alice = accounts.get("alice")
            alice.failed_logins_since -= timedelta(seconds=LOCK_SECONDS + 1)  # as if the window had passed
            db.session.commit()
    assert login(client, "alice", PASSWORD).status_code == 302


def test_flask_users_unlock_lets_the_admin_in_at_once_and_is_audited(lock_app, flask):
    client = lock_app.test_client()
    lock_app.config["AICHAT_LOGIN_LOCK_MINUTES"] = 60
    _answers(client, "alice", "wrong password!", 3)
    assert login(client, "alice", PASSWORD).status_code == 423
    listing = flask("users", "list").stdout
    assert "UTC" in next(line for line in listing.splitlines() if line.startswith("alice")).split("yes", 1)[1]
    result = flask("users", "unlock", "alice")
    assert result.exit_code == 0 and "Unlocked 'alice'" in result.stderr
    assert login(client, "alice", PASSWORD).status_code == 302
    with lock_app.app_context():
        assert [e.action for e in audit.events()] == ["users.unlock", "users.lock"]
    again = flask("users", "unlock", "alice")
    assert again.exit_code == 0 and "was not locked" in again.stderr
    assert flask("users", "unlock", "nobody").exit_code == 1


def test_the_address_limit_comes_first(make_app, make_admin):
    """Past AICHAT_LOGIN_RATE_LIMIT one address is stopped before any password check, whatever the names."""
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="4/minute", AICHAT_LOGIN_MAX_FAILURES=100)
    make_admin(app, "alice", token=False)
    client = app.test_client()
    statuses = [login(client, f"name{i}", "wrong password!").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
