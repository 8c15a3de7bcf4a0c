"""Client keys for the OpenAI-compatible API (from AICHAT_API_KEYS until keys live in the database)."""
from __future__ import annotations

import functools
import hashlib
import hmac

from flask import current_app, g, request

from .errors import ApiError


def key_digests(keys: list[str]) -> dict[bytes, str]:
    """Digest → label; keys are compared by digest, so the clear keys need not stay around."""
    return {hashlib.sha256(key.encode()).digest(): f"key#{i}" for i, key in enumerate(keys, 1)}


def client_key_required(view):
    """401 in OpenAI's shape unless `Authorization: Bearer <key>` carries a configured key."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing_api_key", "send your API key as 'Authorization: Bearer <key>'")
        digest = hashlib.sha256(token.strip().encode()).digest()
        label = None
        for known, known_label in current_app.extensions["aichat.client_keys"].items():
            if hmac.compare_digest(known, digest):
                label = known_label
        if label is None:
            raise ApiError(401, "invalid_api_key", "the API key is not valid")
        g.caller = label
        return view(*args, **kwargs)

    return wrapper
