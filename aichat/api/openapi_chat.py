"""The chat surfaces in the OpenAPI document: request bodies exactly as api/validation.py accepts them.

A body the schema allows is served (or refused for a reason outside it: credentials, origin, limits,
an unknown model); a body it forbids is a 400. The fuzz test (tests/api/test_openapi_fuzz.py) holds
both promises against the running app.
"""
from __future__ import annotations

from aichat.chat.conversations import CONVERSATION_ID_PATTERN
from aichat.providers.base import ROLES

from . import validation

TEXT = {"type": "string"}
COUNT = {"type": "integer", "minimum": 0}
# What an unsupported OpenAI parameter may be: absent or empty (null, false, 0, "", [], {}).
EMPTY = [None, False, 0, "", [], {}]
# Not only white space (what Python's str.strip() removes), spelled out: regex engines disagree on `\s`.
NOT_ONLY_SPACE = r"[^\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _nullable(schema: dict) -> dict:
    """`schema`, or null (the views treat a null field as an absent one)."""
    return {"anyOf": [schema, {"type": "null"}]}


def _number(low: float, high: float, description: str = "") -> dict:
    schema = {"type": "number", "minimum": low, "maximum": high}
    return _nullable({**schema, "description": description} if description else schema)


def _messages(roles: tuple[str, ...], max_messages: int) -> dict:
    part = {"type": "object", "required": ["type", "text"],
            "properties": {"type": {"const": "text"}, "text": TEXT}}
    message = {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"enum": list(roles)},
        "content": {"anyOf": [TEXT, {"type": "array", "minItems": 1, "items": part}],
                    "description": "text, or OpenAI's list of text parts (joined)"}}}
    return {"type": "array", "minItems": 1, "maxItems": max_messages, "items": message,
            "contains": {"type": "object", "required": ["role"], "properties": {"role": {"const": "user"}}},
            "description": f"1 to {max_messages} messages (AICHAT_MAX_MESSAGES), at least one from the user"}


def _common(roles: tuple[str, ...], max_tokens: int, max_messages: int) -> dict:
    low, high = validation.TEMPERATURE_RANGE
    tokens = _nullable({"type": "integer", "minimum": 1, "maximum": max_tokens,
                        "description": f"at most {max_tokens} (AICHAT_MAX_TOKENS_LIMIT)"})
    return {
        "messages": _messages(roles, max_messages),
        "model": _nullable({"type": "string", "minLength": 1, "maxLength": validation.MODEL_MAX_LENGTH,
                            "pattern": NOT_ONLY_SPACE, "description": "absent: the default model"}),
        "temperature": _number(low, high),
        "max_tokens": tokens,
        "stream": _nullable({"type": "boolean"}),
    }


SITE_DOMAIN = ("the site to bill, from client keys of the local site only; any other caller is attributed to its "
               "own site and gets 400 site_domain_not_allowed for it")


def _site_domain(description: str) -> dict:
    return _nullable({"type": "string", "maxLength": validation.SITE_DOMAIN_MAX_LENGTH,
                      "pattern": f"^{validation.HOSTNAME_PATTERN}$", "description": description})


def proxy_request(max_tokens: int, max_messages: int) -> dict:
    """The body of POST /api/v1/ai-proxy/chat: `messages`, or a stored conversation's id and the new `message`."""
    return {"type": "object", "properties": {
        **_common(ROLES, max_tokens, max_messages),
        "conversation_id": {"type": "string", "pattern": CONVERSATION_ID_PATTERN,
                            "description": "a conversation of the end user (the caller names one): the gateway "
                                           "assembles the context from its stored messages and stores the new "
                                           "message and the answer; another's or an unknown one is a 404"},
        "message": {"type": "string", "pattern": NOT_ONLY_SPACE,
                    "description": "with conversation_id: the new user message alone"},
        "suggestions": _nullable({"type": "boolean", "description": "absent: AICHAT_SUGGESTIONS"}),
        "site_domain": _site_domain(SITE_DOMAIN),
    }, "anyOf": [{"required": ["messages"], "not": {"required": ["conversation_id"]}},
                 {"required": ["conversation_id", "message"], "not": {"required": ["messages"]}}],
        "description": "Either messages, or conversation_id with message (never both). Other fields are ignored."}


def openai_request(max_tokens: int, max_messages: int) -> dict:
    """The body of POST /v1/chat/completions: OpenAI's, with what this gateway supports."""
    common = _common((*ROLES, "developer"), max_tokens, max_messages)
    stop = {"anyOf": [TEXT, {"type": "array", "maxItems": validation.STOP_MAX, "items": TEXT}, {"type": "null"}]}
    return {"type": "object", "required": ["messages"], "properties": {
        **common,
        "max_completion_tokens": {**common["max_tokens"], "description": "used when max_tokens is absent or null"},
        "n": _nullable({"type": "integer", "minimum": 1, "maximum": 1}),
        **{name: _number(low, high) for name, (low, high) in validation.NUMBER_RANGES.items()},
        "stop": stop,
        "seed": _nullable({"type": "integer"}),
        "user": _nullable(TEXT),
        "stream_options": _nullable({"type": "object", "properties": {"include_usage": {"type": "boolean"}}}),
        "site_domain": _site_domain("aichat's own field: " + SITE_DOMAIN),
        **{name: {"enum": EMPTY, "description": "not supported yet: leave it out"}
           for name in validation.UNSUPPORTED},
    }, "description": "Other fields are ignored."}


def proxy_response() -> dict:
    return {"type": "object", "properties": {
        "id": TEXT, "content": TEXT, "model": TEXT, "provider": TEXT,
        "suggestions": {"type": "array", "items": TEXT}, "finish_reason": {"type": ["string", "null"]},
        "usage": {"type": "object", "properties": {"prompt_tokens": COUNT, "completion_tokens": COUNT,
                                                   "total_tokens": COUNT}},
        "conversation_id": {**TEXT, "description": "a conversation's call: the conversation"},
        "message_id": {**TEXT, "description": "a conversation's call: the id the answer is stored under"}}}


def proxy_event() -> dict:
    """One server-sent event of the browser surface's stream, as a client reads it."""
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"enum": ["delta", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "delta: {content}; done: {id, model, provider, usage, suggestions, finish_reason}, "
                                "and conversation_id and message_id for a conversation's call; "
                                "error: the /api error envelope"}},
        "description": "deltas as text arrives, then one done event, or an error event"}


def openai_event() -> dict:
    """One server-sent event of /v1's stream: OpenAI's chunks, then [DONE]."""
    return {"type": "object", "required": ["data"], "properties": {
        "event": {"const": "message"},
        "data": {"type": "string", "description": "a chat.completion.chunk as JSON, an error object as JSON when the "
                                                  "stream fails mid-way, and [DONE] last"}}}


def openai_error() -> dict:
    nullable_text = {"type": ["string", "null"]}
    return {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {
        "error": {"type": "object", "required": ["message", "type", "param", "code"], "additionalProperties": False,
                  "properties": {"message": TEXT, "type": TEXT, "param": nullable_text, "code": nullable_text}}},
        "description": "OpenAI's error shape, so the official SDKs raise the matching exception."}


def model_list() -> dict:
    model = {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
        "id": TEXT, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": TEXT}}
    return {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"const": "list"}, "data": {"type": "array", "items": model}}}
