"""Under 32 concurrent callers, a budget and a token limit stop traffic, overshooting only by the calls in flight."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from aichat.runtime import runtime_of
from aichat.usage.costing import price_cache
from tests.limits.conftest import V1, add_key, set_site_limits

CALLERS = 32
CALL_COST = Decimal("0.0000135")  # gpt-4o-mini: 10 prompt tokens at 0.15/M, 20 completion tokens at 0.60/M
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


def hammer(base: str, key: str) -> list[int]:
    """32 callers, each sending one request after another until it is refused; every status, in order of answer."""
    statuses, lock = [], threading.Lock()

    def caller():
        with requests.Session() as session:
            while True:
                status = session.post(base + V1, json=BODY, headers={"Authorization": f"Bearer {key}"},
                                      timeout=30).status_code
                with lock:
                    statuses.append(status)
                if status != 200:
                    return

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


# A call is estimated at 25 tokens ("hi" and its framing, max_tokens 20) costing 0.00001275; it really uses
# 30 costing 0.0000135. Each call in flight can overshoot by what its estimate missed.
@pytest.mark.parametrize("limit, per_call, missed", [
    ({"cost_day": str(10 * CALL_COST)}, CALL_COST, CALL_COST - Decimal("0.00001275")),
    ({"tpm": 10 * 30}, 30, 30 - 25),
])
def test_overshoot_is_bounded_by_the_calls_in_flight(limited_app, live_server, fake_openai, limit, per_call, missed):
    fake_openai.default = fake_openai.default.replace(delay=0.05)  # so calls overlap
    with limited_app.app_context():
        price_cache().book()  # prices read, as in a process that has priced a call
    set_site_limits(limited_app, **limit)
    key = add_key(limited_app)
    statuses = hammer(live_server(limited_app), key)
    served = statuses.count(200)
    assert statuses.count(429) == CALLERS and len(statuses) == served + CALLERS, "every caller ended refused, no 5xx"
    assert len(fake_openai.requests) == served, "a refused request went upstream"
    (name,) = limit
    budget = Decimal(str(limit[name]))
    assert budget - per_call < served * per_call <= budget + CALLERS * missed, f"{served} served"
    quota = runtime_of(limited_app).quota
    used = next(row["used"] for row in quota.view(runtime_of(limited_app).directory.local_site) if row["name"] == name)
    assert Decimal(str(used)) == served * per_call, "each call's real use was settled once"
