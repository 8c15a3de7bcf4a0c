"""Chatting with a stored conversation: the context the gateway assembles, the turn it stores when the call ends,
the ids the answer names, the usage rows' link, the refusals, and what a client that leaves mid-stream leaves
behind (`on_disconnect`: stop or finish)."""
from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from aichat.chat import conversations as store
from aichat.chat.context import FRAMING
from aichat.chat.recording import TurnWriter
from aichat.chat.turns import Answer, Turn
from aichat.extensions import db
from aichat.gateway.tokens import estimate_tokens
from aichat.models import ChatMessage, Conversation
from aichat.runtime import runtime_of
from aichat.tenancy import sites
from tests.chat.conftest import BASE, ENCRYPTION_KEY, key_of, make_site, new_session, page, server
from tests.conftest import usage_rows

URL = "/api/v1/ai-proxy/chat"
PROMPT = "You are the shop's assistant."


@pytest.fixture
def app(gateway_app):
    """Sites reloaded when a test polls; the fake OpenAI answers; no suggestions, so upstream gets only the turn."""
    return gateway_app(AICHAT_PROVIDER_ORDER=["openai"], GEMINI_API_KEY=[], AICHAT_CONFIG_POLL_INTERVAL=0,
                       AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY], AICHAT_SUGGESTIONS=False)


def shop_with(app, preset: dict | None = None, **conversations):
    site = make_site(app, "shop.example.com", **conversations)
    if preset:
        with app.app_context():
            sites.update_site(db.session, site.domain, preset=preset)
        runtime_of(app).tenancy.poll()
    return site


def new_conversation(client, me: dict, turns: int = 0) -> str:
    """A conversation of the caller `me` with `turns` stored question-and-answer pairs, oldest first."""
    cid = client.post(BASE, json={}, headers=me).json["id"]
    if turns:
        with client.application.app_context():
            row = db.session.execute(db.select(Conversation).where(Conversation.public_id == cid)).scalar_one()
            for i in range(turns):
                store.add_message(db.session, row, "user", f"question {i} about shoes and socks")
                store.add_message(db.session, row, "assistant", f"answer {i}: the socks go with the shoes")
            db.session.commit()
    return cid


def stored(client, me: dict, cid: str) -> dict:
    """The conversation as its owner reads it, once the turns queued so far are written."""
    assert runtime_of(client.application).turns.flush(10)
    return client.get(f"{BASE}/{cid}", headers=me).json


def events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


# --- the context ----------------------------------------------------------------------------------


def test_the_context_is_the_newest_whole_turns_within_the_budget_with_the_system_prompt_first(app, fake_openai):
    shop = shop_with(app, {"system_prompt": PROMPT, "max_input_tokens": 200})
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me, turns=20)
    answer = client.post(URL, json={"conversation_id": cid, "message": "and the laces?"}, headers=me)
    assert answer.status_code == 200, answer.json
    sent = fake_openai.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": PROMPT}
    assert sent[-1] == {"role": "user", "content": "and the laces?"}
    history = sent[1:-1]
    assert history and history[0]["role"] == "user", "a context starts with a question, never a lone answer"
    assert [m["role"] for m in history] == ["user", "assistant"] * (len(history) // 2)
    assert history[-1]["content"] == "answer 19: the socks go with the shoes", "the newest turn is kept"
    assert "question 0 about shoes and socks" not in [m["content"] for m in history], "the oldest turn is dropped"
    assert sum(estimate_tokens(m["content"]) + FRAMING for m in sent) <= 200
    assert len(history) < 40


def test_a_conversation_without_a_preset_budget_uses_the_gateways_setting(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], AICHAT_CONFIG_POLL_INTERVAL=0,
                      AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY], AICHAT_SUGGESTIONS=False,
                      AICHAT_CONVERSATION_CONTEXT_TOKENS=60)
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me, turns=20)
    assert client.post(URL, json={"conversation_id": cid, "message": "hi"}, headers=me).status_code == 200
    sent = fake_openai.requests[-1].json["messages"]
    assert 1 < len(sent) < 10 and sum(estimate_tokens(m["content"]) + FRAMING for m in sent) <= 60
    too_long = client.post(URL, json={"conversation_id": cid, "message": "word " * 100}, headers=me)
    assert too_long.status_code == 400
    assert too_long.json["error"]["code"] == "context_too_large"
    assert "AICHAT_CONVERSATION_CONTEXT_TOKENS" in too_long.json["error"]["message"]


