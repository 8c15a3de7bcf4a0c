"""The configuration versions: one counter row per kind of configuration (`gateway`, `tenancy`), bumped in the
transaction of every change and polled by every process, which reloads that configuration when it moved."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aichat.gateway.specs import SpecError
from aichat.models import ConfigVersion


def read(session: Session, name: str) -> int:
    """The current version of configuration `name`; 0 before any change."""
    return session.execute(select(ConfigVersion.version).where(ConfigVersion.name == name)).scalar() or 0


def bump(session: Session, name: str) -> None:
    """Add one to the version of `name` in the caller's transaction.

    The UPDATE locks the row until commit, so concurrent changes run one after another."""
    bumped = session.execute(update(ConfigVersion).where(ConfigVersion.name == name)
                             .values(version=ConfigVersion.version + 1))
    if bumped.rowcount:
        return
    try:
        with session.begin_nested():  # the row is absent: create it, unless another change just did
            session.add(ConfigVersion(name=name, version=1))
    except IntegrityError:
        bump(session, name)


@contextmanager
def change(session: Session, name: str, conflict: str = "") -> Iterator[None]:
    """One change of configuration `name`: the version bumped first, then the change, committed together or not
    at all; an IntegrityError (someone else made the same change meanwhile) becomes a SpecError saying `conflict`."""
    try:
        bump(session, name)
        yield
        session.commit()
    except IntegrityError:
        session.rollback()
        raise SpecError(conflict or "the change conflicts with another made at the same time: try again") from None
    except BaseException:
        session.rollback()
        raise


def no_database_file(app) -> bool:
    """A SQLite file that does not exist yet: connecting would create an empty one, so a poll must not."""
    from sqlalchemy.engine import make_url

    from aichat.health.schema import missing_sqlite_file

    return missing_sqlite_file(make_url(app.config["SQLALCHEMY_DATABASE_URI"]))


def poll(app, version: Callable[[Session], int], report: Callable[[Exception], None]) -> int | None:
    """A configuration's version as a process's poll reads it with `version`, off the request path; None when the
    database cannot say (no file yet, away, not migrated): `report` is told why, and the caller keeps what it has."""
    from aichat.extensions import db

    if no_database_file(app):
        return None
    try:
        with app.app_context():
            return version(db.session)
    except Exception as exc:  # noqa: BLE001 - whatever the database's trouble, serving goes on
        report(exc)
        return None
