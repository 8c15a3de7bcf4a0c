"""Stored client keys after a run of traffic: is a key ever in clear text in a response, a log line, a command's
output (but the one that issues it), a console page or any database column?"""
from __future__ import annotations

import json
import logging

import openai
import requests
from sqlalchemy import select

from aichat.extensions import db
from aichat.runtime import runtime_of
from tests.admin.conftest import CONSOLE_PAGES, login
from tests.api.test_no_key_leaks import Tap

MESSAGES = [{"role": "user", "content": "hello"}]


def test_no_client_key_in_any_response_log_output_page_or_row(gateway_app, live_server, make_admin, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="aichat")
    app = gateway_app(AICHAT_CONFIG_POLL_INTERVAL=0.05, AICHAT_LOG_LEVEL="DEBUG", AICHAT_ENV="development")
    runner = app.test_cli_runner()
    outputs = []

    def run(*args, input=None):
        result = runner.invoke(args=list(args), input=input)
        assert result.exit_code == 0, result.output
        outputs.append(result.stderr)
        return result

    run("sites", "create", "shop.example.com", "--origin", "https://shop.example.com", "--rpm", "50")
    keys = [run("keys", "create", "--site", "shop.example.com", "--name", name, *extra).stdout.strip()
            for name, extra in (("main", ["--models", "gpt-4o*", "--tpm", "100000"]), ("spare", []))]
    rotated = run("keys", "rotate", keys[1][:17], "--grace", "0").stdout.strip()
    keys.append(rotated)
    tap = Tap(app)
    base = live_server(tap)
    runtime_of(app).tenancy.poll()
    raised = []
    for key in keys:
        sdk = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0, timeout=10)
        for model, stream in (("gpt-4o-mini", False), ("gpt-4o-mini", True), ("gemini-2.5-flash", False)):
            try:
                answer = sdk.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
                if stream:
                    list(answer)
            except openai.APIError as exc:
                raised.append(f"{type(exc).__name__}: {exc} {exc.body}")
        requests.post(base + "/api/v1/ai-proxy/chat", json={"messages": MESSAGES, "suggestions": False},
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)
        requests.get(base + "/api/v1/ai-proxy/stats", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert any("PermissionDeniedError" in r for r in raised), "a model outside the key's was refused"
    assert any("AuthenticationError" in r for r in raised), "the rotated-out key was refused"
    run("keys", "revoke", keys[0][:17], "--no-wait")
    runtime_of(app).tenancy.poll()
    for key in keys:  # a revoked key, an expired (rotated-out) one and a live one, on both surfaces
        for path in ("/v1/chat/completions", "/api/v1/ai-proxy/chat"):
            requests.post(base + path, json={"messages": MESSAGES}, headers={"Authorization": f"Bearer {key}"},
                          timeout=10)
    for command in (("keys", "list"), ("keys", "list", "--json"), ("keys", "show", keys[0][:17], "--json"),
                    ("sites", "show", "shop.example.com", "--json"), ("audit", "list", "--json")):
        outputs.append(run(*command).output)
    make_admin(app)
    with app.test_client() as client:
        login(client)
        pages = [client.get(path).get_data(as_text=True) for path in CONSOLE_PAGES]
        metrics = client.get("/metrics").get_data(as_text=True)
    with app.app_context():
        rows = [json.dumps(dict(row._mapping), default=str) for table in db.metadata.sorted_tables
                for row in db.session.execute(select(table))]
    out = capsys.readouterr()
    sources = {"responses": "\n".join(tap.seen), "SDK exceptions": "\n".join(raised), "commands": "\n".join(outputs),
               "stdout": out.out, "stderr (JSON logs)": out.err, "log records": caplog.text, "console pages": pages,
               "metrics": metrics, "database rows": "\n".join(rows)}
    assert '"logger":"aichat.access"' in out.err and keys[0][:17] in sources["database rows"], "the run was seen"
    assert "was revoked" in sources["responses"] and "expired at" in sources["responses"], "refusals were met"
    leaks = {key[:17]: [name for name, text in sources.items() if key in str(text)] for key in keys}
    assert not any(leaks.values()), f"client keys leaked: {leaks}"