def test_a_message_alone_over_the_budget_is_refused_naming_the_rule(app, fake_openai):
    shop = shop_with(app, {"system_prompt": PROMPT, "max_input_tokens": 50})
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    for text in ("word " * 60, "word " * 38):  # over the budget alone; over it only with the system prompt
        refused = client.post(URL, json={"conversation_id": cid, "message": text}, headers=me)
        assert refused.status_code == 400, refused.json
        error = refused.json["error"]
        assert error["code"] == "preset_violation" and error["message"].startswith("max_input_tokens")
    assert fake_openai.requests == []
    assert stored(client, me, cid)["messages"] == []


# --- recording --------------------------------------------------------------------------------------


def test_a_json_answer_is_stored_with_its_question_and_names_both_ids(app, fake_openai):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    before = client.get(f"{BASE}/{cid}", headers=me).json
    fake_openai.default = fake_openai.default.replace(text="Blue suede shoes.")
    question = "Which shoes go with a blue suit for a summer wedding by the sea, and which socks with them?"
    answer = client.post(URL, json={"conversation_id": cid, "message": question}, headers=me)
    assert answer.status_code == 200
    body = answer.json
    assert body["content"] == "Blue suede shoes." and body["conversation_id"] == cid
    after = stored(client, me, cid)
    assert [(m["role"], m["content"], m["status"]) for m in after["messages"]] == [
        ("user", question, "complete"), ("assistant", "Blue suede shoes.", "complete")]
    assert after["messages"][1]["id"] == body["message_id"]
    assert after["message_count"] == 2 and after["updated_at"] > before["updated_at"]
    assert after["title"] == question[:60], "an untitled conversation takes its first message's start"
    with app.app_context():
        request_ids = set(db.session.execute(db.select(ChatMessage.request_id)).scalars())
    assert request_ids == {answer.headers["X-Request-ID"]}
    (row,) = usage_rows(app, at_least=1)
    assert row["conversation_id"] == cid and row["request_id"] == answer.headers["X-Request-ID"]

    again = client.post(URL, json={"conversation_id": cid, "message": "And a tie?"}, headers=me)
    assert stored(client, me, cid)["title"] == question[:60], "a title is kept"
    sent = fake_openai.requests[-1].json["messages"]
    assert [m["content"] for m in sent] == [question, "Blue suede shoes.", "And a tie?"]
    assert again.json["message_id"] != body["message_id"]


def test_a_stream_is_stored_and_its_done_event_names_both_ids(app, fake_openai):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me, turns=1)
    fake_openai.default = fake_openai.default.replace(text="one two three four")
    with client.post(URL, json={"conversation_id": cid, "message": "count", "stream": True}, headers=me) as resp:
        frames = events(resp.get_data(as_text=True))
    assert [name for name, _ in frames][-1] == "done"
    done = frames[-1][1]
    assert "".join(data["content"] for name, data in frames if name == "delta") == "one two three four"
    messages = stored(client, me, cid)["messages"]
    assert [(m["role"], m["content"], m["status"]) for m in messages[-2:]] == [
        ("user", "count", "complete"), ("assistant", "one two three four", "complete")]
    assert (done["conversation_id"], done["message_id"]) == (cid, messages[-1]["id"])
    assert usage_rows(app, at_least=1)[0]["conversation_id"] == cid


def test_a_call_without_a_conversation_is_answered_as_before(app, fake_openai):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    answer = client.post(URL, json={"messages": [{"role": "user", "content": "hi"}]}, headers=me)
    assert answer.status_code == 200 and "conversation_id" not in answer.json and "message_id" not in answer.json
    assert usage_rows(app, at_least=1)[0]["conversation_id"] is None


