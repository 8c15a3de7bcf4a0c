"""Upstream keys at rest: the encryption keys are usable, set by the operator in production, and open every
stored key."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from flask import Flask

from .base import FAIL, OK, WARN, Check

MAX_NAMED = 5  # stored keys named in one reason


def encryption(app: Flask) -> Check:
    """Stored upstream keys are Fernet tokens: a lost or wrong encryption key makes them useless."""
    from sqlalchemy import func, select

    from aichat.config import ENCRYPTION_KEY_FILE
    from aichat.crypto import EncryptionKeyError, KeyRing
    from aichat.extensions import db
    from aichat.models import UpstreamKey
    from aichat.upstreams.store import undecryptable

    path = os.path.join(app.instance_path, ENCRYPTION_KEY_FILE)
    configured = app.config["AICHAT_ENCRYPTION_KEY"]
    try:
        # Read, never generated here: verify changes nothing.
        generated = None if configured else _read(path)
        keyring = KeyRing(configured) if configured else (
            KeyRing([generated], generated=True, source=path) if generated else None)
    except EncryptionKeyError as exc:
        return Check("encryption", FAIL, f"{exc}: no stored upstream key can be used until it is fixed")
    stored = db.session.execute(select(func.count()).select_from(UpstreamKey)).scalar()
    secrets = _identity_secrets()
    if (stored or secrets) and keyring is None:
        kept = " and ".join(filter(None, (_keys(stored) if stored else "",
                                          f"{len(secrets)} identity secret{'s' if len(secrets) != 1 else ''}"
                                          if secrets else "")))
        return Check("encryption", FAIL, f"{kept} stored, but AICHAT_ENCRYPTION_KEY is unset and {path} is "
                                         f"missing: set AICHAT_ENCRYPTION_KEY to the key they were stored under")
    sites = sorted({domain for domain, token in secrets if not _opens(keyring, token)})
    if sites:
        return Check("encryption", FAIL, f"the identity secret of {', '.join(sites[:MAX_NAMED])} cannot be decrypted "
                                         f"with the encryption keys in use, so their signed-in users are refused: "
                                         f"put the key it was stored under in AICHAT_ENCRYPTION_KEY, or make a new "
                                         f"one with flask sites identity-secret DOMAIN --rotate --grace 0")
    failed = undecryptable(db.session, keyring) if stored else []
    if failed:
        named = ", ".join(f"{upstream}/{label}" for upstream, label in failed[:MAX_NAMED])
        more = f" and {len(failed) - MAX_NAMED} more" if len(failed) > MAX_NAMED else ""
        return Check("encryption", FAIL, f"{_keys(len(failed))} of {stored} cannot be decrypted with the encryption "
                                         f"keys in use ({named}{more}), so the gateway leaves them out: put the key "
                                         f"they were stored under in AICHAT_ENCRYPTION_KEY (after the newest), or "
                                         f"remove and re-add them")
    found = f"{_keys(stored)} stored, all decrypt" if stored else "no upstream keys stored"
    if configured:
        return Check("encryption", OK, f"{found}; {len(configured)} key{'s' if len(configured) != 1 else ''} in "
                                       f"AICHAT_ENCRYPTION_KEY")
    where = f"generated in {path}" if keyring else f"to be generated in {path} when the first key is stored"
    if app.config["AICHAT_ENV"] == "production":
        return Check("encryption", WARN, f"{found}; the encryption key is {where}: set AICHAT_ENCRYPTION_KEY to "
                                         f"{'its content' if keyring else 'a Fernet key'} on every instance (each "
                                         f"instance would generate its own and could not open keys stored by "
                                         f"another), and keep it apart from database backups")
    return Check("encryption", OK, f"{found}; the encryption key is {where}, which is fine in development")


def _identity_secrets() -> list[tuple[str, str]]:
    """(domain, stored token) of every identity secret in use, a rotation's previous one during its grace."""
    from sqlalchemy import select

    from aichat.tenancy.store import aware

    from aichat.extensions import db
    from aichat.models import Site

    rows = db.session.execute(select(Site.domain, Site.identity_secret, Site.identity_secret_previous,
                                     Site.identity_secret_previous_until)).all()
    now = datetime.now(timezone.utc)
    found = []
    for domain, current, previous, until in rows:
        if current:
            found.append((domain, current))
        if previous and until is not None and aware(until) > now:  # a previous secret counts during its grace
            found.append((domain, previous))
    return found


def _opens(keyring, token: str) -> bool:
    from aichat.crypto import InvalidToken

    try:
        keyring.decrypt(token)
    except InvalidToken:
        return False
    return True


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read().strip() or None
    except OSError:
        return None


def _keys(count: int) -> str:
    return f"{count} upstream key{'s' if count != 1 else ''}"
