"""Keeps a process's sites and client keys in step with the database, without a restart.

The same way as upstreams (aichat/upstreams/live.py): each change made with `flask sites …` or
`flask keys …` bumps the `tenancy` version in its transaction; each process reads that number at most
once per AICHAT_CONFIG_POLL_INTERVAL, off the request path, and on a move reads every site and key and
swaps in a new Directory with one assignment. A revoked key is refused by every worker within that
interval, and `flask keys revoke` waits it out before it returns. Per request: one dict lookup.
"""
from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from aichat.crypto import LazyKeyRing

from .directory import Directory, with_environment

log = logging.getLogger(__name__)


class LiveTenancy:
    """The app's current Directory."""

    def __init__(self, app):
        self.app = app
        self._reported: str | None = None
        self.keyring = LazyKeyRing(app.config, app.instance_path)  # opens the sites' identity secrets
        self.directory = self._read(quiet=True) or self._environment_only()

    def poll(self) -> bool:
        """Reload when the tenancy version moved; True when a new Directory is in place."""
        version = self._version()
        if version is None or version == self.directory.version:
            return False
        directory = self._read()
        if directory is None:
            return False
        self.directory = directory
        log.info("tenancy configuration version %s in force: %d sites, %d client keys", directory.version,
                 len(directory.sites), len(directory.keys))
        return True

    def _environment_only(self) -> Directory:
        return Directory(*with_environment([], [], self.app.config))

    def _version(self) -> int | None:
        from aichat import config_versions

        from . import store

        return config_versions.poll(self.app, lambda session: store.config_version(session), self._report)

    def _read(self, quiet: bool = False) -> Directory | None:
        from aichat.extensions import db

        from .store import config_version, database_tenancy

        if self._no_database_file():
            return None
        try:
            with self.app.app_context():
                version = config_version(db.session)
                sites, keys = database_tenancy(db.session, self.keyring)
                db.session.rollback()
        except Exception as exc:  # noqa: BLE001 - not migrated yet, or away: the next poll retries
            if not (quiet and isinstance(exc, SQLAlchemyError)):  # at start, readiness says so
                self._report(exc)
            return None
        if self._reported is not None:
            log.info("sites and client keys readable again")
            self._reported = None
        return Directory(*with_environment(sites, keys, self.app.config), version=version)

    def _no_database_file(self) -> bool:
        from aichat.config_versions import no_database_file

        return no_database_file(self.app)

    def _report(self, exc: Exception) -> None:
        reason = type(exc).__name__
        if reason != self._reported:
            log.warning("cannot read sites and client keys from the database (%s); using the ones in force and "
                        "trying again", reason)
            self._reported = reason
