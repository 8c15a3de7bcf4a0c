"""Keeps a process's gateway in step with the configured upstreams, without a restart.

Every change made with `flask upstreams …` (and later the console) bumps one version number in
the database in the same transaction. Each process reads that number at most once per
AICHAT_CONFIG_POLL_INTERVAL seconds, off the request path (a job in aichat/jobs.py); when it moved, the
process reads the upstreams, builds a new gateway — taking over every upstream whose spec is
unchanged, with its SDK clients and health — and swaps it in with one assignment. A request reads
the gateway once when it starts, so requests in flight finish on the configuration they started
with. Per request this costs nothing: no query, no lock.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from aichat.crypto import LazyKeyRing
from aichat.gateway import Gateway, HealthRegistry, build_gateway, build_health
from aichat.gateway.specs import UpstreamSpec, environment_specs

log = logging.getLogger(__name__)


class LiveGateway:
    """The app's current gateway and the configuration version it was built from."""

    def __init__(self, app, sink: Callable[[Any], None], health: HealthRegistry | None = None,
                 on_build: Callable[[Gateway], None] = lambda g: None):
        self.app = app
        self.sink = sink
        self.health = health or build_health(app.config, share=False)
        self.on_build = on_build  # told of every new gateway (metrics follow its circuits)
        self.version: int | None = None  # None: the database's upstreams could not be read yet
        self.keyring = LazyKeyRing(app.config, app.instance_path)
        self.aliases: dict[str, str] = {}  # the stored model aliases, read with the upstreams
        self._reported: str | None = None  # the last read failure logged, so an outage is one line
        # At start the database may not exist or be migrated yet (`flask db upgrade` builds this app too):
        # that is said by readiness and `flask verify`, not here.
        self._quiet = True
        self.gateway = self._build(*self._read())
        self._quiet = False

    def poll(self) -> bool:
        """Rebuild when the configuration version moved; True when a new gateway is in place."""
        version = self._version()
        if version is None or version == self.version:
            return False
        specs, version = self._read()
        if version is None:
            return False
        self.gateway = self._build(specs, version, previous=self.gateway)
        log.info("upstream configuration version %d in force: %s", version,
                 ", ".join(self.gateway.upstreams) or "none")
        return True

    def _version(self) -> int | None:
        from aichat import config_versions

        from . import store

        return config_versions.poll(self.app, lambda session: store.config_version(session), self._report)

    def _read(self) -> tuple[list[UpstreamSpec], int | None]:
        """The environment's upstreams and the database's, with the version read in the same transaction (and the
        stored model aliases, kept for the build)."""
        from aichat.extensions import db

        from .aliases import stored
        from .store import config_version, database_specs

        env = environment_specs(self.app.config)
        if self._no_database_file():
            return env, None
        try:
            with self.app.app_context():
                version = config_version(db.session)
                specs = database_specs(db.session, self.keyring)
                aliases = stored(db.session)
                db.session.rollback()
        except Exception as exc:  # noqa: BLE001 - start on the environment's upstreams; the next poll retries
            self._report(exc)
            return env, None
        if self._reported is not None:
            log.info("upstream configuration readable again")
            self._reported = None
        taken = {spec.name for spec in env}
        self.aliases = aliases
        for spec in specs:
            if spec.name in taken:
                log.warning("upstream %s is defined by the environment and in the database: the environment's "
                            "is used", spec.name)
        return env + [spec for spec in specs if spec.name not in taken], version

    def _build(self, specs: list[UpstreamSpec], version: int | None, previous: Gateway | None = None) -> Gateway:
        gateway = build_gateway(self.app.config, specs, self.sink, previous=previous, health=self.health,
                                aliases=self.aliases)
        if previous is not None:
            gateway.call_end_hooks = previous.call_end_hooks
        self.version = version
        self.on_build(gateway)
        return gateway

    def _no_database_file(self) -> bool:
        from aichat.config_versions import no_database_file

        return no_database_file(self.app)

    def _report(self, exc: Exception) -> None:
        reason = type(exc).__name__
        if self._quiet and isinstance(exc, SQLAlchemyError):  # not migrated or not up yet: readiness says so
            log.debug("upstream configuration not read at start (%s)", reason)
            return
        if reason != self._reported:
            log.warning("cannot read the upstream configuration from the database (%s); using the upstreams "
                        "in force and trying again", reason)
            self._reported = reason

