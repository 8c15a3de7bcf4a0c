"""Every usage row carries its cost, computed when written, exactly once per attempt however a call ended.

Expectations are computed here from the tokens the fake upstreams report and from the price in
the database (seeded by the migration, or set by the test), never copied from the code under test.
"""
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete

from aichat.extensions import db
from aichat.gateway.pricing import Price
from aichat.gateway.tokens import estimate_tokens, estimate_usage
from aichat.models import ModelPrice
from aichat.providers.base import Message
from aichat.usage import prices as prices_mod
from aichat.usage.costing import load_price_book, price_rows
from tests.conftest import CLIENT_KEY, GEMINI_KEYS, usage_rows
from tests.tokenizer import install_cl100k, reference_cl100k
from tests.usage.test_recording import client_leaves_after

URL = "/api/v1/ai-proxy/chat"
PROMPT = " ".join(f"w{i}" for i in range(300))  # 300 tokens to the fakes (one per word)
BODY = {"messages": [{"role": "user", "content": PROMPT}], "suggestions": False}
MILLION = Decimal(1_000_000)


@pytest.fixture
def rule_dir(tmp_path):
    """An empty TIKTOKEN_CACHE_DIR: estimates use the documented rule."""
    return str(tmp_path / "no-encodings")


def price_of(app, model: str, prompt_tokens: int, at: datetime | None = None) -> Price:
    with app.app_context():
        price = load_price_book().price_for(model, at or datetime.now(timezone.utc), prompt_tokens)
    assert price is not None, f"no price for {model}"
    return price


def bill(price: Price, row: dict) -> Decimal:
    """The provider's formula: uncached input, cached input at its rate, completion (reasoning included) as output."""
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    return ((row["prompt_tokens"] - row["cached_tokens"]) * price.input_per_mtok
            + row["cached_tokens"] * cached_rate + row["completion_tokens"] * price.output_per_mtok) / MILLION


def assert_billed(app, row: dict, model: str) -> Price:
    price = price_of(app, model, row["prompt_tokens"])
    assert isinstance(row["cost"], Decimal)
    assert row["cost"] == bill(price, row) and row["currency"] == price.currency
    assert row["cost"] > 0
    return price


def call(app, stream: bool = False, **extra):
    resp = app.test_client().post(URL, json={**BODY, "stream": stream, **extra})
    return resp, resp.get_data(as_text=True)


# --- OpenAI ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_cached_and_reasoning_tokens_are_billed_at_their_rates(gateway_app, fake_openai, rule_dir, stream):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    fake_openai.plan(text="one two three", cached_tokens=256, reasoning_tokens=40, model="gpt-4o-mini-2024-07-18")
    resp, _ = call(app, stream, model="gpt-4o-mini")
    assert resp.status_code == 200
    (row,) = usage_rows(app)
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"], row["reasoning_tokens"]) == (
        300, 256, 3 + 40, 40)
    assert row["usage_source"] == "provider" and row["model_served"] == "gpt-4o-mini-2024-07-18"
    price = assert_billed(app, row, "gpt-4o-mini")
    assert price.model == "gpt-4o-mini" and price.cached_input_per_mtok < price.input_per_mtok


