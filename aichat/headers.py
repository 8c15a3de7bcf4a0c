"""Security headers on every response: a Content-Security-Policy without inline script or style, no MIME
sniffing, no framing, a same-origin Referer, and HSTS when the request came over HTTPS.

The pages load their scripts and styles only from static/ (`'self'`), so an injected `<script>` or
`style=""` does nothing. JSON answers get the same headers: they cost a few dict writes, and a JSON
body opened as a page is then inert too. A view may set its own value of any of them first.
"""
from __future__ import annotations

from flask import Flask, request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


_ALWAYS = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
           ("Referrer-Policy", "same-origin"))
_ALWAYS_LOWER = tuple((name.lower(), name, value) for name, value in _ALWAYS)


def init_security_headers(app: Flask) -> None:
    hsts_seconds = int(app.config["AICHAT_HSTS_SECONDS"])
    hsts = f"max-age={hsts_seconds}" if hsts_seconds > 0 else None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        # One pass over the headers already set (a per-name lookup would scan them once per header): this runs
        # on every chat request.
        present = {name.lower() for name in headers.keys()}
        headers.extend([(name, value) for lower, name, value in _ALWAYS_LOWER if lower not in present])
        # Only over HTTPS: a browser ignores it on plain HTTP, and pinning a host that also serves plain HTTP
        # (a development machine) would lock it out. Behind a proxy, AICHAT_TRUSTED_PROXIES makes is_secure true.
        if hsts and request.is_secure and "strict-transport-security" not in present:
            headers["Strict-Transport-Security"] = hsts
        return response
