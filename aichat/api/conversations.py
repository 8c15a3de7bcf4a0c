"""`/api/v1/conversations`: an end user's stored conversations, for the widget and for a site's backend.

The caller decorators name the end user (aichat/api/callers.py): a page's anonymous session or signed-in
user, or the user a client key acts for. Every query is scoped to that owner in aichat/chat/conversations.py;
another's conversation is a 404 like an unknown one.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, g, jsonify, request

from aichat.chat import conversations as store
from aichat.extensions import csrf, db
from aichat.limits import LimitExceeded
from aichat.runtime import runtime_of
from aichat.models.chat import TITLE_MAX

from . import validation
from .callers import browser_or_client_key, end_user_required, site_caller
from .errors import ApiError, limit_exceeded

bp = Blueprint("conversations", __name__, url_prefix="/api/v1/conversations")
csrf.exempt(bp)  # JSON from pages on other sites, no cookies: origins and end-user headers are checked instead

BODY_MAX = 32 * 1024
# A browser's whole transcript, uploaded at sign-in: the widget keeps at most 200 messages of one conversation.
IMPORT_BODY_MAX = 256 * 1024
# A title: no control characters (PostgreSQL's text refuses NUL), as the OpenAPI document says. A lone
# surrogate (JSON can escape one; no generator of valid text makes one) cannot be stored either: refused too.
TITLE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_TITLE = re.compile(TITLE_PATTERN)
_SURROGATE = re.compile("[\ud800-\udfff]")
_WHOLE = re.compile(r"[0-9]{1,6}")
# A message's text: anything but NUL (PostgreSQL's text refuses it); a lone surrogate is refused as in titles.
CONTENT_PATTERN = r"^[^\u0000]+$"
_CONTENT = re.compile(CONTENT_PATTERN)
# RFC 3339, as the OpenAPI document's date-time.
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                        r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


@bp.before_request
def _limited():
    """A change (create, rename, delete …) counts against the gateway's limit per client address, as a chat
    request does: a page cannot make conversations without bound. Reading them does not count."""
    if request.method not in ("POST", "PATCH", "DELETE"):
        return None
    try:
        runtime_of().quota.count_address(request.remote_addr)
    except LimitExceeded as exc:
        raise limit_exceeded(exc) from None
    return None


@bp.after_request
def _private(response):
    """An answer belongs to one end user: no cache may keep it or hand it to another."""
    response.headers["Cache-Control"] = "no-store"
    response.vary.update(("Authorization", "X-AIChat-Session", "X-AIChat-User", "X-AIChat-End-User"))
    return response


def _owner() -> store.Owner:
    return store.Owner(g.caller.site.id, g.caller.identity.owner)


@bp.get("")
@browser_or_client_key
@end_user_required
def index():
    """A page of the end user's conversations, the newest updated first."""
    conversations, following = store.page(db.session, _owner(), _limit(), _before())
    return jsonify({"conversations": conversations, "next": following})


@bp.post("")
@browser_or_client_key
@end_user_required
def create():
    """A new, empty conversation."""
    title = _title(_body(required=False), required=False)
    return jsonify(store.create(db.session, _owner(), title)), 201


@bp.get("/settings")
@site_caller
def settings():
    """The site's conversation settings, which the widget follows; any page of the site may ask, no database read."""
    site = g.caller.site
    return jsonify({"on_disconnect": site.on_disconnect, "merge_anonymous": site.merge_anonymous,
                    "retention_days": site.retention_days})


@bp.get("/<conversation_id>")
@browser_or_client_key
@end_user_required
def show(conversation_id: str):
    """One conversation with its messages, oldest first."""
    return jsonify(store.with_messages(store.find(db.session, _owner(), conversation_id)))


@bp.patch("/<conversation_id>")
@browser_or_client_key
@end_user_required
def rename(conversation_id: str):
    """Give a conversation a new title."""
    title = _title(_body(required=True), required=True)
    return jsonify(store.rename(db.session, _owner(), conversation_id, title))


@bp.delete("/<conversation_id>")
@browser_or_client_key
@end_user_required
def remove(conversation_id: str):
    """Delete a conversation and its messages."""
    store.remove(db.session, _owner(), conversation_id)
    return "", 204


@bp.get("/export")
@browser_or_client_key
@end_user_required
def export():
    """Every conversation of the end user, with its messages."""
    return jsonify({"conversations": store.export(db.session, _owner())})


