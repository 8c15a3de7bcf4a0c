"""The local Redis for tests that share state through it: a key prefix of each test's own, and waiting on it.

Import the fixtures into a test module (`from tests.shared_redis import redis_prefix`): every test gets
a prefix no parallel run shares, and its keys are deleted afterwards.
"""
from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import reachable, require_service

REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own on the local Redis; its keys are deleted afterwards."""
    import redis

    require_service(reachable(REDIS_PORT), f"Redis at 127.0.0.1:{REDIS_PORT} is unreachable")
    prefix = f"aichat-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def eventually(predicate, within: float = 10.0, every: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `within` seconds have passed; its last answer."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True
