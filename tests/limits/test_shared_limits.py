"""Two gunicorn servers of two workers each against one Redis enforce one limit, once: requests and tokens."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.limits.conftest import USAGE, V1, add_key, same_minute
from tests.shared_redis import REDIS_URL, redis_prefix  # noqa: F401 - a fixture

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


def post(server, key: str) -> requests.Response:
    # A new connection each time, so the requests spread over both workers of each server.
    return requests.post(server.base + V1, json=BODY, timeout=30,
                         headers={"Authorization": f"Bearer {key}", "Connection": "close"})


def test_four_workers_on_two_servers_share_one_request_and_one_token_limit(serve_gunicorn, make_app, fake_openai,
                                                                         redis_prefix):
    fake_openai.default = fake_openai.default.replace(usage=dict(USAGE))
    setup = make_app(AICHAT_CONFIG_POLL_INTERVAL=0)
    by_requests = add_key(setup, name="by requests", rpm=10)
    by_tokens = add_key(setup, name="by tokens", tpm=3 * 30 + 25)  # three calls of 30, then one estimated at 25
    shared = {"REDIS_URL": REDIS_URL, "AICHAT_REDIS_PREFIX": redis_prefix, "AICHAT_ROLLUP_INTERVAL": 0}
    servers = [serve_gunicorn(workers=2, **shared) for _ in range(2)]
    same_minute(30)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: post(servers[i % 2], by_requests).status_code, range(40)))
    assert sorted(statuses) == [200] * 10 + [429] * 30, "each of the four workers counted on its own"
    assert len(fake_openai.requests) == 10
    answers = [post(servers[i % 2], by_tokens) for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
    assert [a.headers["x-ratelimit-remaining-tokens"] for a in answers[:4]] == ["90", "60", "30", "0"]
    assert answers[4].json()["error"]["code"] == "tokens_exhausted"
    assert len(fake_openai.requests) == 14
