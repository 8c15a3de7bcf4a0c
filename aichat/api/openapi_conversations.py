"""The conversation API in the OpenAPI document, from the same patterns and bounds its views check.

Every request the document allows is served or refused for a reason outside it (no end user named, a
token that does not verify, an id that is not the caller's); every request it forbids is a 4xx. The fuzz
test (tests/api/test_openapi_fuzz.py) holds both promises against the running app.
"""
from __future__ import annotations

from aichat.chat import conversations as store
from aichat.chat import identity
from aichat.models.chat import TITLE_MAX
from aichat.tenancy.specs import ON_DISCONNECT_MODES

from . import conversations as views

BASE = "/api/v1/conversations"
TEXT = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
# A page, or a server holding a client key (which names its user with X-AIChat-End-User).
SECURITY = [{}, {"clientKey": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {**schema, "description": description} if description else schema


def schemas() -> dict:
    conversation = {"id": {"type": "string", "pattern": store.CONVERSATION_ID_PATTERN},
                    "title": {"type": "string", "maxLength": TITLE_MAX, "description": "'' until one is given"},
                    "created_at": TIME, "updated_at": TIME,
                    "message_count": {"type": "integer", "minimum": 0}}
    message = _obj({"id": {"type": "string", "pattern": r"^m_[A-Za-z0-9_-]{22}$"},
                    "role": {"enum": list(store.ROLES)}, "content": TEXT, "created_at": TIME,
                    "status": {"enum": list(store.STATUSES),
                               "description": "streaming: being written; partial: cut short (the client went, or "
                                              "the upstream failed mid-way); error: no answer"}})
    full = {**conversation, "messages": {"type": "array", "items": _ref("Message")}}
    return {
        "Conversation": _obj(conversation, "An end user's conversation; ids are opaque."),
        "Message": message,
        "ConversationWithMessages": _obj(full, "A conversation and its messages, oldest first."),
        "ConversationPage": _obj({"conversations": {"type": "array", "items": _ref("Conversation")},
                                  "next": {"type": ["string", "null"], "pattern": store.CURSOR_PATTERN,
                                           "description": "pass as `before` for the next page; null on the last"}},
                                 "The newest updated first."),
        "ConversationExport": _obj({"conversations": {"type": "array", "items": _ref("ConversationWithMessages")}},
                                   "Every conversation of the end user, the newest updated first."),
        "ConversationSettings": _obj(
            {"on_disconnect": {"enum": list(ON_DISCONNECT_MODES),
                               "description": "stop: a conversation's answer ends when its client goes; finish: the "
                                              "gateway finishes and stores it"},
             "merge_anonymous": {"type": "boolean",
                                 "description": "whether a session's conversations may move to its user (claim)"},
             "retention_days": {"type": ["integer", "null"], "minimum": 1,
                                "description": "idle conversations are deleted after this many days; null: kept"}},
            "The site's conversation settings."),
        "Claimed": _obj({"claimed": {"type": "integer", "minimum": 0}}, "How many conversations moved."),
    }


def _header(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


# The user a server holding a client key acts for; on the chat endpoints it names whom rpm_user counts.
ACTING_FOR = _header("X-AIChat-End-User", {"type": "string", "pattern": identity.USER_ID_PATTERN},
                     "with a client key: the user id the server acts for (trusted: it holds the key; bad: 400 "
                     "invalid_end_user); a page may not send it (403 end_user_not_allowed)")
END_USER = [
    _header("X-AIChat-Session", {"type": "string", "pattern": identity.SESSION_PATTERN},
            "a page's anonymous session id: 24 random bytes in base64url, made once by the browser "
            "(bad: 400 invalid_session)"),
    _header("X-AIChat-User", {"type": "string", "minLength": 1, "maxLength": identity.TOKEN_MAX},
            "a signed-in user's token signed by the site's backend: an HS256 JWT (sub, exp at most 24 h ahead) or "
            "hmac:<user id>:<hex HMAC-SHA256>; it wins over the session (bad: 401 invalid_user_token, expired: "
            "401 user_token_expired)"),
    ACTING_FOR,
]
ID = {"name": "conversation_id", "in": "path", "required": True,
      "schema": {"type": "string", "pattern": store.CONVERSATION_ID_PATTERN}}
_MEANING = {
    400: "a bad session id (invalid_session), limit (invalid_limit), cursor (invalid_cursor), title "
         "(invalid_title), imported messages (invalid_messages) or created_at (invalid_created_at), or body "
         "(invalid_json); a client key without X-AIChat-End-User (end_user_required) or "
         "with a bad one (invalid_end_user)",
    401: "no end user named (session_required); a user token that does not verify (invalid_user_token) or has "
         "expired (user_token_expired); a bad client key (invalid_api_key); claiming or importing without a user "
         "(user_required)",
    403: "an Origin or publishable key that is not allowed, a disabled site, an address the site refuses, or a "
         "page sending X-AIChat-End-User (end_user_not_allowed)",
    404: "no conversation of the caller's has this id (conversation_not_found), whoever else's it may be",
    409: "the site keeps anonymous conversations apart from its users' (merge_disabled)",
    413: f"the body is larger than {views.BODY_MAX} bytes (body_too_large; {views.IMPORT_BODY_MAX} bytes on "
         f"/import)",
    415: "the body is not application/json",
    429: "a change over the gateway's limit per client address (rate_limited, the limit named, Retry-After)",
    503: "the database cannot be reached",
}


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": _MEANING[s], "content": {"application/json": {"schema": _ref("Error")}}}
            for s in statuses}


def _json(schema: str, status: str = "200", description: str = "OK") -> dict:
    return {status: {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}}


def _operation(summary: str, responses: dict, *statuses: int, parameters=(), body: dict | None = None) -> dict:
    op = {"summary": summary, "security": SECURITY, "parameters": [*parameters, *END_USER],
          "responses": {**responses, **_errors(*statuses)}}
    if body is not None:
        op["requestBody"] = body
    return op


def _title_body(required: bool) -> dict:
    title = {"type": "string", "minLength": 1 if required else 0, "maxLength": TITLE_MAX,
             "pattern": views.TITLE_PATTERN, "description": "no control characters"}
    schema = {"type": "object", "properties": {"title": title if required else {"anyOf": [title, {"type": "null"}]}},
              "description": "Other fields are ignored."}
    if required:
        schema["required"] = ["title"]
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _import_body() -> dict:
    title = {"type": "string", "maxLength": TITLE_MAX, "pattern": views.TITLE_PATTERN,
             "description": "no control characters; '' or none: the first question's first 60 characters"}
    message = {"type": "object", "required": ["role", "content"],
               "properties": {"role": {"enum": list(store.ROLES)},
                              "content": {"type": "string", "minLength": 1, "pattern": views.CONTENT_PATTERN,
                                          "description": "the text (no NUL)"}},
               "description": "Other fields are ignored; stored with status complete."}
    schema = {"type": "object", "required": ["messages"],
              "properties": {"title": {"anyOf": [title, {"type": "null"}]},
                             "messages": {"type": "array", "items": message, "minItems": 1,
                                          "maxItems": store.IMPORT_MESSAGES_MAX},
                             "created_at": {"anyOf": [TIME, {"type": "null"}],
                                            "description": "when it began (kept unless in the future)"}},
              "description": f"A transcript, oldest message first; at most {views.IMPORT_BODY_MAX} bytes. Other "
                             f"fields are ignored."}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


NO_CONTENT = {"204": {"description": "done"}}


def paths() -> dict:
    common = (400, 401, 403, 503)
    page = [{"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": store.PAGE_MAX, "default": store.PAGE_DEFAULT}},
            {"name": "before", "in": "query", "required": False, "schema": {"type": "string",
                                                                            "pattern": store.CURSOR_PATTERN},
             "description": "the `next` of the page before"}]
    return {
        BASE: {
            "get": _operation("The end user's conversations, newest updated first (keyset paging)",
                              _json("ConversationPage"), *common, parameters=page),
            "post": _operation("Start a conversation", _json("Conversation", "201", "created"), *common, 413, 415,
                               429, body=_title_body(required=False)),
            "delete": _operation("Erase every conversation of the end user", NO_CONTENT, *common, 429),
        },
        f"{BASE}/export": {"get": _operation("Every conversation of the end user with its messages",
                                             _json("ConversationExport"), *common)},
        f"{BASE}/settings": {"get": {
            "summary": "The site's conversation settings, for any page of the site (end-user headers are not read)",
            "security": SECURITY, "responses": {
                **_json("ConversationSettings"), **_errors(403),
                "401": {"description": "a bad client key (invalid_api_key)",
                        "content": {"application/json": {"schema": _ref("Error")}}}}}},
        f"{BASE}/claim": {"post": _operation(
            "Move this browser session's conversations to its signed-in user (needs both headers)",
            _json("Claimed"), *common, 409, 429)},
        f"{BASE}/import": {"post": _operation(
            "Store a transcript this browser kept anonymously as a conversation of its signed-in user (the site must "
            "allow merging)", _json("Conversation", "201", "created"), *common, 409, 413, 415, 429,
            body=_import_body())},
        f"{BASE}/{{conversation_id}}": {
            "get": _operation("A conversation with its messages", _json("ConversationWithMessages"), *common, 404,
                              parameters=[ID]),
            "patch": _operation("Rename a conversation", _json("Conversation"), *common, 404, 413, 415, 429,
                                parameters=[ID], body=_title_body(required=True)),
            "delete": _operation("Delete a conversation", NO_CONTENT, *common, 404, 429, parameters=[ID]),
        },
    }
