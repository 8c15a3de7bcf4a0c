"""The OpenAPI 3.1 document of aichat's JSON API, served at `/api/v1/openapi.json`.

Built here as a plain dict from the same limits the views enforce (api/params.py). The tests
validate it with openapi-spec-validator and check every response they receive against the
schema it declares, so the document and the code cannot drift apart.
"""
from __future__ import annotations

import copy
from functools import cache

from flask import Blueprint, jsonify

from aichat.extensions import csrf
from aichat.models.usage import LATENCY_BUCKETS_MS
from aichat.runtime import runtime_of

from . import openapi_chat, openapi_conversations, params
from .validation import Limits

bp = Blueprint("openapi", __name__)
csrf.exempt(bp)  # a public JSON document

MONITORING = "/api/v1/ai-monitoring"
ADMIN = [{"bearerAuth": []}, {"cookieSession": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict, description: str = "", optional: tuple[str, ...] = ()) -> dict:
    """A closed object: every property listed is required (unless optional), nothing else allowed."""
    schema = {"type": "object", "properties": properties,
              "required": [name for name in properties if name not in optional], "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


COUNT = {"type": "integer", "minimum": 0}
RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
MS = {"type": ["number", "null"], "minimum": 0}
TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": ["string", "null"]}
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
CIRCUIT = {"enum": ["closed", "open", "half_open"]}
UPSTREAM = {**TEXT, "description": "the upstream's name, as configured (`openai`, `deepseek`, `gemini-eu` …)"}
LIMIT_NAME = {"enum": ["rpm", "rpm_ip", "rpm_user", "tpm", "tpd", "cost_day", "cost_month"]}
WINDOW = {"enum": ["minute", "day", "month"], "description": "a clock minute, or a local day or month (AICHAT_TIMEZONE)"}
AMOUNT = {"type": ["integer", "string"], "description": "requests or tokens; a budget as a decimal string"}
KIND = {**TEXT, "description": "the upstream's kind: the protocol aichat speaks to it (`openai`, `gemini`, `demo`)"}


def _latency(names: tuple[str, ...]) -> dict:
    bound = ("; null without successful attempts, or when some days of the period were rolled up before min and "
             "max were kept and their logs are pruned")
    return _obj({
        "avg_ms": {**MS, "description": "latency_sum / count over successful attempts"},
        "min_ms": {**MS, "description": "the fastest successful attempt, exact" + bound},
        **{name: {**MS, "description": f"the {name[1:3]}th percentile from the histogram, within [min_ms, max_ms]"}
           for name in names},
        "max_ms": {**MS, "description": "the slowest successful attempt, exact" + bound},
        "count": COUNT,
    }, "Latency of successful attempts. Percentiles interpolate linearly inside the histogram bucket they "
       f"fall in (bounds {', '.join(map(str, LATENCY_BUCKETS_MS))} ms, then open), its edges narrowed to "
       f"min_ms and max_ms: the open bucket runs from {LATENCY_BUCKETS_MS[-1]} to max_ms. Without min_ms and "
       f"max_ms a percentile in the open bucket is reported as {LATENCY_BUCKETS_MS[-1]}, a lower bound.")


def _summary_properties() -> dict:
    return {
        "period": _ref("Period"),
        "requests": {**COUNT, "description": "client requests (first attempts)"},
        "attempts": {**COUNT, "description": "upstream attempts, failovers included"},
        "successes": COUNT,
        "errors": {**COUNT, "description": "failed attempts"},
        "cancelled": {**COUNT, "description": "requests the client abandoned"},
        "failed_requests": {"type": "integer", "description": "requests - successes - cancelled"},
        "success_rate": {**RATE, "description": "successes / requests; null without requests"},
        "failovers": COUNT,
        "streams": COUNT,
        "tokens": _ref("Tokens"),
        "cost": _ref("Cost"),
        "unpriced": {**COUNT, "description": "attempts with tokens but no price for their model"},
        "estimated": {**COUNT, "description": "attempts whose tokens were estimated (upstream sent no usage)"},
        "estimated_share": {**RATE, "description": "estimated / attempts"},
        "latency": _ref("Latency"),
        "top_models": {"type": "array", "maxItems": 10, "items": _ref("ModelUsage")},
    }


def _schemas() -> dict:
    summary = _obj(_summary_properties(), "Totals over the period, from the daily rollup.")
    caller = copy.deepcopy(summary)
    caller["properties"] = {"caller": {**NULLABLE_TEXT, "description": "the client key's label; null: every caller"},
                            **caller["properties"]}
    caller["required"] = ["caller", *caller["required"]]
    caller["description"] = "The summary of one caller's traffic (a client key's own), or of all for an admin."
    brief_latency = _latency(("p95_ms",))
    return {
        "Error": _obj({"error": _obj({"code": TEXT, "message": TEXT, "request_id": NULLABLE_TEXT,
                                      "limit": _ref("LimitRefusal")}, optional=("limit",))},
                      "The error envelope of every /api endpoint."),
        "LimitRefusal": _obj({
            "name": {"enum": ["rate", *LIMIT_NAME["enum"]],
                     "description": "rate: the gateway's limit per client address (AICHAT_RATE_LIMIT)"},
            "scope": {"enum": ["site", "key", "ip", "user"],
                      "description": "whose use was counted: the site's or key's as a whole, "
                                     "one client address's, or one end user's"},
            "owner": {"enum": ["site", "key", "gateway"], "description": "whose limit it is"},
            "window": {"type": "string", "minLength": 1,
                       "description": "minute, day or month; for the limit per address its own (minute, hour, "
                                      "10 seconds …)"},
            "limit": AMOUNT, "used": AMOUNT,
            "requested": {"type": ["integer", "string", "null"],
                          "description": "what this request needed: 1 request, its estimated tokens, or its estimated "
                                         "cost (null: its model has no price in the budget's currency)"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "resets_at": {"type": "string", "format": "date-time"},
            "retry_after": {"type": "integer", "minimum": 1, "description": "seconds, as in Retry-After"},
        }, "The limit a 429 refused the request for (codes rate_limited, tokens_exhausted, budget_exhausted); "
           "nothing was sent upstream and nothing was counted.", optional=("currency",)),
        "LimitUse": _obj({"name": LIMIT_NAME, "window": WINDOW, "limit": AMOUNT, "used": AMOUNT,
                          "remaining": AMOUNT, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                          "resets_at": {"type": "string", "format": "date-time"}},
                         "One limit's current window.", optional=("currency",)),
        "KeyQuota": _obj({"prefix": TEXT, "name": TEXT, "limits": {"type": "array", "items": _ref("LimitUse")}},
                         "A client key with limits of its own (its visible prefix, never the key)."),
        "SiteQuota": _obj({"site_domain": TEXT, "limits": {"type": "array", "items": _ref("LimitUse")},
                           "keys": {"type": "array", "items": _ref("KeyQuota")}}),
        "Quota": _obj({
            "scope": {"enum": ["shared", "worker_process"],
                      "description": "shared: the fleet's counts (Redis); worker_process: the counts of the worker "
                                     "that answered (no REDIS_URL, or Redis unreachable now)"},
            "sites": {"type": "array", "items": _ref("SiteQuota")}},
            "Sites with limits (or with keys that have them): what is used and left now. Per-address and "
            "per-user counters are not listed."),
        "Period": _obj({"from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
                        "days": {"type": "integer", "minimum": 1}, "timezone": TEXT},
                       "Local calendar days (AICHAT_TIMEZONE), inclusive."),
        "Tokens": _obj({"prompt": COUNT, "cached": COUNT, "completion": COUNT, "reasoning": COUNT,
                        "total": {**COUNT, "description": "prompt + completion"}},
                       "cached is part of prompt, reasoning part of completion."),
        "Cost": {"type": "object", "propertyNames": {"pattern": "^[A-Z]{3}$"},
                 "additionalProperties": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
                 "description": "Exact cost per ISO 4217 currency as a decimal string; {} when nothing was priced."},
        "Latency": _latency(PERCENTILES),
        "LatencyBrief": brief_latency,
        "ModelUsage": _obj({"provider": KIND, "model": TEXT, "requests": COUNT, "attempts": COUNT,
                            "tokens": _ref("Tokens"), "cost": _ref("Cost")},
                           "A model over every upstream of its kind."),
        "Summary": summary,
        "CallerStats": caller,
        "DailyPoint": _obj({"day": {"type": "string", "format": "date"}, "requests": COUNT, "attempts": COUNT,
                            "successes": COUNT, "errors": COUNT, "failovers": COUNT, "tokens": _ref("Tokens"),
                            "cost": _ref("Cost"), "estimated": COUNT, "unpriced": COUNT,
                            "latency": _ref("LatencyBrief")}),
        "Daily": _obj({"period": _ref("Period"), "points": {"type": "array", "items": _ref("DailyPoint")}},
                      "One point per local day, oldest first; days without traffic are zeros."),
        "ProviderLive": _obj({
            "scope": {"enum": ["shared", "worker_process"],
                      "description": "shared: every worker and instance sees this state (through Redis); "
                                     "worker_process: this worker's own (no REDIS_URL, or Redis unreachable now), "
                                     "another worker may see another"},
            "pid": {"type": "integer"},
            "circuit": CIRCUIT,
            "keys": {"type": "array", "items": _obj({"label": TEXT, "circuit": CIRCUIT, "invalid": NULLABLE_TEXT})},
        }, "The upstream's circuit breaker and key states, as the worker that answered sees them."),
        "ProviderUsage": _obj({
            "upstream": UPSTREAM, "provider": KIND,
            "attempts": COUNT, "requests": COUNT, "successes": COUNT, "errors": COUNT,
            "error_rate": {**RATE, "description": "errors / attempts"}, "failovers": COUNT,
            "latency": _ref("LatencyBrief"), "tokens": _ref("Tokens"), "cost": _ref("Cost"),
            "live": {"oneOf": [_ref("ProviderLive"), {"type": "null"}],
                     "description": "null for an upstream no longer configured (or no longer of this kind)"},
        }, "One upstream (of one kind) over the period; configured upstreams without traffic have zeros."),
        "Providers": _obj({"period": _ref("Period"), "providers": {"type": "array", "items": _ref("ProviderUsage")}}),
        "RecentError": _obj({
            "time": {"type": "string", "format": "date-time"}, "request_id": TEXT,
            "attempt": {"type": "integer", "minimum": 1}, "upstream": UPSTREAM, "provider": KIND,
            "key_label": NULLABLE_TEXT,
            "model": NULLABLE_TEXT, "http_status": {"type": ["integer", "null"]}, "error_code": NULLABLE_TEXT,
            "error_message": {**NULLABLE_TEXT, "description": "redacted of anything shaped like a key"},
            "site_domain": TEXT, "endpoint": TEXT}),
        "RecentErrors": _obj({"errors": {"type": "array", "items": _ref("RecentError")}}, "Newest first."),
        "ChatResponse": openapi_chat.proxy_response(),
        "OpenAIError": openapi_chat.openai_error(),
        "ModelList": openapi_chat.model_list(),
        **openapi_conversations.schemas(),
    }


def _param(name: str, schema: dict, description: str, *, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _days(default: int) -> dict:
    low, high = params.DAYS_RANGE
    return _param("days", {"type": "integer", "minimum": low, "maximum": high, "default": default},
                  "local days up to and including today")


def _text(name: str, description: str) -> dict:
    return _param(name, {"type": "string", "minLength": 1, "maxLength": params.TEXT_LENGTHS[name],
                         "pattern": params.TEXT_PATTERN}, description + "; no control characters")


SITE = _text("site_domain", "only this site")
DATES = [_param(name, {"type": "string", "format": "date", "pattern": params.DATE_PATTERN},
                f"{name} this local day (inclusive), YYYY-MM-DD from 1970-01-01 to 9998-12-31; from after to "
                "is a range of no days", required=True) for name in ("from", "to")]
ADDRESS_REFUSED = ("the client address is refused by {name}_ALLOW_IPS / {name}_DENY_IPS (code address_not_allowed), "
                   "before credentials are looked at")
_MEANING = {400: "a parameter is invalid (code invalid_parameter; the message names it)",
            401: "no credentials, or a bad, revoked or disabled admin token",
            403: ADDRESS_REFUSED.format(name="AICHAT_MONITORING"),
            503: "the database cannot be reached (code database_unavailable; with Retry-After)"}


def _errors(statuses, meaning=None, schema: str = "Error") -> dict:
    """Error responses in the envelope `schema`; `meaning` overrides the monitoring API's descriptions."""
    described = {**_MEANING, **(meaning or {})}
    return {str(s): {"description": described[s], "content": {"application/json": {"schema": _ref(schema)}}}
            for s in statuses}


def _get(summary: str, schema: str, parameters: list, security=ADMIN, description: str = "",
         statuses=(400, 401, 403, 503)) -> dict:
    op = {"summary": summary, "parameters": parameters, "security": security,
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema)}}},
                        **_errors(statuses)}}
    if description:
        op["description"] = description
    return {"get": op}


