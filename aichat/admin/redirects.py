"""Where to send someone after login: only to a path on this site, never to another host."""
from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """`target` when it is a same-site absolute path (`/admin/…?x=1`), else None.

    Refused: any scheme or host, scheme-relative `//host`, and backslashes and control
    characters, which browsers may read as `/` or drop (`/\\evil.example` is `//evil.example`).
    """
    if not target or len(target) > 2048 or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