def test_usage_on_a_chunk_with_choices_is_billed_once(gateway_app, fake_openai, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    fake_openai.plan(text="alpha beta", usage_on_choice_chunk=True)
    call(app, True, model="gpt-4o-mini")
    (row,) = usage_rows(app)
    assert row["usage_source"] == "provider" and (row["prompt_tokens"], row["completion_tokens"]) == (300, 2)
    assert_billed(app, row, "gpt-4o-mini")


def test_a_stream_without_usage_is_billed_on_the_estimate_of_what_was_delivered(gateway_app, fake_openai, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    text = "one two three four five six seven eight"
    fake_openai.plan(text=text, usage=False)
    call(app, True, model="gpt-4o-mini")
    (row,) = usage_rows(app)
    estimate = estimate_usage([Message("user", PROMPT)], text)
    assert row["usage_source"] == "estimated"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (estimate.prompt_tokens, estimate.completion_tokens)
    assert_billed(app, row, "gpt-4o-mini")


def test_an_upstream_break_bills_the_delivered_part_and_never_the_error_text(gateway_app, fake_openai, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    fake_openai.plan(text=" ".join(["word"] * 40), break_after=4)
    resp, body = call(app, True, model="gpt-4o-mini")
    assert "event: error" in body
    (row,) = usage_rows(app)
    assert row["status"] == "error" and row["usage_source"] == "estimated"
    assert row["completion_tokens"] == estimate_tokens("word word word word")
    assert row["prompt_tokens"] == estimate_usage([Message("user", PROMPT)], "").prompt_tokens
    assert_billed(app, row, "gpt-4o-mini")


def test_a_client_that_leaves_is_billed_once_for_what_was_sent(gateway_app, fake_openai, live_server, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    base = live_server(app)
    fake_openai.plan(text=" ".join(["token"] * 200), chunk_interval=0.05)
    client_leaves_after(base, 3, {**BODY, "stream": True, "model": "gpt-4o-mini"})
    assert fake_openai.wait_for_disconnect(timeout=3)
    rows = usage_rows(app, at_least=1)
    assert len(rows) == 1
    (row,) = rows
    assert row["status"] == "cancelled" and row["usage_source"] == "estimated"
    assert 0 < row["completion_tokens"] < estimate_tokens(" ".join(["token"] * 200))
    assert_billed(app, row, "gpt-4o-mini")


def test_v1_json_call_is_billed(gateway_app, fake_openai, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    fake_openai.plan(text="fine thanks", cached_tokens=100)
    resp = app.test_client().post("/v1/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                                  json={"model": "gpt-4o-mini", "messages": BODY["messages"]})
    assert resp.status_code == 200
    (row,) = usage_rows(app)
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"]) == (300, 100, 2)
    assert_billed(app, row, "gpt-4o-mini")


# --- tiktoken estimates ---------------------------------------------------------------


def test_a_gpt_4_stream_without_usage_is_counted_by_tiktoken_and_billed(gateway_app, fake_openai, tmp_path,
                                                                        monkeypatch):
    install_cl100k(tmp_path)
    reference = reference_cl100k(monkeypatch)
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=str(tmp_path))
    text = "Tokenizers split naïve words, numbers like 1234567 and 你好 differently."
    fake_openai.plan(text=text, usage=False)
    resp, body = call(app, True, model="gpt-4")
    assert resp.status_code == 200
    (row,) = usage_rows(app)
    assert row["usage_source"] == "estimated" and row["model_served"] == "gpt-4"
    assert row["completion_tokens"] == len(reference.encode(text))
    assert row["prompt_tokens"] == 3 + 3 + len(reference.encode("user")) + len(reference.encode(PROMPT))
    assert_billed(app, row, "gpt-4")


# --- Gemini ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_gemini_thoughts_are_billed_as_output_and_cached_at_the_cached_rate(gateway_app, fake_gemini, rule_dir,
                                                                          stream):
    app = gateway_app(TIKTOKEN_CACHE_DIR=rule_dir)
    fake_gemini.plan(text="short answer here", thoughts_tokens=700, cached_tokens=128)
    resp, _ = call(app, stream, model="gemini-2.5-flash")
    assert resp.status_code == 200
    (row,) = usage_rows(app)
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"], row["reasoning_tokens"]) == (
        300, 128, 3 + 700, 700)
    assert row["total_tokens"] == 300 + 3 + 700  # Gemini's totalTokenCount counts the thoughts too
    assert_billed(app, row, "gemini-2.5-flash")


@pytest.mark.parametrize("prompt_tokens,tier", [(200_000, 0), (200_001, 200_000)])
def test_gemini_25_pro_long_prompts_are_billed_at_the_higher_tier(gateway_app, fake_gemini, rule_dir,
                                                                  prompt_tokens, tier):
    app = gateway_app(TIKTOKEN_CACHE_DIR=rule_dir)
    fake_gemini.plan(text="ok", cached_tokens=10_000, usage={"promptTokenCount": prompt_tokens,
                                                             "totalTokenCount": prompt_tokens + 1})
    call(app, model="gemini-2.5-pro")
    (row,) = usage_rows(app)
    assert row["prompt_tokens"] == prompt_tokens
    price = assert_billed(app, row, "gemini-2.5-pro")
    assert price.above_prompt_tokens == tier


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_gemini_call_without_usage_is_estimated_and_billed(gateway_app, fake_gemini, rule_dir, stream):
    app = gateway_app(TIKTOKEN_CACHE_DIR=rule_dir)
    fake_gemini.plan(text="uno dos tres cuatro", usage=False)
    call(app, stream, model="gemini-2.5-flash")
    (row,) = usage_rows(app)
    estimate = estimate_usage([Message("user", PROMPT)], "uno dos tres cuatro")
    assert row["usage_source"] == "estimated"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (estimate.prompt_tokens, estimate.completion_tokens)
    assert_billed(app, row, "gemini-2.5-flash")


def test_a_broken_gemini_stream_bills_only_what_was_delivered(gateway_app, fake_gemini, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["gemini"], TIKTOKEN_CACHE_DIR=rule_dir)
    fake_gemini.plan(text=" ".join(["palabra"] * 30), break_after=3)
    resp, body = call(app, True, model="gemini-2.5-flash")
    assert "event: error" in body
    (row,) = usage_rows(app)
    assert row["status"] == "error" and row["usage_source"] == "estimated"
    assert row["completion_tokens"] == estimate_tokens("palabra palabra palabra")
    assert_billed(app, row, "gemini-2.5-flash")


def test_a_client_that_leaves_a_gemini_stream_is_billed_once(gateway_app, fake_gemini, live_server, rule_dir):
    app = gateway_app(TIKTOKEN_CACHE_DIR=rule_dir)
    base = live_server(app)
    fake_gemini.plan(text=" ".join(["token"] * 200), chunk_interval=0.05)
    client_leaves_after(base, 3, {**BODY, "stream": True, "model": "gemini-2.5-flash"})
    assert fake_gemini.wait_for_disconnect(timeout=3)
    rows = usage_rows(app, at_least=1)
    assert len(rows) == 1 and rows[0]["status"] == "cancelled" and rows[0]["usage_source"] == "estimated"
    assert_billed(app, rows[0], "gemini-2.5-flash")


# --- failover, unpriced, history -------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_failed_attempt_costs_zero_and_the_answer_is_billed(gateway_app, fake_gemini, rule_dir, stream):
    app = gateway_app(TIKTOKEN_CACHE_DIR=rule_dir)
    fake_gemini.plan(key=GEMINI_KEYS[0], status=500)
    call(app, stream, model="gemini-2.5-flash")
    failed, answered = usage_rows(app)
    assert failed["status"] == "error" and failed["failed_over"]
    assert (failed["prompt_tokens"], failed["completion_tokens"]) == (0, 0)
    assert failed["cost"] == Decimal(0) and failed["currency"] == "USD"
    assert answered["status"] == "success"
    assert_billed(app, answered, "gemini-2.5-flash")


def test_a_model_without_a_price_is_recorded_unpriced(gateway_app, fake_openai, rule_dir):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir)
    fake_openai.plan(text="x y", model="my-fine-tune-without-a-price")
    call(app, model="gpt-4o-mini")
    (row,) = usage_rows(app)
    assert row["completion_tokens"] == 2 and row["cost"] is None and row["currency"] is None


@pytest.fixture
def test_model():
    """A model name of this test's own; its price rows are removed afterwards (model_price is shared)."""
    name = f"test-model-{uuid.uuid4().hex[:8]}"
    apps = []
    yield name, apps.append
    for app in apps:
        with app.app_context():
            db.session.execute(delete(ModelPrice).where(ModelPrice.model == name))
            db.session.commit()


def test_a_price_change_applies_to_new_rows_and_never_rewrites_old_ones(gateway_app, fake_openai, rule_dir,
                                                                         test_model):
    model, cleanup = test_model
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir, AICHAT_PRICE_REFRESH=0)
    cleanup(app)
    today = datetime.now(timezone.utc).date()
    with app.app_context():
        prices_mod.save([prices_mod.parse_price({"model": model, "input_per_mtok": "3", "output_per_mtok": "7",
                                                 "valid_from": str(today - timedelta(days=30))})])
    fake_openai.plan(text="a b c", model=model)
    call(app, model="gpt-4o-mini")
    (first,) = usage_rows(app)
    assert first["cost"] == (300 * Decimal(3) + 3 * Decimal(7)) / MILLION
    with app.app_context():
        prices_mod.save([prices_mod.parse_price({"model": model, "input_per_mtok": "5", "output_per_mtok": "11",
                                                 "valid_from": str(today)})])
    fake_openai.plan(text="a b c", model=model)
    call(app, model="gpt-4o-mini")
    first_again, second = usage_rows(app, at_least=2)
    assert second["cost"] == (300 * Decimal(5) + 3 * Decimal(11)) / MILLION
    assert first_again["cost"] == first["cost"], "a written row is never priced again"


def test_prices_are_cached_for_the_refresh_interval(gateway_app, fake_openai, rule_dir, test_model):
    model, cleanup = test_model
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], TIKTOKEN_CACHE_DIR=rule_dir, AICHAT_PRICE_REFRESH=3600)
    cleanup(app)
    with app.app_context():
        prices_mod.save([prices_mod.parse_price({"model": model, "input_per_mtok": "1", "output_per_mtok": "1",
                                                 "valid_from": "2024-01-01"})])
    fake_openai.plan(text="a", model=model)
    call(app, model="gpt-4o-mini")
    usage_rows(app)
    with app.app_context():
        prices_mod.save([prices_mod.parse_price({"model": model, "input_per_mtok": "9", "output_per_mtok": "9",
                                                 "valid_from": "2024-01-01"})])
    fake_openai.plan(text="a", model=model)
    call(app, model="gpt-4o-mini")
    rows = usage_rows(app, at_least=2)
    assert rows[0]["cost"] == rows[1]["cost"] == 301 * Decimal(1) / MILLION


