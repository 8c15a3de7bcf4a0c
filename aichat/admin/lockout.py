"""Login lockout: AICHAT_LOGIN_MAX_FAILURES failed logins within AICHAT_LOGIN_LOCK_MINUTES of the first lock a
name for AICHAT_LOGIN_LOCK_MINUTES; `flask users unlock NAME` ends it sooner.

An admin's count and lock live in its row (every instance sees them; the CLI clears them). A name that
belongs to no admin is counted the same way in the rate-limit storage (Redis when configured), so an
unknown name locks exactly like a real one and the page never tells which names exist. The per-address
limit (AICHAT_LOGIN_RATE_LIMIT) comes first: it stops one client from trying many names.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import case, or_, update

from aichat.extensions import db, limiter
from aichat.models import AdminUser

from . import accounts

log = logging.getLogger(__name__)
_T = AdminUser.__table__.c


@dataclass(frozen=True)
class Policy:
    max_failures: int
    window: timedelta  # both how long failures are counted from the first, and how long a lock lasts

    @classmethod
    def of(cls, config) -> Policy:
        return cls(max(1, int(config["AICHAT_LOGIN_MAX_FAILURES"])),
                   timedelta(minutes=float(config["AICHAT_LOGIN_LOCK_MINUTES"])))


@dataclass(frozen=True)
class SignIn:
    admin: AdminUser | None  # set when the login succeeded
    locked: bool = False  # the name is locked (now, or by this very failure)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite returns naive UTC
        return moment.replace(tzinfo=timezone.utc)
    return moment


def sign_in(username: str, password: str, policy: Policy) -> SignIn:
    """Check a login form's credentials against the lockout; counts the failure or clears the count."""
    now = _now()
    # The password is checked even for a locked name: the time taken says nothing either.
    admin, matches = accounts.check_credentials(username, password)
    if locked(admin, username, now):
        return SignIn(None, locked=True)
    if admin is not None and matches and admin.is_active:
        _clear(admin)
        return SignIn(admin)
    return SignIn(None, locked=_count_failure(admin, username, policy, now))


def locked(admin: AdminUser | None, username: str, now: datetime | None = None) -> bool:
    now = now or _now()
    if admin is not None:
        until = _aware(admin.locked_until)
        return until is not None and until > now
    return _storage_get(_name_key(username, "lock")) > 0


def _clear(admin: AdminUser) -> None:
    if admin.failed_logins or admin.locked_until is not None or admin.failed_logins_since is not None:
        accounts.unlock(admin)  # a write only after failures, not at every sign-in


def _count_failure(admin: AdminUser | None, username: str, policy: Policy, now: datetime) -> bool:
    """Count one failed login; True when it locks the name."""
    if admin is None:
        seconds = max(1, int(policy.window.total_seconds()))
        count = _storage_incr(_name_key(username, "count"), seconds)
        if count < policy.max_failures:
            return False
        _storage_incr(_name_key(username, "lock"), seconds)
        return True
    # One atomic UPDATE, so concurrent failures each count: a count older than the window starts again.
    restart = or_(_T.failed_logins_since.is_(None), _T.failed_logins_since < now - policy.window)
    count = db.session.execute(
        update(AdminUser.__table__).where(_T.id == admin.id)
        .values(failed_logins=case((restart, 1), else_=_T.failed_logins + 1),
                failed_logins_since=case((restart, now), else_=_T.failed_logins_since))
        .returning(_T.failed_logins)).scalar_one()
    locks = count >= policy.max_failures
    if locks:
        db.session.execute(update(AdminUser.__table__).where(_T.id == admin.id)
                           .values(locked_until=now + policy.window))
    db.session.commit()
    db.session.expire(admin)
    if locks:
        from aichat import audit

        audit.record("users.lock", "admin", admin.username, after={"locked_until": now + policy.window,
                                                                 "failed_logins": count})
    return locks


def _name_key(username: str, what: str) -> str:
    # Hashed: the storage never holds what strangers typed, and the key has a fixed length.
    digest = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
    return f"{current_app.config['AICHAT_REDIS_PREFIX']}login-{what}:{digest}"


def _storage_get(key: str) -> int:
    try:
        return int(limiter.limiter.storage.get(key) or 0)
    except Exception as exc:  # noqa: BLE001 - the storage is away: an unknown name cannot lock meanwhile
        log.warning("login lockout: rate-limit storage unreachable (%s)", type(exc).__name__)
        return 0


def _storage_incr(key: str, expiry: int) -> int:
    try:
        return int(limiter.limiter.storage.incr(key, expiry))
    except Exception as exc:  # noqa: BLE001
        log.warning("login lockout: rate-limit storage unreachable (%s)", type(exc).__name__)
        return 0
