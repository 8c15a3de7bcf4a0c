"""What continuing a stored conversation costs per chat request: `python bench/conversations.py [-n 2000]`.

Whole JSON requests on /api/v1/ai-proxy/chat through the app (the demo responder, Flask's test client, no
network, SQLite in a temporary folder), from a page naming its anonymous session:
- the new message alone, as `messages` (the floor);
- the new message and a conversation of 20 turns, all sent as `messages` (what a page keeping its own history
  sends for the same context);
- `conversation_id` and the new message: the conversation of 20 stored turns is read, the context assembled
  within the budget, and the turn stored when the call ends (by the turn writer's thread).
CPU of the request's thread per request, and of the whole process (the usage and turn writers' threads
included) per request. Medians of several rounds, interleaved; run it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aichat.chat.context import FRAMING  # noqa: E402
from aichat.gateway.tokens import estimate_tokens  # noqa: E402

TURNS = 20
SESSION = "bench-session-0123456789abcdef-xyz"
QUESTION = "Which of your rain jackets is lightest, and does it come in blue?"
ANSWER = "The Featherlight weighs 180 g and comes in navy, sky blue and black; all sizes are in stock."
HEADERS = {"X-AIChat-Session": SESSION}


def history() -> list[dict]:
    turns = []
    for i in range(TURNS):
        turns += [{"role": "user", "content": f"{i}: {QUESTION}"}, {"role": "assistant", "content": f"{i}: {ANSWER}"}]
    return turns


def budget() -> int:
    """Tokens that hold the 20 turns and the new message, and not one turn more."""
    return sum(estimate_tokens(m["content"]) + FRAMING for m in history()) + estimate_tokens(QUESTION) + FRAMING


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from aichat import create_app
    from aichat.extensions import db
    from aichat.runtime import runtime_of

    print(f"whole JSON requests on /api/v1/ai-proxy/chat (demo responder, test client), {TURNS} turns of context:")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "OPENAI_API_KEY": [], "GEMINI_API_KEY": [],
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "AICHAT_CONFIG_POLL_INTERVAL": 0,
                          "AICHAT_ACCESS_LOG": False, "AICHAT_RATE_LIMIT": "off", "AICHAT_SUGGESTIONS": False,
                          "RATELIMIT_STORAGE_URI": "memory://", "AICHAT_USAGE_SPOOL_DIR": f"{tmp}/spool",
                          "AICHAT_ROLLUP_INTERVAL": 0, "AICHAT_CONVERSATION_CONTEXT_TOKENS": budget()})
        with app.app_context():
            upgrade()
        runtime_of(app).tenancy.poll()
        client = app.test_client()

        def seeded(n: int) -> list[dict]:
            """Bodies continuing `n` new conversations of TURNS stored turns each: every request meets 20 turns."""
            from aichat.chat import conversations as store
            from aichat.models import ChatMessage, Conversation

            ids = [client.post("/api/v1/conversations", json={}, headers=HEADERS).json["id"] for _ in range(n)]
            with app.app_context():
                bodies = []
                for cid in ids:
                    row = db.session.execute(db.select(Conversation).where(Conversation.public_id == cid)).scalar_one()
                    db.session.add_all(ChatMessage(public_id=store.new_id("m_"), conversation_id=row.id, role=m["role"],
                                                   content=m["content"], status="complete") for m in history())
                    row.message_count = 2 * TURNS
                    bodies.append({"conversation_id": cid, "message": QUESTION})
                db.session.commit()
            return bodies

        new = {"role": "user", "content": QUESTION}
        variants = [
            ("new message alone, as messages (the floor)", lambda n: [{"messages": [new]}] * n),
            (f"{TURNS} turns + new message, as messages", lambda n: [{"messages": [*history(), new]}] * n),
            (f"conversation_id ({TURNS} stored turns) + message", seeded),
        ]

        def one_round(bodies: list[dict]) -> tuple[float, float]:
            n = len(bodies)
            thread, process = time.thread_time(), time.process_time()
            for body in bodies:
                answer = client.post("/api/v1/ai-proxy/chat", json=body, headers=HEADERS)
                assert answer.status_code == 200, answer.get_data(as_text=True)
            # The writers' work for this round belongs to it: wait for it before reading the process clock.
            assert runtime_of(app).turns.flush(60) and runtime_of(app).recorder.flush(60)
            return (time.thread_time() - thread) / n * 1e6, (time.process_time() - process) / n * 1e6

        for _, make in variants:
            one_round(make(50))  # warm
        results: list[list[tuple[float, float]]] = [[] for _ in variants]
        # Rounds interleaved across the variants, so a busy moment of the machine touches them all alike.
        for _ in range(args.rounds):
            for i, (_, make) in enumerate(variants):
                results[i].append(one_round(make(max(1, args.n // 8))))
        floor = statistics.median(r[0] for r in results[0])
        print(f"  {'':52s} {'request thread':>22s} {'whole process':>16s}")
        for (name, _), found in zip(variants, results):
            thread = statistics.median(r[0] for r in found)
            process = statistics.median(r[1] for r in found)
            print(f"  {name:52s} {thread:7.1f} µs CPU ({thread - floor:+7.1f}) {process:9.1f} µs CPU")
        runtime_of(app).turns.close()
        runtime_of(app).recorder.close()


if __name__ == "__main__":
    main()
