"""Who is calling a chat surface, resolved once by a decorator before the view runs: a typed `Caller` in `g.caller`.

Every caller belongs to a site (aichat/tenancy): a server by its client key, a browser page by the
`Origin` it sends (or the publishable key it names, which must agree with that Origin). A browser may
name its end user (an anonymous session id, a token the site signed for its user: aichat/chat/identity.py),
a client key the user it acts for (X-AIChat-End-User); without those headers nothing changes. Per-caller
limits are decorators under these (Flask-Limiter's way): by the time they run, the caller is known.
Views never authenticate from their arguments.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import g, request

from aichat.chat.identity import Identity, check_end_user, check_session, verify_user_token
from aichat.runtime import runtime_of
from aichat.tenancy import LOCAL_DOMAIN, ClientKeySpec, Directory, SiteSpec

from .auth import bearer_token
from .errors import ApiError

BROWSER, CLIENT_KEY = "browser", "client_key"
SITE_HEADER = "X-AIChat-Site"  # a page's publishable site key (pk_…), sent by the widget
SESSION_HEADER = "X-AIChat-Session"  # a browser's anonymous session id, made by the page itself
USER_HEADER = "X-AIChat-User"  # a token the site's backend signed for its signed-in user
END_USER_HEADER = "X-AIChat-End-User"  # the user a client key acts for (trusted: the caller holds the key)


@dataclass(frozen=True, slots=True)
class Caller:
    """A browser page of a site, or a server holding one of a site's client keys."""

    kind: str
    site: SiteSpec
    key: ClientKeySpec | None = None
    origin: str | None = None  # as the request sent it
    ip: str | None = None  # the client address, after the trusted proxies
    end_user: str | None = None  # the site's visitor as limits count it: `user:<id>` or `anon:<16 hex>`
    identity: Identity | None = None  # the end user whose conversations the caller may use

    @property
    def holds_key(self) -> bool:
        return self.key is not None

    @property
    def names_sites(self) -> bool:
        """Keys of the local site serve several sites' backends and may name, for reading, the site of a call."""
        return self.key is not None and self.site.domain == LOCAL_DOMAIN

    @property
    def label(self) -> str | None:
        """The client key's label (its visible prefix); safe to log."""
        return self.key.label if self.key is not None else None


def client_key_required(view):
    """401 in the surface's error shape unless `Authorization: Bearer <key>` carries a usable client key."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if not token:
            raise ApiError(401, "missing_api_key", "send your API key as 'Authorization: Bearer <key>'")
        g.caller = key_caller(runtime_of().directory, token)
        return view(*args, **kwargs)

    return wrapper


def browser_or_client_key(view):
    """A server with a client key, or else a browser page of a site that allows anonymous visitors."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        directory = runtime_of().directory
        token = bearer_token()
        g.caller = key_caller(directory, token) if token else browser_caller(directory)
        return view(*args, **kwargs)

    return wrapper


