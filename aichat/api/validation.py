"""Request validation for both chat surfaces: a clear 4xx for every bad input, before any upstream call."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Request

from aichat.providers.base import ROLES, ChatRequest, Message

from .errors import ApiError

# The limits below are what the OpenAPI document (api/openapi_chat.py) declares: change them here, both follow.
# OpenAI parameters passed through to OpenAI-compatible upstreams, with their checks.
NUMBER_RANGES = {"top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0), "frequency_penalty": (-2.0, 2.0)}
# Refused when given a value (anything but null, false, 0, "", [] or {}).
UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "modalities")
TEMPERATURE_RANGE = (0, 2)
MODEL_MAX_LENGTH = 128
STOP_MAX = 4
SITE_DOMAIN_MAX_LENGTH = 253
# A DNS host name: dot-separated labels of 1-63 letters, digits and inner hyphens (any case).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"(?:{_LABEL})(?:\.{_LABEL})*"
_HOSTNAME = re.compile(HOSTNAME_PATTERN)


@dataclass(frozen=True, slots=True)
class Limits:
    max_tokens: int
    max_messages: int


@dataclass(slots=True)
class ProxyOptions:
    suggestions: bool


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 415/400 that says what is wrong with it."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def proxy_chat(data: dict[str, Any], limits: Limits, suggestions_default: bool) -> tuple[ChatRequest, ProxyOptions]:
    """The ai-proxy body: messages, and optional model, temperature, max_tokens, stream, suggestions."""
    req = _common(data, limits, roles=ROLES)
    suggestions = _bool(data, "suggestions", suggestions_default)
    return req, ProxyOptions(suggestions)


def conversation_chat(data: dict[str, Any], limits: Limits,
                      suggestions_default: bool) -> tuple[ChatRequest, ProxyOptions, str]:
    """The ai-proxy body continuing a conversation: conversation_id and message (the new user message alone),
    and the same options; the request's only message is the new one, and the conversation's id comes back."""
    if "messages" in data:
        raise ApiError(400, "messages_not_allowed", "send 'message' (the new text) with 'conversation_id', not "
                                                    "'messages': the conversation's earlier messages are stored",
                       param="messages")
    conversation_id = data["conversation_id"]
    if not isinstance(conversation_id, str):
        raise ApiError(400, "invalid_conversation_id", "'conversation_id' must be a conversation's id (c_…)",
                       param="conversation_id")
    message = data.get("message")
    if message is None:
        raise ApiError(400, "missing_message", "'message' (the new text) is required with 'conversation_id'",
                       param="message")
    if not isinstance(message, str) or not message.strip():
        raise ApiError(400, "invalid_message", "'message' must be a string with some text", param="message")
    req = _request(data, limits, [Message("user", message)])
    return req, ProxyOptions(_bool(data, "suggestions", suggestions_default)), conversation_id


def openai_chat(data: dict[str, Any], limits: Limits) -> tuple[ChatRequest, bool]:
    """An OpenAI chat.completions body; returns the request and whether usage is asked for in the stream."""
    for name in UNSUPPORTED:
        if data.get(name):
            raise ApiError(400, "unsupported_parameter", f"'{name}' is not supported by this gateway yet", param=name)
    n = data.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise ApiError(400, "unsupported_parameter", "only n=1 is supported", param="n")
    if data.get("max_completion_tokens") is not None:
        data = {**data, "max_completion_tokens": _max_tokens(data["max_completion_tokens"], limits,
                                                             "max_completion_tokens")}
        if data.get("max_tokens") is None:
            data = {**data, "max_tokens": data["max_completion_tokens"]}
    req = _common(data, limits, roles=ROLES + ("developer",))
    req.extra = _passthrough(data)
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "invalid_type", "'stream_options' must be an object", param="stream_options")
    include_usage = bool(options and options.get("include_usage") is True)
    return req, include_usage


def site_domain(data: dict[str, Any], *, allowed: bool = True) -> str | None:
    """The explicit `site_domain` of a server caller, lower-cased, or None when the body has none.

    `allowed` is True only for client keys of the local site (AICHAT_API_KEYS among them), which serve
    several sites' backends and name them for reading; every other caller is attributed to its own site,
    and a body field would let any page bill its traffic to another.
    """
    value = data.get("site_domain")
    if value is None:
        return None
    if not allowed:
        raise ApiError(400, "site_domain_not_allowed",
                       "'site_domain' is accepted only from client keys of the local site; a browser call is "
                       "attributed to the site of its Origin, and a site's key to its site", param="site_domain")
    if (not isinstance(value, str) or not value.isascii() or len(value) > SITE_DOMAIN_MAX_LENGTH
            or not _HOSTNAME.fullmatch(value)):
        raise ApiError(400, "invalid_site_domain",
                       "'site_domain' must be a host name such as shop.example.com (letters, digits, hyphens "
                       "and dots, at most 253 characters; no scheme, port or path)", param="site_domain")
    return value.lower()


def _common(data: dict[str, Any], limits: Limits, roles: tuple[str, ...]) -> ChatRequest:
    return _request(data, limits, _messages(data.get("messages"), limits, roles))


def _request(data: dict[str, Any], limits: Limits, messages: list[Message]) -> ChatRequest:
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip() or len(model) > MODEL_MAX_LENGTH):
        raise ApiError(400, "invalid_model", "'model' must be a non-empty string of at most "
                       f"{MODEL_MAX_LENGTH} characters", param="model")
    temperature = data.get("temperature")
    if temperature is not None:
        low, high = TEMPERATURE_RANGE
        if not _is_number(temperature) or not low <= temperature <= high:
            raise ApiError(400, "invalid_temperature", f"'temperature' must be a number between {low} and {high}",
                           param="temperature")
        temperature = float(temperature)
    max_tokens = data.get("max_tokens")
    if max_tokens is not None:
        max_tokens = _max_tokens(max_tokens, limits, "max_tokens")
    return ChatRequest(messages=messages, model=model.strip() if model else None, temperature=temperature,
                       max_tokens=max_tokens, stream=_bool(data, "stream", False))


def _max_tokens(value: Any, limits: Limits, name: str) -> int:
    whole = _whole(value)
    if whole is None or not 1 <= whole <= limits.max_tokens:
        raise ApiError(400, "invalid_max_tokens", f"'{name}' must be a whole number from 1 to {limits.max_tokens}",
                       param=name)
    return whole


def _whole(value: Any) -> int | None:
    """A JSON integer as an int: 2 and 2.0 alike (JSON does not tell them apart); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


