"""No prompt or answer text in the usage tables: after chats of every kind carrying a marker, no row of any table
holds it, nor does a usage export or an access log line."""
from __future__ import annotations

import json

from sqlalchemy import inspect, select

from aichat.extensions import db
from aichat.runtime import runtime_of
from tests.conftest import CLIENT_KEY, usage_rows

PROMPT_MARKER = "zebra-quartz-prompt-4711"
ANSWER_MARKER = "ocelot-basalt-answer-0815"
KEY = {"Authorization": f"Bearer {CLIENT_KEY}"}


def every_stored_value(app) -> list[tuple[str, str, str]]:
    """(table, column, text) for every non-null value of every table of the app's database."""
    found = []
    with app.app_context():
        tables = inspect(db.engine).get_table_names()
        assert "ai_usage_log" in tables and "ai_usage_stats" in tables
        for name in tables:
            table = db.Table(name, db.MetaData(), autoload_with=db.engine)
            for row in db.session.execute(select(table)).mappings():
                found += [(name, column, str(value)) for column, value in row.items() if value is not None]
    return found


def test_prompts_and_answers_are_never_stored_in_usage(gateway_app, fake_openai, capsys):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"])
    client = app.test_client()
    fake_openai.default = fake_openai.default.replace(text=f"the answer is {ANSWER_MARKER} indeed")
    messages = [{"role": "system", "content": f"system {PROMPT_MARKER}"},
                {"role": "user", "content": f"tell me about {PROMPT_MARKER}"}]
    calls = [("/api/v1/ai-proxy/chat", {"messages": messages}),
             ("/api/v1/ai-proxy/chat", {"messages": messages, "stream": True}),
             ("/v1/chat/completions", {"messages": messages, "model": "gpt-4o-mini"}),
             ("/v1/chat/completions", {"messages": messages, "model": "gpt-4o-mini", "stream": True,
                                       "stream_options": {"include_usage": True}})]
    for path, body in calls:
        with client.post(path, json=body, headers=KEY) as resp:
            text = resp.get_data(as_text=True)
        assert resp.status_code == 200 and ANSWER_MARKER in text, "the chats did carry the marker"
    fake_openai.plan(error="server_error")  # a failed attempt, then the failover's answer: an error row too
    assert client.post("/v1/chat/completions", json=calls[2][1], headers=KEY).status_code in (200, 502)
    # Refused by validation: no row, and nothing of the body anywhere.
    assert client.post("/v1/chat/completions", json={"messages": messages, "temperature": 9},
                       headers=KEY).status_code == 400
    rows = usage_rows(app, at_least=5)
    assert len(rows) >= 5 and any(row["status"] != "success" for row in rows)
    assert app.test_cli_runner().invoke(args=["usage", "rollup", "--all"]).exit_code == 0
    with app.app_context():
        assert db.session.execute(db.text("SELECT COUNT(*) FROM ai_usage_stats")).scalar() > 0
    stored = every_stored_value(app)
    leaks = [(table, column) for table, column, value in stored
             if PROMPT_MARKER in value or ANSWER_MARKER in value]
    assert leaks == []
    day = rows[-1]["created_at"].date().isoformat()
    export = client.get(f"/api/v1/ai-monitoring/export/logs.csv?from={day}&to={day}")
    assert export.status_code == 401  # admins only; the CLI writes the same CSV
    csv = app.test_cli_runner().invoke(args=["usage", "export", "logs", "--from", day, "--to", day])
    assert csv.exit_code == 0 and "request_id" in csv.stdout
    assert PROMPT_MARKER not in csv.stdout and ANSWER_MARKER not in csv.stdout
    log = capsys.readouterr().err
    assert [json.loads(line)["path"] for line in log.splitlines() if '"aichat.access"' in line], "lines were logged"
    assert PROMPT_MARKER not in log and ANSWER_MARKER not in log


def test_a_conversations_text_is_stored_only_in_its_messages(gateway_app, fake_openai, capsys):
    from tests.chat.conftest import ENCRYPTION_KEY, make_site, new_session, page

    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], AICHAT_CONFIG_POLL_INTERVAL=0,
                      AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY])
    client = app.test_client()
    me = page(make_site(app, "shop.example.com"), session=new_session())
    cid = client.post("/api/v1/conversations", json={}, headers=me).json["id"]
    fake_openai.default = fake_openai.default.replace(text=f"the answer is {ANSWER_MARKER} indeed")
    for stream in (False, True):
        with client.post("/api/v1/ai-proxy/chat", json={"conversation_id": cid, "stream": stream,
                                                        "message": f"tell me about {PROMPT_MARKER}"},
                         headers=me) as resp:
            assert resp.status_code == 200 and ANSWER_MARKER in resp.get_data(as_text=True)
    assert runtime_of(app).turns.flush(10)
    rows = usage_rows(app, at_least=2)
    assert {row["conversation_id"] for row in rows} == {cid}
    assert app.test_cli_runner().invoke(args=["usage", "rollup", "--all"]).exit_code == 0
    holding = {table for table, _, value in every_stored_value(app) if PROMPT_MARKER in value or ANSWER_MARKER in value}
    assert holding == {"chat_message", "conversation"}, "the messages and the title taken from the first one"
    day = rows[-1]["created_at"].date().isoformat()
    csv = app.test_cli_runner().invoke(args=["usage", "export", "logs", "--from", day, "--to", day])
    assert csv.exit_code == 0 and cid in csv.stdout
    assert PROMPT_MARKER not in csv.stdout and ANSWER_MARKER not in csv.stdout
    log = capsys.readouterr().err
    assert PROMPT_MARKER not in log and ANSWER_MARKER not in log
