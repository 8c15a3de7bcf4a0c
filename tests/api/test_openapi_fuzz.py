"""Schemathesis against the served OpenAPI document, in process through the WSGI app: every request the document
allows is accepted, every request it forbids is refused with a 4xx, and every answer is one it declares."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from aichat.api.openapi import document
from aichat.api.validation import Limits
from aichat.config import Defaults
from tests.conftest import CLIENT_KEY

DOCUMENT = document(Limits(Defaults.AICHAT_MAX_TOKENS_LIMIT, Defaults.AICHAT_MAX_MESSAGES))
# Negative cases need something to get wrong: a parameter or a body.
CASES = [(method.upper(), path, mode) for path, item in DOCUMENT["paths"].items()
         for method, operation in item.items()
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")]
EXAMPLES = 25  # per operation and mode: 525 requests in all, about half a minute


def credentials(path: str, admin_token: str) -> dict:
    """What each surface is called with: a client key on the chat surfaces, an admin token on the monitoring API."""
    if path == "/api/v1/ai-proxy/chat":  # acting for a user: a body continuing a conversation names one of theirs
        return {"Authorization": f"Bearer {CLIENT_KEY}", "X-AIChat-End-User": "fuzz-user"}
    if path.startswith("/v1/"):
        return {"Authorization": f"Bearer {CLIENT_KEY}"}
    if path.startswith("/api/v1/ai-"):
        return {"Authorization": f"Bearer {admin_token}"}
    return {}


@pytest.mark.parametrize("method, path, mode", CASES, ids=lambda v: getattr(v, "value", v))
def test_the_server_does_what_its_document_says(make_app, make_admin, method, path, mode):
    app = make_app()
    _, token = make_admin(app)
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    headers = credentials(path, token)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def every_check(case):
        case.call_and_validate(headers=headers)  # every check schemathesis has that applies

    every_check()
