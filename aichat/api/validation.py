"""Request validation for both chat surfaces: a clear 4xx for every bad input, before any upstream call."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Request

from aichat.providers.base import ROLES, ChatRequest, Message

from .errors import ApiError

# OpenAI parameters passed through to OpenAI-compatible upstreams, with their checks.
_NUMBER_RANGES = {"top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0), "frequency_penalty": (-2.0, 2.0)}
_UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "modalities")
# A DNS host name: dot-separated labels of 1-63 letters, digits and inner hyphens.
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


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


def openai_chat(data: dict[str, Any], limits: Limits) -> tuple[ChatRequest, bool]:
    """An OpenAI chat.completions body; returns the request and whether usage is asked for in the stream."""
    for name in _UNSUPPORTED:
        if data.get(name):
            raise ApiError(400, "unsupported_parameter", f"'{name}' is not supported by this gateway yet", param=name)
    if data.get("n", 1) != 1:
        raise ApiError(400, "unsupported_parameter", "only n=1 is supported", param="n")
    if "max_tokens" not in data and "max_completion_tokens" in data:
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
    if not isinstance(value, str) or not value.isascii() or len(value) > 253 or not _HOSTNAME.fullmatch(value.lower()):
        raise ApiError(400, "invalid_site_domain",
                       "'site_domain' must be a host name such as shop.example.com (letters, digits, hyphens "
                       "and dots, at most 253 characters; no scheme, port or path)", param="site_domain")
    return value.lower()


def _common(data: dict[str, Any], limits: Limits, roles: tuple[str, ...]) -> ChatRequest:
    messages = _messages(data.get("messages"), limits, roles)
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip() or len(model) > 128):
        raise ApiError(400, "invalid_model", "'model' must be a non-empty string of at most 128 characters",
                       param="model")
    temperature = data.get("temperature")
    if temperature is not None:
        if not _is_number(temperature) or not 0 <= temperature <= 2:
            raise ApiError(400, "invalid_temperature", "'temperature' must be a number between 0 and 2",
                           param="temperature")
        temperature = float(temperature)
    max_tokens = data.get("max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= limits.max_tokens:
            raise ApiError(400, "invalid_max_tokens",
                           f"'max_tokens' must be a whole number from 1 to {limits.max_tokens}", param="max_tokens")
    return ChatRequest(messages=messages, model=model.strip() if model else None, temperature=temperature,
                       max_tokens=max_tokens, stream=_bool(data, "stream", False))


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
    for name, (low, high) in _NUMBER_RANGES.items():
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
        if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
            raise ApiError(400, "invalid_parameter", "'stop' must be a string or a list of up to 4 strings",
                           param="stop")
        extra["stop"] = stop
    if data.get("seed") is not None:
        if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
            raise ApiError(400, "invalid_parameter", "'seed' must be a whole number", param="seed")
        extra["seed"] = data["seed"]
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
