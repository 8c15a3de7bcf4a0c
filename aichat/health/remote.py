"""`flask verify --url`: check a deployed instance from outside, over HTTP only, as a deploy pipeline would.

It needs no database or configuration of its own: /health, /health/ready, /health/verify (with
an admin token) and one tiny chat through the public API, each timed.
"""
from __future__ import annotations

import ipaddress
import time
from urllib.parse import urlsplit

import requests

from .checks.base import FAIL, OK, WARN, Check, worst

SMOKE_PROMPT = "Reply with the single word: ok"


class Unanswered(Exception):
    """The request got no HTTP answer; the message says why and what to check."""


def verify_remote(url: str, token: str | None, timeout: float = 10.0, live: bool = False) -> tuple[list[Check], dict]:
    """Every remote check in order, and the JSON document (`version` is the server's when /health/verify answered)."""
    base = url.rstrip("/")
    try:
        parts = urlsplit(base)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        results = [Check("url", FAIL, f"{url!r} is not an http(s) URL: pass the instance's base URL, "
                                      f"e.g. https://chat.example.com")]
        return results, _document(results, None, url)
    with requests.Session() as http:
        http.headers["User-Agent"] = "aichat-verify"
        results = [_transport(parts, token), _health(http, base, timeout), _ready(http, base, timeout)]
        server, version = _verify(http, base, token, timeout, live)
        results += server
        results.append(_chat(http, base, timeout))
    return results, _document(results, version, parts._replace(netloc=_host(base)).geturl())


def _host(url: str) -> str:
    """host[:port] of `url`, without the user:password@ a URL may carry for a proxy's basic auth."""
    return urlsplit(url).netloc.rpartition("@")[2]


def _document(results: list[Check], version: str | None, url: str) -> dict:
    status = worst(results)
    return {"ok": status != FAIL, "status": status, "version": version, "url": url,
            "checks": [check.as_dict() for check in results]}


def _transport(parts, token: str | None) -> Check:
    """Plain HTTP is fine on loopback; elsewhere the token and chats would travel in clear."""
    if parts.scheme == "https":
        return Check("transport", OK, "https", 0.0)
    try:
        local = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        local = False
    if local:
        return Check("transport", OK, "plain http on loopback", 0.0)
    sent = " (the admin token included)" if token else ""
    return Check("transport", WARN, f"plain http to {parts.hostname}: requests{sent} travel unencrypted; "
                                    f"put TLS in front (nginx) and use https://", 0.0)


def _call(http: requests.Session, method: str, url: str, timeout: float, **kwargs) -> tuple[requests.Response, float]:
    """(response, ms); Unanswered with an actionable reason when no HTTP answer came back."""
    host = _host(url)
    started = time.perf_counter()
    try:
        response = http.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.exceptions.SSLError as exc:
        raise Unanswered(f"TLS with {host} failed ({_short(exc)}): check the certificate and its host name, "
                         f"or use http:// if the listener has no TLS") from None
    except requests.exceptions.ConnectTimeout:
        raise Unanswered(f"could not connect to {host} within {timeout:g} s: check the host, port and "
                         f"firewall") from None
    except requests.exceptions.ReadTimeout:
        raise Unanswered(f"{host} accepted the connection but sent no answer within {timeout:g} s: the service "
                         f"is overloaded or hung; look at its logs") from None
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        if "refused" in text.lower():
            raise Unanswered(f"connection refused at {host}: is aichat (or the proxy in front) running and "
                             f"listening there?") from None
        if "resolve" in text.lower() or "name or service" in text.lower() or "getaddrinfo" in text.lower():
            raise Unanswered(f"cannot resolve {urlsplit(url).hostname}: check the host name and DNS") from None
        raise Unanswered(f"no answer from {host} ({_short(exc)}): check the address and the network") from None
    except requests.RequestException as exc:
        raise Unanswered(f"request to {host} failed ({type(exc).__name__}): check the URL") from None
    return response, round((time.perf_counter() - started) * 1000, 1)


