"""A site's identity secret: what its backend signs its users' tokens with (aichat/chat/identity.py).

Stored Fernet-encrypted under the same key ring as upstream keys (aichat/crypto.py). Rotating makes a new
one; the old one keeps verifying tokens until its grace period ends, so pages holding tokens signed with it
keep working while the site's backend switches. Each change bumps the tenancy version (every process
decrypts the secrets once when it reloads its sites) and returns the site before and after for the audit
log, which says only whether a secret exists.
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from aichat.crypto import InvalidToken, KeyRing

from .sites import Change, get, site_dict
from .specs import SpecError
from .store import change

SECRET_PREFIX = "aic_id_"  # secret scanners (and the audit log's masking) can match it
GRACE_DEFAULT = timedelta(hours=24)
GRACE_MAX = timedelta(days=30)
_GRACE = re.compile(r"([0-9]{1,6})([smhd]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_grace(text: str) -> timedelta:
    """`24h`, `30m`, `2d`, `90s` (a bare number is hours; 0 ends the old secret at once), at most GRACE_MAX."""
    found = _GRACE.fullmatch((text or "").strip().lower())
    if not found:
        raise SpecError(f"--grace {text!r} is not a duration such as 24h, 30m or 2d (0: the old secret stops now)")
    grace = timedelta(seconds=int(found[1]) * _UNITS[found[2]])
    if grace > GRACE_MAX:
        raise SpecError(f"--grace {text!r} is longer than {GRACE_MAX.days} days")
    return grace


def current_or_new(session: Session, keyring: KeyRing, domain: str) -> tuple[str, Change | None]:
    """The site's identity secret, made now if it has none (then with the change to record)."""
    row = get(session, domain)
    if row.identity_secret:
        try:
            return keyring.decrypt(row.identity_secret), None
        except InvalidToken:
            raise SpecError(f"site {row.domain!r} has an identity secret that the encryption keys in force cannot "
                            f"decrypt: make a new one with --rotate --grace 0") from None
    return rotate(session, keyring, domain, timedelta(0))


def rotate(session: Session, keyring: KeyRing, domain: str, grace: timedelta = GRACE_DEFAULT) -> tuple[str, Change]:
    """A new identity secret; the current one, if any, keeps verifying for `grace` (none with 0)."""
    secret = new_secret()
    with change(session):
        row = get(session, domain)
        before = site_dict(row)
        if row.identity_secret and grace > timedelta(0):
            row.identity_secret_previous = row.identity_secret
            row.identity_secret_previous_until = datetime.now(timezone.utc) + grace
        else:
            row.identity_secret_previous = row.identity_secret_previous_until = None
        row.identity_secret = keyring.encrypt(secret)
        session.flush()
        after = site_dict(row)
    return secret, Change(before, after)
