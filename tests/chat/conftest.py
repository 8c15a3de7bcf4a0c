"""Fixtures for end users' conversations: sites with origins, identity secrets and client keys, tokens, headers."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
import pytest
from jsonschema import Draft202012Validator

from aichat.crypto import load_keyring, new_key
from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy import identity_secret, sites
from tests.api.openapi_check import served_document
from tests.limits.conftest import add_key

ENCRYPTION_KEY = new_key()
BASE = "/api/v1/conversations"


@dataclass(frozen=True)
class ChatSite:
    domain: str
    origin: str
    secret: str


@pytest.fixture
def app(make_app):
    """An app that reloads its sites only when a test polls."""
    return make_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY])


def make_site(app, domain: str, **conversations) -> ChatSite:
    """A site with one origin and an identity secret, with these conversation settings, in force at once."""
    origin = f"https://{domain}"
    with app.app_context():
        sites.create_site(db.session, domain, [origin])
        if conversations:
            sites.update_site(db.session, domain, conversations=conversations)
        secret, _ = identity_secret.rotate(db.session, load_keyring(app.config, app.instance_path), domain)
    runtime_of(app).tenancy.poll()
    return ChatSite(domain, origin, secret)


@pytest.fixture
def shop(app) -> ChatSite:
    return make_site(app, "shop.example.com")


@pytest.fixture
def blog(app) -> ChatSite:
    return make_site(app, "blog.example.org")


def key_of(app, site: ChatSite) -> str:
    """A new client key of `site`, in force at once."""
    return add_key(app, site.domain)


def new_session() -> str:
    """A browser's session id as the widget makes it: 24 random bytes, base64url without padding."""
    return secrets.token_urlsafe(24)


def user_token(site: ChatSite | str, sub: str, expires_in: float = 600, **claims) -> str:
    """A JWT the site's backend signs for its user."""
    secret = site.secret if isinstance(site, ChatSite) else site
    return jwt.encode({"sub": sub, "exp": int(time.time() + expires_in), **claims}, secret, algorithm="HS256")


def page(site: ChatSite, session: str | None = None, token: str | None = None) -> dict:
    """The headers a page of `site` sends: its Origin and the end user it names."""
    headers = {"Origin": site.origin}
    if session is not None:
        headers["X-AIChat-Session"] = session
    if token is not None:
        headers["X-AIChat-User"] = token
    return headers


def server(key: str, user: str) -> dict:
    """The headers a site's backend sends, acting for `user`."""
    return {"Authorization": f"Bearer {key}", "X-AIChat-End-User": user}


def assert_documented(client, response, path: str, method: str) -> None:
    """`response` matches the schema the served document declares for `path` (a template) and its status."""
    doc = served_document(client)
    declared = doc["paths"][path][method]["responses"][str(response.status_code)]
    if response.status_code == 204:
        assert not response.data and "content" not in declared
        return
    schema = declared["content"]["application/json"]["schema"]
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], **schema}
    Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(response.get_json())