def _messages(raw: Any, limits: Limits, roles: tuple[str, ...]) -> list[Message]:
    if raw is None:
        raise ApiError(400, "missing_messages", "'messages' is required", param="messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "invalid_messages", "'messages' must be a non-empty list", param="messages")
    if len(raw) > limits.max_messages:
        raise ApiError(400, "too_many_messages", f"at most {limits.max_messages} messages are accepted",
                       param="messages")
    messages = []
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise ApiError(400, "invalid_message", f"{where} must be an object with 'role' and 'content'", param=where)
        role = item.get("role")
        if role not in roles:
            allowed = ", ".join(roles)
            raise ApiError(400, "invalid_role", f"{where}.role must be one of: {allowed} (got {role!r})",
                           param=f"{where}.role")
        messages.append(Message("system" if role == "developer" else role, _content(item.get("content"), where)))
    if not any(m.role == "user" for m in messages):
        raise ApiError(400, "invalid_messages", "'messages' needs at least one message with role 'user'",
                       param="messages")
    return messages


def _content(content: Any, where: str) -> str:
    """A string, or OpenAI's list of text parts joined together."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
    ):
        return "".join(p["text"] for p in content)
    raise ApiError(400, "invalid_content", f"{where}.content must be a string (or a list of text parts)",
                   param=f"{where}.content")


def _passthrough(data: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for name, (low, high) in NUMBER_RANGES.items():
        if name in data and data[name] is not None:
            value = data[name]
            if not _is_number(value) or not low <= value <= high:
                raise ApiError(400, "invalid_parameter", f"'{name}' must be a number between {low} and {high}",
                               param=name)
            extra[name] = value
    stop = data.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or len(stop) > STOP_MAX or not all(isinstance(s, str) for s in stop):
            raise ApiError(400, "invalid_parameter", f"'stop' must be a string or a list of up to {STOP_MAX} strings",
                           param="stop")
        extra["stop"] = stop
    if data.get("seed") is not None:
        seed = _whole(data["seed"])
        if seed is None:
            raise ApiError(400, "invalid_parameter", "'seed' must be a whole number", param="seed")
        extra["seed"] = seed
    if data.get("user") is not None:
        if not isinstance(data["user"], str):
            raise ApiError(400, "invalid_parameter", "'user' must be a string", param="user")
        extra["user"] = data["user"][:256]
    return extra


def _bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"invalid_{name}", f"'{name}' must be true or false", param=name)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
