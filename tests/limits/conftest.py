"""Sites and client keys with limits, written to the database and put in force at once (as a poll would)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy.store import bump, dumps, new_client_key

V1 = "/v1/chat/completions"
PROXY = "/api/v1/ai-proxy/chat"
# Every call answers with these counts, whatever it is asked: 30 tokens, priced as gpt-4o-mini.
USAGE = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}


def set_site_limits(app, domain: str = "localhost", **limits) -> None:
    """Give a site these limits (replacing its others) and reload the app's sites at once."""
    from aichat.models import Site

    with app.app_context():
        site = db.session.execute(select(Site).where(Site.domain == domain)).scalar_one()
        site.limits = dumps(limits)
        bump(db.session)
        db.session.commit()
    assert runtime_of(app).tenancy.poll()


def add_key(app, domain: str = "localhost", name: str = "backend", **limits) -> str:
    """A new client key of the site with these limits, in force at once; returns the key."""
    from aichat.models import ClientKey, Site

    key, prefix, digest = new_client_key()
    with app.app_context():
        site = db.session.execute(select(Site).where(Site.domain == domain)).scalar_one()
        db.session.add(ClientKey(site_id=site.id, name=name, prefix=prefix, key_hash=digest, limits=dumps(limits)))
        bump(db.session)
        db.session.commit()
    assert runtime_of(app).tenancy.poll()
    return key


@pytest.fixture
def limited_app(gateway_app, fake_openai):
    """An app on the fake OpenAI alone, whose every answer uses USAGE; sites reload only when told."""
    fake_openai.default = fake_openai.default.replace(usage=dict(USAGE))
    return gateway_app(AICHAT_PROVIDER_ORDER=["openai"], GEMINI_API_KEY=[], AICHAT_CONFIG_POLL_INTERVAL=0)


def v1(client, key: str, ip: str = "198.51.100.7", **body):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20, **body}
    return client.post(V1, json=body, headers={"Authorization": f"Bearer {key}"}, environ_base={"REMOTE_ADDR": ip})


def same_minute(seconds: float = 5.0) -> None:
    """Wait for the next clock minute unless `seconds` are left in this one: minute limits reset on the minute."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)


@pytest.fixture(autouse=True)
def _same_minute():
    same_minute()
