"""A serving worker loads no library its configuration does not use: each costs every worker its memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.health.test_ready import own_database  # noqa: F401 - fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Libraries a worker needs only for some configurations, and what each costs it.
OPTIONAL = {
    "alembic": "schema changes happen under `flask db`, not in a worker (about 11 MB)",
    "flask_migrate": "as alembic",
    "cryptography": "only a stored upstream key needs decrypting (about 9 MB)",
    "redis": "only REDIS_URL or a Redis limit storage needs it (about 8 MB)",
    "google": "only a gemini upstream needs google-genai",
}


def test_a_worker_without_stored_keys_or_redis_loads_none_of_them(own_database):  # noqa: F811
    """Does a worker serving one OpenAI upstream from the environment answer readiness and list its models
    without importing cryptography, redis, google-genai or alembic?"""
    url = own_database("head")
    script = ("import json, sys; from wsgi import app; c = app.test_client(); "
              "r = c.get('/health/ready'); m = c.get('/v1/models', headers={'Authorization': 'Bearer k'}); "
              f"print(json.dumps([r.status_code, m.status_code, sorted({{n.split('.')[0] for n in sys.modules}} "
              f"& set({sorted(OPTIONAL)!r}))]))")
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "x" * 40, "AICHAT_ROLLUP_INTERVAL": "0",
           "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "GEMINI_API_KEY": "",
           "AICHAT_API_KEYS": "k", "REDIS_URL": "", "AICHAT_RATELIMIT_STORAGE_URI": "", "AICHAT_ENCRYPTION_KEY": ""}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    ready, models, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert (ready, models) == (200, 200), out.stderr[-2000:]
    assert loaded == [], {name: OPTIONAL[name] for name in loaded}