def test_nothing_is_stored_when_upstream_fails_before_any_text(app, fake_openai):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    fake_openai.default = fake_openai.default.replace(error="server_error")
    assert client.post(URL, json={"conversation_id": cid, "message": "hello?"}, headers=me).status_code >= 500
    with client.post(URL, json={"conversation_id": cid, "message": "hello?", "stream": True}, headers=me) as resp:
        resp.get_data()
    assert resp.status_code >= 500
    after = stored(client, me, cid)
    assert after["messages"] == [] and after["message_count"] == 0 and after["title"] == ""
    assert {row["conversation_id"] for row in usage_rows(app, at_least=2)} == {cid}


def test_a_stream_that_breaks_after_some_text_is_stored_partial(app, fake_openai):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    fake_openai.plan(text="alpha beta gamma delta epsilon zeta", break_after=3)
    with client.post(URL, json={"conversation_id": cid, "message": "go", "stream": True}, headers=me) as resp:
        frames = events(resp.get_data(as_text=True))
    assert frames[-1][0] == "error"
    (question, answer) = stored(client, me, cid)["messages"]
    assert question["content"] == "go" and answer["status"] == "partial"
    assert answer["content"] == "".join(data["content"] for name, data in frames if name == "delta") != ""


def test_a_sites_backend_continues_a_users_conversation_with_its_client_key(app, fake_openai):
    shop = shop_with(app, {"system_prompt": PROMPT})
    client, backend = app.test_client(), server(key_of(app, shop), "u-7")
    cid = new_conversation(client, backend, turns=2)
    answer = client.post(URL, json={"conversation_id": cid, "message": "hi"}, headers=backend)
    assert answer.status_code == 200 and answer.json["conversation_id"] == cid
    assert fake_openai.requests[-1].json["messages"][-1] == {"role": "user", "content": "hi"}
    assert stored(client, backend, cid)["message_count"] == 6


# --- refusals -----------------------------------------------------------------------------------------


def test_refusals_name_what_is_wrong_and_send_nothing_upstream(app, fake_openai):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me, turns=1)
    someone = page(shop, session=new_session())
    cases = [
        (someone, {"conversation_id": cid, "message": "hi"}, 404, "conversation_not_found", None),
        (me, {"conversation_id": "c_" + "x" * 22, "message": "hi"}, 404, "conversation_not_found", None),
        (me, {"conversation_id": "nope", "message": "hi"}, 404, "conversation_not_found", None),
        (page(shop), {"conversation_id": cid, "message": "hi"}, 401, "session_required", None),
        (me, {"conversation_id": cid, "message": "hi", "messages": [{"role": "user", "content": "hi"}]}, 400,
         "messages_not_allowed", "messages"),
        (me, {"conversation_id": cid}, 400, "missing_message", "message"),
        (me, {"conversation_id": cid, "message": "  "}, 400, "invalid_message", "message"),
        (me, {"conversation_id": cid, "message": 7}, 400, "invalid_message", "message"),
        (me, {"conversation_id": None, "message": "hi"}, 400, "invalid_conversation_id", "conversation_id"),
        (server(key_of(app, shop), "u-1"), {"conversation_id": cid, "message": "hi"}, 404, "conversation_not_found",
         None),
    ]
    for headers, body, status, code, param in cases:
        refused = client.post(URL, json=body, headers=headers)
        assert (refused.status_code, refused.json["error"]["code"]) == (status, code), (body, refused.json)
        if param:
            assert f"'{param}'" in refused.json["error"]["message"], "the message names the field"
    key_only = client.post(URL, json={"conversation_id": cid, "message": "hi"},
                           headers={"Authorization": f"Bearer {key_of(app, shop)}"})
    assert (key_only.status_code, key_only.json["error"]["code"]) == (400, "end_user_required")
    assert fake_openai.requests == []
    assert stored(client, me, cid)["message_count"] == 2


# --- a client that leaves mid-stream -------------------------------------------------------------------


