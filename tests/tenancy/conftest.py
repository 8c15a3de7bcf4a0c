"""Fixtures for sites: an app that does not poll on its own (tests poll when they mean to), and site helpers."""
from __future__ import annotations

import pytest

from aichat.extensions import db
from aichat.models import ClientKey
from aichat.runtime import runtime_of
from aichat.tenancy import sites
from aichat.tenancy.store import bump, dumps, new_client_key


@pytest.fixture
def app(make_app):
    # No poller: its log line on a change would land in the commands' captured stderr.
    return make_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_ENV="development")


def add_key(app, domain: str, models: tuple[str, ...] = ()) -> str:
    """A client key of the site `domain` (limited to `models` when given); returns the key."""
    key, prefix, digest = new_client_key()
    with app.app_context():
        row = sites.get(db.session, domain)
        row.keys.append(ClientKey(name="backend", prefix=prefix, key_hash=digest, models=dumps(list(models))))
        bump(db.session)
        db.session.commit()
    return key


def polled(app):
    """The app's Directory after one poll, as a running server has it within AICHAT_CONFIG_POLL_INTERVAL."""
    runtime_of(app).tenancy.poll()
    return runtime_of(app).directory
