"""When each client key was last used: noted in memory per request, written at most once a minute per key.

A request only adds its key's id to a set. A job writes the set every RESOLUTION seconds, off the
request path, in one UPDATE that skips keys whose stored time is already less than RESOLUTION old, so
a fleet of workers writes each key about once a minute however busy it is. This is not a
configuration change: it does not bump the tenancy version, and no process reloads for it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from flask import Flask, g
from sqlalchemy import or_, update

log = logging.getLogger(__name__)

RESOLUTION = 60.0  # seconds: `flask keys list` shows the last use to the minute


class LastUsed:
    """The ids of the client keys used since the last write, and the job that writes them."""

    def __init__(self, app: Flask):
        self.app = app
        self._seen: set[int] = set()

    def after_request(self, response):
        """Note the key of this request's caller, if it holds a stored one (a set add; no I/O)."""
        caller = g.get("caller")
        key = getattr(caller, "key", None)
        if key is not None and key.id is not None:
            self._seen.add(key.id)
        return response

    def flush(self) -> int:
        """Write the keys noted since the last flush; the number of rows changed."""
        from aichat.extensions import db
        from aichat.models import ClientKey

        seen, self._seen = self._seen, set()
        if not seen:
            return 0
        now = datetime.now(timezone.utc)
        recent = now - timedelta(seconds=RESOLUTION)
        try:
            with self.app.app_context():
                changed = db.session.execute(
                    update(ClientKey).where(ClientKey.id.in_(sorted(seen)),
                                            or_(ClientKey.last_used_at.is_(None), ClientKey.last_used_at < recent))
                    .values(last_used_at=now).execution_options(synchronize_session=False)).rowcount
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 - the database may be away: keep them for the next round
            self._seen |= seen
            log.warning("cannot note when client keys were last used (%s); trying again later", type(exc).__name__)
            return 0
        return changed