@bp.delete("")
@browser_or_client_key
@end_user_required
def erase():
    """Delete every conversation of the end user."""
    store.erase(db.session, _owner())
    return "", 204


@bp.post("/claim")
@browser_or_client_key
@end_user_required
def claim():
    """Move this browser's anonymous conversations to its signed-in user, where the site allows it."""
    _merging_allowed()
    caller = g.caller
    identity = caller.identity
    if identity.session is None:  # a client key, or a page without a session: nothing to move
        return jsonify({"claimed": 0})
    return jsonify({"claimed": store.claim(db.session, caller.site.id, identity.session_owner, identity.owner)})


@bp.post("/import")
@browser_or_client_key
@end_user_required
def import_():
    """Store a conversation this browser kept while anonymous as one of its signed-in user's, where the site allows
    merging."""
    _merging_allowed()
    data = _body(required=True, limit=IMPORT_BODY_MAX)
    title = _title(data, required=False)
    messages, created_at = _transcript(data.get("messages")), _created_at(data.get("created_at"))
    return jsonify(store.import_transcript(db.session, _owner(), title, messages, created_at)), 201


def _merging_allowed() -> None:
    """A signed-in user on a site that lets anonymous conversations become its users'; else 401 or 409."""
    caller = g.caller
    if caller.identity.user is None:
        raise ApiError(401, "user_required", "this needs X-AIChat-User: the signed-in user who takes the "
                                             "anonymous conversations")
    if not caller.site.merge_anonymous:
        raise ApiError(409, "merge_disabled", f"site {caller.site.domain} keeps anonymous conversations apart "
                                              f"from its users' (merge_anonymous is off)")


# --- input ---------------------------------------------------------------------


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return store.PAGE_DEFAULT
    if not _WHOLE.fullmatch(raw) or not 1 <= int(raw) <= store.PAGE_MAX:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {store.PAGE_MAX}")
    return int(raw)


def _before():
    raw = request.args.get("before")
    if raw is None:
        return None
    try:
        return store.parse_cursor(raw)
    except store.InvalidCursor as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from None


def _body(required: bool, limit: int = BODY_MAX) -> dict[str, Any]:
    """The JSON object sent (at most `limit` bytes); {} for an empty body where none is required."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes")
    request.max_content_length = limit  # a body sent without a length stops at the limit too
    if not required and not request.get_data(cache=True):
        return {}
    return validation.json_body(request)


def _title(data: dict[str, Any], required: bool) -> str:
    title = data.get("title")
    if title is None and not required:
        return ""
    shortest = 1 if required else 0
    if (not isinstance(title, str) or not shortest <= len(title) <= TITLE_MAX or not _TITLE.match(title)
            or not title.isascii() and _SURROGATE.search(title)):
        raise ApiError(400, "invalid_title", f"title must be a string of {shortest} to {TITLE_MAX} characters, none "
                                             f"of them a control character")
    return title


def _text(value: Any) -> bool:
    return (isinstance(value, str) and _CONTENT.match(value) is not None
            and (value.isascii() or not _SURROGATE.search(value)))


def _transcript(messages: Any) -> list[tuple[str, str]]:
    """The imported messages as (role, content): 1 to IMPORT_MESSAGES_MAX of them, each with text."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= store.IMPORT_MESSAGES_MAX:
        raise ApiError(400, "invalid_messages", f"messages must be a list of 1 to {store.IMPORT_MESSAGES_MAX} "
                                                f"messages", param="messages")
    for index, message in enumerate(messages):
        if (not isinstance(message, dict) or message.get("role") not in store.ROLES
                or not _text(message.get("content"))):
            raise ApiError(400, "invalid_messages", f"messages[{index}] must be {{\"role\": \"user\" or "
                                                    f"\"assistant\", \"content\": some text without NUL}}",
                           param="messages")
    return [(message["role"], message["content"]) for message in messages]


def _created_at(value: Any) -> datetime | None:
    """When the imported conversation began (RFC 3339 with an offset), or None when not given."""
    if value is None:
        return None
    try:
        if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
            raise ValueError(value)
        return datetime.fromisoformat(value.upper()).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_created_at", "created_at must be a date-time with its offset (RFC 3339), "
                                                  "e.g. 2026-12-04T09:30:00Z", param="created_at") from None
