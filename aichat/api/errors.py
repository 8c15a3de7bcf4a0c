"""The JSON error envelopes, built in one place.

Under `/api/`: {"error": {"code", "message", "request_id"}}.
Under `/v1/`: OpenAI's {"error": {"message", "type", "param", "code"}}, with the statuses that
make the official SDK raise the matching exception.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, g, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from aichat.chat.conversations import ConversationNotFound
from aichat.chat.identity import IdentityError
from aichat.gateway import NoUpstreamAvailable, UnknownModel
from aichat.lifecycle import ServerShuttingDown
from aichat.providers.base import ProviderError, RequestInvalid, UpstreamRateLimited, UpstreamTimeout
from aichat.tenancy.preset import PresetViolation

log = logging.getLogger(__name__)

# OpenAI's error `type` for each status, as its API sends them.
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
                 429: "rate_limit_error"}


class ApiError(Exception):
    """A request we refuse or could not serve; rendered in the envelope of the surface it came in on."""

    def __init__(self, status: int, code: str, message: str, *, param: str | None = None,
                 headers: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}  # more fields of the error object, e.g. the limit a 429 names


def from_gateway(exc: Exception) -> ApiError:
    """The HTTP answer for a gateway failure."""
    if isinstance(exc, UnknownModel):
        return ApiError(404, "model_not_found", str(exc), param="model")
    if isinstance(exc, RequestInvalid):
        return ApiError(400, exc.code, f"the provider rejected the request: {exc.message}")
    if isinstance(exc, NoUpstreamAvailable):
        last = exc.last_error
        if last is None:
            return ApiError(503, "no_provider_available", str(exc), headers={"Retry-After": "10"})
        if isinstance(last, UpstreamRateLimited):
            return ApiError(429, last.code, "every provider is rate limiting us; try again shortly",
                            headers={"Retry-After": "5"})
        if isinstance(last, UpstreamTimeout):
            return ApiError(504, last.code, "no provider answered in time")
        return ApiError(502, last.code, f"no provider could answer: {last.message}")
    if isinstance(exc, ServerShuttingDown):
        # Another instance (or this one restarted) will answer; the balancer already sees this one as not ready.
        return ApiError(503, exc.code, exc.message, headers={"Retry-After": "5"})
    if isinstance(exc, ProviderError):
        return ApiError(502, exc.code, exc.message)
    raise TypeError(exc)


def render(err: ApiError):
    """The response for `err` in the envelope of the current surface."""
    request_id = getattr(g, "request_id", None)
    if request.path.startswith("/v1/"):
        kind = _OPENAI_TYPES.get(err.status, "server_error" if err.status >= 500 else "invalid_request_error")
        body = {"error": {"message": err.message, "type": kind, "param": err.param, "code": err.code, **err.extra}}
    else:
        body = {"error": {"code": err.code, "message": err.message, "request_id": request_id, **err.extra}}
    response = jsonify(body)
    response.status_code = err.status
    response.headers.update(err.headers)
    return response


def limit_exceeded(exc) -> ApiError:
    """The 429 for a request over one of its site's or key's limits (aichat.limits.LimitExceeded)."""
    return ApiError(429, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)},
                    extra={"limit": exc.details()})


def stream_error(err: ProviderError, request_id: str) -> dict:
    """The payload of an error event sent mid-stream, in the /api/ shape."""
    return {"error": {"code": err.code, "message": err.message, "request_id": request_id}}


def openai_stream_error(err: ProviderError) -> dict:
    """The chunk that ends a /v1 stream that failed mid-way: the official SDK raises APIError on it."""
    return {"error": {"message": err.message, "type": "server_error", "param": None, "code": err.code}}


def register_errors(app: Flask) -> None:
    app.register_error_handler(ApiError, render)
    # A browser's request outside its site's preset: a bad request naming the rule.
    app.register_error_handler(PresetViolation, lambda exc: render(ApiError(400, "preset_violation", exc.message,
                                                                            param=exc.param)))

    # An end user's session id or token refused: 400 invalid_session / invalid_end_user, 401 invalid_user_token /
    # user_token_expired (the widget then drops the token and goes on anonymously).
    app.register_error_handler(IdentityError, lambda exc: render(ApiError(exc.status, exc.code, exc.message)))
    # Unknown and someone else's alike, so an id reveals nothing.
    app.register_error_handler(ConversationNotFound, lambda exc: render(ApiError(
        404, "conversation_not_found", "no conversation of yours has this id")))

    for exc_type in (UnknownModel, NoUpstreamAvailable, ProviderError):
        app.register_error_handler(exc_type, lambda exc: render(from_gateway(exc)))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not _is_api(request.path):
            return exc
        code = {403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large",
                429: "rate_limited"}.get(exc.code, "http_error")
        message = exc.description or exc.name
        if exc.code == 429:
            message = f"rate limit exceeded ({exc.description}); slow down and retry after the Retry-After seconds"
            retry_after = _retry_after()
        elif exc.code == 413:
            message = f"request body too large (limit {app.config['MAX_CONTENT_LENGTH']} bytes)"
        err = ApiError(exc.code or 500, code, message,
                       headers={"Retry-After": str(retry_after)} if exc.code == 429 else None)
        response = render(err)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        # The database is down, unreachable or not migrated: the caller can only wait, so 503.
        log.error("database unavailable on %s %s (%s)", request.method, request.path, type(exc.orig).__name__)
        if not _is_api(request.path):
            return "Service Unavailable: the database cannot be reached", 503, {"Retry-After": "5"}
        return render(ApiError(503, "database_unavailable", "the database cannot be reached right now; "
                                                            "try again shortly", headers={"Retry-After": "5"}))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        err = ApiError(500, "internal_error", "internal error; the request id identifies it in the logs")
        if _is_api(request.path):
            return render(err)
        return "Internal Server Error", 500


def _retry_after() -> int:
    """Seconds until the breached limit's window resets (at least 1)."""
    from aichat.extensions import limiter

    current = limiter.current_limit
    if current is None:
        return 1
    return max(1, int(current.reset_at - time.time()) + 1)


def _is_api(path: str) -> bool:
    """JSON surfaces: errors there are JSON too (the health endpoints included)."""
    return path.startswith(("/api/", "/v1/", "/health/")) or path in ("/api", "/v1", "/health", "/metrics")
