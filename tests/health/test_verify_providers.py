"""`flask verify`'s provider entries (circuits, benched keys, --live) and the last hour's errors."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from aichat.extensions import db
from aichat.models import AIUsageLog
from tests.conftest import GEMINI_KEYS, usage_rows
from tests.health.test_verify import STRONG_KEY


def verify(app, *args):
    result = app.test_cli_runner().invoke(args=["verify", "--json", *args])
    return result, {c["name"]: c for c in json.loads(result.output)["checks"]}


def chat(app):
    return app.test_client().post("/api/v1/ai-proxy/chat", json={"messages": [{"role": "user", "content": "hi"}],
                                                                  "suggestions": False})


@pytest.fixture
def providers(gateway_app):
    """Both fake upstreams; a single failure opens a provider's circuit."""
    return lambda **overrides: gateway_app(**{"SECRET_KEY": STRONG_KEY, "AICHAT_ENV": "development",
                                              "AICHAT_CIRCUIT_FAILURES": 1, **overrides})


def test_one_open_circuit_warns_when_the_other_provider_is_usable(providers, fake_gemini):
    app = providers()
    fake_gemini.default = fake_gemini.default.replace(status=503)
    assert chat(app).json["provider"] == "openai"  # gemini failed, its circuit opened, openai answered
    result, found = verify(app)
    assert result.exit_code == 0
    assert found["provider:gemini"]["status"] == "warn"
    assert "circuit open, not usable now" in found["provider:gemini"]["reason"]
    assert "calls fail over to openai" in found["provider:gemini"]["reason"]
    assert found["provider:openai"]["status"] == "ok"


def test_all_circuits_open_fail_and_exit_one(providers, fake_gemini, fake_openai):
    app = providers()
    fake_gemini.default = fake_gemini.default.replace(status=503)
    fake_openai.default = fake_openai.default.replace(status=503)
    assert chat(app).status_code >= 500
    result, found = verify(app)
    assert result.exit_code == 1
    for name in ("provider:gemini", "provider:openai"):
        assert found[name]["status"] == "fail"
        assert "and no other provider is: every chat fails until it recovers" in found[name]["reason"]


def test_a_benched_key_is_a_warning_naming_its_label(providers):
    app = providers(GEMINI_API_KEY=[GEMINI_KEYS[0], "AIzaRevokedKeyThatTheFakeRefuses01"], AICHAT_CIRCUIT_FAILURES=5)
    for _ in range(2):  # rotation starts one key further each time, so the second call tries the bad key first
        assert chat(app).status_code == 200
    found = verify(app)[1]["provider:gemini"]
    assert found["status"] == "warn"
    assert "gemini#2 benched (" in found["reason"] and "replace that key in GEMINI_API_KEY" in found["reason"]
    assert "AIzaRevoked" not in found["reason"]


def test_live_calls_each_provider_once_timed_and_records_it(providers, fake_gemini, fake_openai):
    """Does --live make one tiny real call per provider, and bill it as a usage row like any attempt?"""
    app = providers()
    result, found = verify(app, "--live")
    assert result.exit_code == 0, result.output
    for name, model in (("gemini", "gemini-2.5-flash"), ("openai", "gpt-4o-mini")):
        reason = found[f"provider:{name}"]["reason"]
        assert found[f"provider:{name}"]["status"] == "ok"
        assert "live call answered in " in reason and f" ms by {model}" in reason
    assert len(fake_gemini.requests) == 1 and len(fake_openai.requests) == 1
    assert fake_openai.requests[0].json["max_tokens"] == 5
    assert fake_gemini.requests[0].json["generationConfig"]["maxOutputTokens"] == 5
    rows = usage_rows(app, at_least=2)
    assert sorted((r["provider"], r["endpoint"], r["status"], r["key_label"]) for r in rows) == [
        ("gemini", "verify", "success", "gemini#1"), ("openai", "verify", "success", "openai#1")]
    assert all(r["latency_ms"] > 0 and r["total_tokens"] > 0 and r["caller"] == "verify" for r in rows)


def test_a_failing_live_call_fails_and_is_recorded_as_an_error(providers, fake_openai):
    app = providers()
    fake_openai.default = fake_openai.default.replace(error="insufficient_quota")
    result, found = verify(app, "--live")
    assert result.exit_code == 1
    assert found["provider:openai"]["status"] == "fail"
    assert "live call failed after" in found["provider:openai"]["reason"]
    assert "check the key and OPENAI_BASE_URL" in found["provider:openai"]["reason"]
    assert found["provider:gemini"]["status"] == "ok"
    rows = [r for r in usage_rows(app, at_least=2) if r["provider"] == "openai"]
    assert [(r["endpoint"], r["status"], r["http_status"], r["failed_over"]) for r in rows] == [
        ("verify", "error", 429, False)]


def test_without_live_nothing_is_called(providers, fake_gemini, fake_openai):
    verify(providers())
    assert fake_gemini.requests == [] and fake_openai.requests == []


@pytest.mark.parametrize("env, status", [("production", "warn"), ("development", "ok")])
def test_the_demo_responder_is_a_warning_in_production(make_app, env, status):
    found = verify(make_app(AICHAT_ENV=env, SECRET_KEY=STRONG_KEY))[1]
    assert found["provider:demo"]["status"] == status
    assert "demo responder answers every chat" in found["provider:demo"]["reason"]


def _rows(app, errors: int, successes: int, age: timedelta = timedelta(minutes=5)):
    now = datetime.now(timezone.utc) - age
    with app.app_context():
        for i in range(errors + successes):
            failed = i < errors
            db.session.add(AIUsageLog(
                request_id=f"r{age.seconds}-{i}", attempt=1, endpoint="ai-proxy", upstream="deepseek", provider="openai",
                key_label="deepseek#1",
                status="error" if failed else "success", http_status=503 if failed else 200,
                error_code="upstream_unavailable" if failed else None,
                error_message=f"overloaded number {i} " + "x" * 200 if failed else None,
                failed_over=failed, latency_ms=10.0, created_at=now + timedelta(seconds=i)))
        db.session.commit()


@pytest.mark.parametrize("errors, successes, status", [
    (0, 20, "ok"),  # no errors
    (1, 49, "ok"),  # 2 %: below the warning threshold
    (2, 18, "warn"),  # 10 %
    (3, 0, "warn"),  # 100 %, but too few attempts to fail a deployment
    (8, 12, "fail"),  # 40 % of 20
])
def test_errors_of_the_last_hour_against_the_thresholds(providers, errors, successes, status):
    app = providers()
    _rows(app, errors, successes)
    _rows(app, 30, 0, age=timedelta(hours=2))  # older than an hour: not counted
    result, found = verify(app)
    entry = found["errors"]
    assert entry["status"] == status, entry
    attempts = errors + successes
    noun = "error" if errors == 1 else "errors"
    assert entry["reason"].startswith(f"{attempts} attempts, {errors} {noun} ({errors / attempts:.0%}, "
                                      f"{errors} failed over) in the last hour")
    assert result.exit_code == (1 if status == "fail" else 0)
    if errors:
        latest = entry["reason"].split("; latest: ")[1]
        assert latest.count("deepseek upstream_unavailable 503") == min(errors, 3)  # the upstream, by name
        assert f'"overloaded number {errors - 1} xxx' in latest  # newest first, message cut short
        assert "x" * 100 not in latest


def test_no_attempts_in_the_last_hour_is_ok(providers):
    found = verify(providers())[1]["errors"]
    assert found["status"] == "ok" and found["reason"] == "no upstream attempts in the last hour"