def _csv(summary: str) -> dict:
    return {"get": {"summary": summary, "parameters": DATES, "security": ADMIN,
                    "responses": {"200": {"description": "a CSV attachment, streamed",
                                          "content": {"text/csv": {"schema": {"type": "string"}}}},
                                  **_errors((400, 401, 403, 503))}}}


# Why a chat request is refused or not served, on both chat surfaces.
_CHAT_ERRORS = {400: "the body breaks a rule (the message names the field); a bad end user: a page's session id "
                     "(invalid_session), a client key's X-AIChat-End-User (invalid_end_user); with conversation_id: "
                     "messages sent too (messages_not_allowed), a client key naming no end user (end_user_required), "
                     "a message over the context budget (preset_violation for max_input_tokens, context_too_large)",
                401: "no client key, or one that is not valid, revoked or expired (code invalid_api_key); a site "
                     "that serves no anonymous visitors (sign_in_required); a page's X-AIChat-User token that does "
                     "not verify (invalid_user_token) or has expired (user_token_expired); conversation_id from a page "
                     "naming no end user (session_required)",
                403: "an Origin or publishable key that is not allowed (origin_not_allowed, unknown_site), a "
                     "disabled site (site_disabled), a model the client key may not use (model_not_allowed), or a "
                     "page sending X-AIChat-End-User (end_user_not_allowed)",
                404: "no upstream serves the model (code model_not_found); no conversation of the end user has "
                     "that conversation_id (conversation_not_found)",
                413: "the body is larger than AICHAT_MAX_BODY_BYTES", 415: "the body is not application/json",
                429: "a rate limit, token limit or budget is reached (rate_limited, tokens_exhausted, "
                     "budget_exhausted, with the limit named), or every upstream is rate limited; with Retry-After",
                502: "no upstream could answer", 503: "no upstream is available, or the server is stopping",
                504: "no upstream answered in time"}