def site_caller(view):
    """A server with a client key, or a browser page of a site, whoever its visitor (the end-user headers are not
    read): for what any page of the site may know, such as its conversation settings."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        directory = runtime_of().directory
        token = bearer_token()
        g.caller = key_caller(directory, token) if token else browser_caller(directory, visitor=False)
        return view(*args, **kwargs)

    return wrapper


def key_caller(directory: Directory, token: str) -> Caller:
    """The caller holding client key `token`; 401 for a key that is unknown, revoked or expired, 403 for a
    disabled site. The messages never repeat the key."""
    key = directory.key_for(token)
    if key is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid")
    if key.revoked:
        raise ApiError(401, "invalid_api_key", f"the API key {key.prefix}… was revoked")
    if not key.usable_at(datetime.now(timezone.utc)):
        raise ApiError(401, "invalid_api_key", f"the API key {key.prefix}… expired at {key.expires_at:%Y-%m-%dT%H:%M:%SZ}")
    site = directory.site_of(key)
    _enabled(site)
    _admitted(site, key)
    named = _utf8(request.headers.get(END_USER_HEADER))
    identity = Identity(check_end_user(named)) if named is not None else None
    return Caller(CLIENT_KEY, site, key, request.headers.get("Origin"), request.remote_addr,
                  identity.end_user if identity else None, identity)


def browser_caller(directory: Directory, visitor: bool = True) -> Caller:
    """The site of a browser request: named by its publishable key, else found by its Origin; with `visitor`,
    the end user it names too, who must be signed in on a site without anonymous visitors.

    Our own pages (the demo) and callers that send no Origin belong to the local site: to refuse them,
    disable the local site (`flask sites disable localhost`) or its anonymous use.
    """
    origin = request.headers.get("Origin")
    published = request.headers.get(SITE_HEADER)
    if published:
        site = directory.by_publishable_key.get(published.strip())
        if site is None:
            raise ApiError(403, "unknown_site", f"{SITE_HEADER} names no site of this gateway")
        if origin and not (_listed(site, origin) or (site is directory.local_site and _own(origin))):
            raise ApiError(403, "origin_not_allowed", f"origin {origin[:200]} is not an origin of site {site.domain}")
    elif origin:
        site = directory.site_for_origin(origin)
        if site is None and _own(origin):
            site = directory.local_site
        if site is None:
            raise ApiError(403, "origin_not_allowed",
                           f"origin {origin[:200]} is not allowed; add it to a site with "
                           f"`flask sites update DOMAIN --origin {origin[:200]}`")
    else:
        site = directory.local_site
    _enabled(site)
    _admitted(site)
    if not visitor:
        return Caller(BROWSER, site, None, origin, request.remote_addr)
    identity = browser_identity(site)
    if not site.allow_anonymous and (identity is None or identity.user is None):
        raise ApiError(401, "sign_in_required", f"site {site.domain} does not serve anonymous visitors")
    return Caller(BROWSER, site, None, origin, request.remote_addr, identity.end_user if identity else None,
                  identity)


def browser_identity(site: SiteSpec) -> Identity | None:
    """The end user a page names: its anonymous session, its signed-in user, or both; None when it names none.
    A header present is checked even when empty (400 invalid_session, 401 invalid_user_token or
    user_token_expired, through api/errors.py); a page may not name a user unsigned (403)."""
    headers = request.headers
    if END_USER_HEADER in headers:
        raise ApiError(403, "end_user_not_allowed", f"{END_USER_HEADER} is for servers holding a client key; a page "
                                                    f"sends {USER_HEADER} with a token its site signed")
    session, token = headers.get(SESSION_HEADER), _utf8(headers.get(USER_HEADER))
    if session is None and token is None:
        return None
    owner = check_session(site.id, session) if session is not None else None
    user = verify_user_token(token, site.identity.usable_at(datetime.now(timezone.utc))) if token is not None else None
    return Identity(user, owner)


def _utf8(value: str | None) -> str | None:
    """A header as its sender meant it: HTTP hands over bytes (read as Latin-1), and a user id that is not ASCII
    comes as UTF-8, so `josé` is one owner whichever client sent it."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def end_user_required(view):
    """Under a caller decorator: the caller names an end user (a session, a signed user, or X-AIChat-End-User
    with a client key), else 401 session_required (a page) or 400 end_user_required (a client key)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        require_end_user(g.caller)
        return view(*args, **kwargs)

    return wrapper


def require_end_user(caller: Caller) -> None:
    """The check of `end_user_required`, for a view that needs an end user only for some bodies (a chat call
    continuing a conversation)."""
    if caller.identity is None:
        if caller.holds_key:
            raise ApiError(400, "end_user_required", f"a client key has conversations only for a user: send "
                                                     f"{END_USER_HEADER}: <user id>")
        raise ApiError(401, "session_required", f"send {SESSION_HEADER} (an anonymous session) or "
                                                f"{USER_HEADER} (a signed-in user's token)")
    if caller.site.id is None:  # the environment's stand-in for a database not migrated yet
        raise ApiError(503, "database_unavailable", "conversations need the database: run `flask db upgrade`",
                       headers={"Retry-After": "5"})


def _enabled(site: SiteSpec | None) -> None:
    if site is None or not site.enabled:
        raise ApiError(403, "site_disabled", f"site {site.domain if site else 'localhost'} is disabled")


def _admitted(site: SiteSpec, key: ClientKeySpec | None = None) -> None:
    """403 unless the client address passes the site's address rules and the key's."""
    for rule, whose in ((site.ip_rules, f"site {site.domain}"), (key.ip_rules if key else None, "this API key")):
        if rule is not None and not rule.admits(request.remote_addr):
            raise ApiError(403, "address_not_allowed", f"your address may not call {whose}")


def _listed(site: SiteSpec, origin: str) -> bool:
    return origin.rstrip("/") in site.origins


def _own(origin: str) -> bool:
    """Our own origin: the demo page served by the gateway itself."""
    try:
        return urlsplit(origin).netloc == request.host
    except ValueError:  # malformed (an unclosed IPv6 bracket): not an origin we know
        return False


def caller_label() -> str | None:
    """The label of this request's client key, if a chat caller holds one."""
    caller = g.get("caller")
    return caller.label if caller is not None else None