def leave_after(base: str, deltas: int, body: dict, headers: dict) -> None:
    """Open a stream over a raw socket, read `deltas` delta events, then hang up."""
    payload = json.dumps(body).encode()
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}"
                 f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    seen = b""
    while seen.count(b"event: delta") < deltas:
        seen += sock.recv(4096)
    sock.close()


WORDS = " ".join(f"w{i}" for i in range(60))


def wait_for_messages(client, me, cid, count: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        messages = stored(client, me, cid)["messages"]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def test_with_stop_a_client_that_leaves_ends_the_upstream_call_and_the_answer_is_partial(app, fake_openai,
                                                                                          live_server):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    base = live_server(app)
    fake_openai.plan(text=WORDS, chunk_interval=0.05)
    leave_after(base, 3, {"conversation_id": cid, "message": "go on", "stream": True}, me)
    assert fake_openai.wait_for_disconnect(timeout=5), "upstream kept generating for nobody"
    question, answer = wait_for_messages(client, me, cid, 2)
    assert question["content"] == "go on" and answer["status"] == "partial"
    assert answer["content"] and len(answer["content"]) < len(WORDS)
    (row,) = usage_rows(app, at_least=1)
    assert row["status"] == "cancelled" and row["conversation_id"] == cid


def test_with_finish_the_answer_is_read_to_its_end_and_stored_complete(app, fake_openai, live_server):
    shop = shop_with(app, on_disconnect="finish")
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    base = live_server(app)
    fake_openai.plan(text=WORDS, chunk_interval=0.02)
    leave_after(base, 3, {"conversation_id": cid, "message": "go on", "stream": True}, me)
    assert fake_openai.wait_for_streams_ended(timeout=10)
    stream = fake_openai.streams[-1]
    assert stream.completed and not stream.client_disconnected, "the gateway read the answer to its end"
    question, answer = wait_for_messages(client, me, cid, 2)
    assert (answer["content"], answer["status"]) == (WORDS, "complete")
    (row,) = usage_rows(app, at_least=1)
    assert row["status"] == "success" and row["conversation_id"] == cid, "billed once, as the whole answer"


def test_finish_applies_only_to_a_conversations_stream(app, fake_openai, live_server):
    shop = shop_with(app, on_disconnect="finish")
    me = page(shop, session=new_session())
    base = live_server(app)
    fake_openai.plan(text=WORDS, chunk_interval=0.05)
    leave_after(base, 3, {"messages": [{"role": "user", "content": "go"}], "stream": True}, me)
    assert fake_openai.wait_for_disconnect(timeout=5), "a call without a conversation stops as before"


# --- the writer -------------------------------------------------------------------------------------------


def _answer(request_id: str = "req-1") -> Answer:
    from datetime import datetime, timezone

    return Answer(Turn(1, "c_" + "a" * 22, "q", request_id), "a", "complete", datetime.now(timezone.utc))


def test_a_write_that_fails_once_is_retried_and_one_that_keeps_failing_is_logged_and_counted(caplog):
    written, tallies, failures = [], [], {"req-1": 1, "req-2": 99}

    def write(answer):
        if failures.get(answer.turn.request_id, 0) > 0:
            failures[answer.turn.request_id] -= 1
            raise ConnectionError("database away")
        written.append(answer.turn.request_id)
        return True

    writer = TurnWriter(write, tally=lambda outcome, count: tallies.append((outcome, count)), retry_delay=0.01)
    with caplog.at_level(logging.WARNING, logger="aichat.chat.recording"):
        writer.submit(_answer("req-1"))
        writer.submit(_answer("req-2"))
        assert writer.flush(10)
    writer.close()
    assert written == ["req-1"]
    assert tallies == [("written", 1), ("lost", 1)]
    assert any(r.levelno == logging.ERROR and "req-2" in r.getMessage() and "lost" in r.getMessage()
               for r in caplog.records)
    assert all("q" != r.getMessage() for r in caplog.records)


def test_a_failing_write_never_fails_the_request(app, fake_openai, caplog):
    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    writer = runtime_of(app).turns

    def broken(answer):
        raise RuntimeError("the database refuses")

    writer._write_one, writer._retry_delay = broken, 0.01
    with caplog.at_level(logging.ERROR, logger="aichat.chat.recording"):
        answer = client.post(URL, json={"conversation_id": cid, "message": "hi"}, headers=me)
        assert answer.status_code == 200 and answer.json["message_id"]
        assert writer.flush(10)
    assert any("lost" in r.getMessage() for r in caplog.records)
    assert client.get(f"{BASE}/{cid}", headers=me).json["messages"] == []


def test_a_finishing_answer_still_ends_at_the_stop_deadline_and_is_stored_partial(gateway_app, fake_openai,
                                                                                   live_server):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], GEMINI_API_KEY=[], AICHAT_CONFIG_POLL_INTERVAL=0,
                      AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY], AICHAT_SUGGESTIONS=False, AICHAT_STOP_DEADLINE=0.3)
    shop = shop_with(app, on_disconnect="finish")
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    base = live_server(app)
    fake_openai.plan(text=" ".join(["token"] * 400), chunk_interval=0.02)  # 8 s: far past the deadline
    leave_after(base, 3, {"conversation_id": cid, "message": "go on", "stream": True}, me)
    runtime_of(app).lifecycle.begin_drain()  # SIGTERM: a stopping worker must not wait for the whole answer
    assert fake_openai.wait_for_disconnect(timeout=3), "the answer was not ended at the stop deadline"
    question, answer = wait_for_messages(client, me, cid, 2)
    assert answer["status"] == "partial" and answer["content"].startswith("token")
    (row,) = usage_rows(app, at_least=1)
    assert (row["status"], row["error_code"], row["conversation_id"]) == ("error", "server_shutting_down", cid)