CHAT_FAILURES = (404, 413, 415, 429, 502, 503, 504)


def _chat(summary: str, body: dict, answer: dict, event: dict, security: list, error_schema: str, statuses,
          description: str = "") -> dict:
    # text/event-stream's schema describes each event (OpenAPI 3.1 has no itemSchema yet).
    return {"post": {
        "summary": summary, **({"description": description} if description else {}), "security": security,
        "parameters": [openapi_conversations.ACTING_FOR],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": {"description": "the answer: JSON, or server-sent events when stream is true",
                              "content": {"application/json": {"schema": answer},
                                          "text/event-stream": {"schema": event}}},
                      **_errors(statuses, _CHAT_ERRORS, error_schema)}}}


def _paths(limits: Limits) -> dict:
    low, high = params.LIMIT_RANGE
    sizes = (limits.max_tokens, limits.max_messages)
    return {
        f"{MONITORING}/summary": _get("Totals, success rate, tokens, cost, latency, top models", "Summary",
                                      [_days(7), SITE]),
        f"{MONITORING}/daily": _get("One point per local day, zero-filled", "Daily", [_days(30), SITE]),
        f"{MONITORING}/providers": _get("Per upstream: attempts, error rate, failovers, latency, cost, live circuit",
                                        "Providers", [_days(7), SITE]),
        f"{MONITORING}/recent-errors": _get(
            "The newest failed attempts, redacted", "RecentErrors",
            [_param("limit", {"type": "integer", "minimum": low, "maximum": high, "default": 50}, "how many"),
             _text("upstream", "only this upstream (by name)"),
             _text("provider", "only upstreams of this kind"), SITE]),
        f"{MONITORING}/quota": _get("Limits and budgets of sites and client keys: used and left in each window",
                                    "Quota", [SITE]),
        f"{MONITORING}/export/logs.csv": _csv("Every usage log row of local days from..to"),
        f"{MONITORING}/export/daily.csv": _csv("The daily rollup rows of local days from..to"),
        "/api/v1/ai-proxy/stats": _get(
            "The caller's own usage", "CallerStats", [_days(7), SITE, _text("caller", "admins only: one caller")],
            security=[{"clientKey": []}, *ADMIN], statuses=(400, 401, 503),
            description="With a client key: that key's traffic (a `caller` other than its own is a 400). With an "
                        "admin token or session: everyone's, or one caller's."),
        "/api/v1/ai-proxy/chat": _chat(
            "One chat turn for a browser (events: delta, done, error)", openapi_chat.proxy_request(*sizes),
            _ref("ChatResponse"), openapi_chat.proxy_event(), [{}, {"clientKey": []}], "Error",
            (400, 401, 403, *CHAT_FAILURES),
            "A page may name its end user as on the conversation API (X-AIChat-Session, X-AIChat-User); the site's "
            "rpm_user limit then counts each end user apart."),
        "/v1/chat/completions": _chat(
            "OpenAI-compatible chat completions; use the official SDK with base_url",
            openapi_chat.openai_request(*sizes), {"type": "object", "description": "OpenAI's chat.completion"},
            openapi_chat.openai_event(), [{"clientKey": []}], "OpenAIError", (400, 401, 403, *CHAT_FAILURES)),
        "/v1/models": {"get": {"summary": "OpenAI-compatible model list", "security": [{"clientKey": []}],
                               "responses": {"200": {"description": "OpenAI's model list", "content": {
                                   "application/json": {"schema": _ref("ModelList")}}},
                                   **_errors((401,), {401: "no client key, or not a valid one"}, "OpenAIError")}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics", "security": [{}, {"metricsToken": []}],
            "description": "For addresses AICHAT_METRICS_ALLOW_IPS admits and AICHAT_METRICS_DENY_IPS does not "
                           "(unset: this host without a token, any address with one), with the token when "
                           "AICHAT_METRICS_TOKEN is set. Never rate limited.",
            "responses": {"200": {"description": "the Prometheus text format, version 0.0.4",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors((401, 403), {401: "AICHAT_METRICS_TOKEN is set and the request does not "
                                                      "carry it (codes missing_token, invalid_token)",
                                                 403: ADDRESS_REFUSED.format(name="AICHAT_METRICS")})}}},
        **openapi_conversations.paths(),
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3.1",
                                                               "content": {"application/json": {}}}}}},
    }


@cache
def document(limits: Limits) -> dict:
    """The OpenAPI 3.1 document for these request limits (built once for each)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "aichat", "version": "1",
                 "description": "A self-hosted AI chat gateway: the chat endpoints, end users' conversations, and "
                                "the monitoring API for admins. Errors under /api are {\"error\": {\"code\", \"message\", \"request_id\"}}; "
                                "money is an exact decimal string per currency."},
        "paths": _paths(limits),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "an admin API token (`flask users create-token USERNAME`)"},
                "cookieSession": {"type": "apiKey", "in": "cookie", "name": "session",
                                  "description": "the console session after logging in at /admin/login"},
                "clientKey": {"type": "http", "scheme": "bearer",
                              "description": "a client key from `flask keys create` (or AICHAT_API_KEYS)"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "AICHAT_METRICS_TOKEN"},
            },
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json():
    """The document; public, so tools can read it before they have credentials."""
    return jsonify(document(runtime_of().limits))
