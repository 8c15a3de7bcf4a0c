"""Flask extensions, created unbound; the factory binds them to an app."""
import click
from flask_login import LoginManager
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .ratelimit import Limiter


class Base(DeclarativeBase):
    # Named constraints, so migrations can alter them on every database.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class Migrations:
    """Flask-Migrate, imported only where migrations run: under `flask` commands, or at the first use of its API.

    It imports alembic, about 11 MB in every server worker, which never migrates.
    """

    def init_app(self, app, db, directory: str) -> None:
        if click.get_current_context(silent=True) is not None:
            _flask_migrate(app, db, directory)  # `flask db …` needs its commands registered now
        else:
            app.extensions["migrate"] = _DeferredMigrate(app, db, directory)


def _flask_migrate(app, db, directory: str):
    """Flask-Migrate bound to `app`; it puts its own config in app.extensions["migrate"]."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=directory)
    return app.extensions["migrate"]


class _DeferredMigrate:
    """Stands in app.extensions["migrate"]: the scripts' directory at once, Flask-Migrate on first use."""

    def __init__(self, app, db, directory: str):
        self.directory = directory
        self._bind = lambda: _flask_migrate(app, db, directory)
        self._real = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._real is None:
            self._real = self._bind()
        return getattr(self._real, name)


db = SQLAlchemy(model_class=Base)
migrate = Migrations()
# Limits are route decorators, checked after authentication. No rate-limit headers on every
# response (they cost a storage read each); 429 answers carry Retry-After. Redis down: limits per process.
limiter = Limiter(key_func=get_remote_address, headers_enabled=False)
login_manager = LoginManager()
# CSRF is checked on every POST, PUT, PATCH and DELETE before the view runs; the JSON blueprints
# exempt themselves with `csrf.exempt(bp)` (their callers send keys or tokens, not forms).
csrf = CSRFProtect()


def tune_sqlite(dbapi_connection, _record) -> None:
    """WAL and synchronous=NORMAL: readers never block the writer, and a commit is not an fsync."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