def _short(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    return text if len(text) <= 120 else text[:119] + "…"


def _json(response: requests.Response) -> dict:
    """The body as a JSON object, or Unanswered saying what came instead."""
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise Unanswered(f"answered HTTP {response.status_code} with {kind}, not JSON: a proxy in front may be "
                         f"failing, or the URL points somewhere other than aichat") from None
    if not isinstance(body, dict):
        raise Unanswered(f"answered HTTP {response.status_code} with JSON that is not an object: the URL points "
                         f"somewhere other than aichat")
    return body


def _health(http: requests.Session, base: str, timeout: float) -> Check:
    """Liveness: what the load balancer sees."""
    try:
        response, ms = _call(http, "GET", f"{base}/health", timeout)
        body = _json(response)
    except Unanswered as why:
        return Check("health", FAIL, str(why))
    if response.status_code == 200 and body.get("status") == "ok":
        return Check("health", OK, "alive", ms)
    return Check("health", FAIL, f"GET /health answered HTTP {response.status_code}: the app is not serving; "
                                 f"look at the service's logs", ms)


def _ready(http: requests.Session, base: str, timeout: float) -> Check:
    """Readiness: whether the balancer would send it traffic."""
    try:
        response, ms = _call(http, "GET", f"{base}/health/ready", timeout)
        body = _json(response)
    except Unanswered as why:
        return Check("ready", FAIL, str(why))
    checks = body.get("checks") if isinstance(body.get("checks"), dict) else {}
    if response.status_code == 200:
        return Check("ready", OK, f"ready ({', '.join(checks) or 'no details'})", ms)
    failing = [f"{name}: {entry.get('reason', '?')}" for name, entry in checks.items()
               if isinstance(entry, dict) and entry.get("status") != OK]
    if response.status_code == 503:
        return Check("ready", FAIL, f"not ready ({'; '.join(failing) or 'no details'}): fix these before sending "
                                    f"traffic", ms)
    return Check("ready", FAIL, f"GET /health/ready answered HTTP {response.status_code}: the server may run an "
                                f"older aichat or another app", ms)


def _verify(http: requests.Session, base: str, token: str | None, timeout: float,
            live: bool) -> tuple[list[Check], str | None]:
    """The server's own checks, each as an entry `server:<name>`, behind one entry for the call itself."""
    if not token:
        return [Check("verify", WARN, "skipped: pass --token or set AICHAT_VERIFY_TOKEN to an admin API token "
                                      "to run the server's own checks")], None
    # The server bounds each of its checks; give it room for all of them.
    try:
        response, ms = _call(http, "GET", f"{base}/health/verify", max(timeout, 60.0),
                             params={"live": "1"} if live else None, headers={"Authorization": f"Bearer {token}"})
        body = _json(response)
    except Unanswered as why:
        return [Check("verify", FAIL, str(why))], None
    if response.status_code == 401:
        return [Check("verify", FAIL, "the token was refused (unknown, revoked, or its admin is disabled): issue "
                                      "a new admin API token", ms)], None
    entries = body.get("checks")
    if response.status_code != 200 or not isinstance(entries, list):
        return [Check("verify", FAIL, f"GET /health/verify answered HTTP {response.status_code} without checks: "
                                      f"look at the service's logs", ms)], None
    server = [Check(f"server:{e.get('name', '?')}", e.get("status") if e.get("status") in (OK, WARN, FAIL) else FAIL,
                    str(e.get("reason", "")), e.get("ms")) for e in entries if isinstance(e, dict)]
    status = worst(server)
    counts = ", ".join(f"{sum(c.status == s for c in server)} {s}" for s in (OK, WARN, FAIL))
    found = Check("verify", OK if status == OK else status,
                  f"{len(server)} server checks: {counts}" + ("" if status == OK else "; see the server: entries"), ms)
    return [found, *server], body.get("version")


def _chat(http: requests.Session, base: str, timeout: float) -> Check:
    """One tiny chat through the public browser API: what a site's visitors would get."""
    payload = {"messages": [{"role": "user", "content": SMOKE_PROMPT}], "max_tokens": 5, "suggestions": False,
               "stream": False}
    try:
        response, ms = _call(http, "POST", f"{base}/api/v1/ai-proxy/chat", timeout, json=payload)
        body = _json(response)
    except Unanswered as why:
        return Check("chat", FAIL, str(why))
    if response.status_code == 200 and isinstance(body.get("content"), str):
        return Check("chat", OK, f"answered by {body.get('provider')} ({body.get('model')}) in {ms:.0f} ms", ms)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return Check("chat", FAIL, f"POST /api/v1/ai-proxy/chat answered HTTP {response.status_code} "
                               f"{error.get('code', '')} ({str(error.get('message', 'no message'))[:160]}): check the "
                               f"provider entries (run with --token) and the service's logs", ms)