def test_a_turn_written_twice_is_stored_once_and_a_removed_conversation_takes_none(app):
    """A retried write whose first commit landed (the answer's id is taken) adds nothing and counts nothing."""
    from datetime import datetime, timezone

    from aichat.chat.turns import store as store_turn

    shop = shop_with(app)
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    with app.app_context():
        row_id = db.session.execute(db.select(Conversation.id).where(Conversation.public_id == cid)).scalar_one()
        answer = Answer(Turn(row_id, cid, "Twice?", "req-twice"), "Once.", "complete", datetime.now(timezone.utc))
        assert store_turn(db.session, answer) and store_turn(db.session, answer)
    after = stored(client, me, cid)
    assert [m["content"] for m in after["messages"]] == ["Twice?", "Once."] and after["message_count"] == 2
    assert client.delete(f"{BASE}/{cid}", headers=me).status_code == 204
    with app.app_context():
        gone = Answer(Turn(row_id, cid, "Still there?", "req-gone"), "No.", "complete", datetime.now(timezone.utc))
        assert store_turn(db.session, gone) is False
        assert db.session.execute(db.select(db.func.count()).select_from(ChatMessage)).scalar() == 0


def test_finish_under_gunicorns_gevent_worker(app, fake_openai, serve_gunicorn):
    """The production server: a client that hangs up mid-answer on a `finish` site still gets it stored whole."""
    shop = shop_with(app, on_disconnect="finish")
    client, me = app.test_client(), page(shop, session=new_session())
    cid = new_conversation(client, me)
    server = serve_gunicorn(AICHAT_ENCRYPTION_KEY=ENCRYPTION_KEY)
    fake_openai.plan(text=WORDS, chunk_interval=0.02)
    leave_after(server.base, 3, {"conversation_id": cid, "message": "go on", "stream": True}, me)
    assert fake_openai.wait_for_streams_ended(timeout=15)
    stream = fake_openai.streams[-1]
    assert stream.completed and not stream.client_disconnected, "the gevent worker read the answer to its end"
    question, answer = wait_for_messages(client, me, cid, 2, timeout=15)
    assert (question["content"], answer["content"], answer["status"]) == ("go on", WORDS, "complete")