def test_each_row_is_priced_at_its_created_at(app, test_model):
    model, cleanup = test_model
    cleanup(app)
    with app.app_context():
        prices_mod.save([prices_mod.parse_price(p) for p in (
            {"model": model, "input_per_mtok": "10", "output_per_mtok": "40", "valid_from": "2024-01-01"},
            {"model": model, "input_per_mtok": "2", "output_per_mtok": "8", "valid_from": "2025-06-10"})])
        rows = [{"model_served": model, "prompt_tokens": 1000, "cached_tokens": 0, "completion_tokens": 500,
                 "created_at": at} for at in (datetime(2023, 12, 31, 23, tzinfo=timezone.utc),
                                              datetime(2025, 6, 9, 23, 59, tzinfo=timezone.utc),
                                              datetime(2025, 6, 10, 0, 0, tzinfo=timezone.utc))]
        price_rows(rows)
    assert [(r["cost"], r["currency"]) for r in rows] == [
        (None, None),
        ((1000 * Decimal(10) + 500 * Decimal(40)) / MILLION, "USD"),
        ((1000 * Decimal(2) + 500 * Decimal(8)) / MILLION, "USD")]


def test_the_seeded_prices_cover_the_common_models(app):
    today = datetime.now(timezone.utc)
    with app.app_context():
        book = load_price_book()
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini",
                  "gpt-5-nano", "o1", "o3", "o3-mini", "o4-mini", "gpt-4-turbo", "gpt-3.5-turbo", "gemini-2.5-pro",
                  "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-2.0-flash-lite",
                  "gemini-3-pro-preview"):
        price = book.price_for(model, today, 1000)
        assert price is not None and price.model == model and price.currency == "USD", model
        assert price.valid_from <= date.today() and price.output_per_mtok > price.input_per_mtok > 0
        if price.cached_input_per_mtok is not None:
            assert price.cached_input_per_mtok < price.input_per_mtok
    assert book.price_for("gemini-2.5-pro", today, 200_001).above_prompt_tokens == 200_000
    assert book.price_for("gemini-3-pro-preview", today, 200_001).above_prompt_tokens == 200_000


def test_the_demo_responder_costs_nothing_and_is_not_unpriced(make_app, make_admin):
    """A keyless install answers with the local demo responder: its rows cost exactly 0."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    assert app.test_client().post("/api/v1/ai-proxy/chat", json={"messages": [{"role": "user", "content": "hi"}]}
                                  ).status_code == 200
    (row,) = usage_rows(app)
    assert row["provider"] == "demo" and row["prompt_tokens"] > 0
    assert row["cost"] == Decimal(0) and row["currency"] is None
    assert app.test_cli_runner().invoke(args=["usage", "rollup"]).exit_code == 0
    _, token = make_admin(app)
    summary = app.test_client().get("/api/v1/ai-monitoring/summary?days=1",
                                    headers={"Authorization": f"Bearer {token}"}).get_json()
    assert summary["requests"] == 1 and summary["unpriced"] == 0 and summary["cost"] == {}
