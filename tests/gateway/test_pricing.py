"""Cost arithmetic: cached input, reasoning and thoughts, tiers, history, versioned names, unpriced calls."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from google.genai import types

from aichat.gateway.pricing import Price, PriceBook, candidate_names
from aichat.providers import gemini, openai
from aichat.providers.base import Usage

D = Decimal
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
MILLION = D(1_000_000)

GPT_4O = Price("gpt-4o", D("2.50"), D("1.25"), D("10.00"), valid_from=date(2024, 10, 2))
GPT_4O_MINI = Price("gpt-4o-mini", D("0.15"), D("0.075"), D("0.60"), valid_from=date(2024, 7, 18))
O3 = Price("o3", D("2.00"), D("0.50"), D("8.00"), valid_from=date(2025, 6, 10))
FLASH = Price("gemini-2.5-flash", D("0.30"), D("0.03"), D("2.50"), valid_from=date(2025, 6, 17))
PRO = Price("gemini-2.5-pro", D("1.25"), D("0.125"), D("10.00"), valid_from=date(2025, 6, 17))
PRO_LONG = Price("gemini-2.5-pro", D("2.50"), D("0.25"), D("15.00"), valid_from=date(2025, 6, 17),
                 above_prompt_tokens=200_000)
GPT_4 = Price("gpt-4", D("30"), None, D("60"), valid_from=date(2023, 3, 14))


def expected(price: Price, prompt: int, cached: int, completion: int) -> Decimal:
    """The bill as the providers define it, written out independently of the code under test."""
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    return ((prompt - cached) * price.input_per_mtok + cached * cached_rate
            + completion * price.output_per_mtok) / MILLION


def book(*prices: Price) -> PriceBook:
    return PriceBook(prices or (GPT_4O, GPT_4O_MINI, O3, FLASH, PRO, PRO_LONG, GPT_4))


def test_a_worked_example_with_cached_input():
    """1,000 prompt tokens of which 400 cached, 500 out, on gpt-4o: 600*2.5 + 400*1.25 + 500*10 = 7,000 per 1e6."""
    cost, currency = book().cost(Usage(prompt_tokens=1000, cached_tokens=400, completion_tokens=500), "gpt-4o", NOW)
    assert cost == D("0.007") and currency == "USD"
    assert isinstance(cost, Decimal) and cost.as_tuple().exponent == -10


@pytest.mark.parametrize("price", [GPT_4O, GPT_4O_MINI, O3, FLASH, PRO, GPT_4], ids=lambda p: p.model)
@pytest.mark.parametrize("prompt,cached,completion", [(1, 0, 1), (1234, 0, 567), (1234, 1024, 567), (50_000, 50_000, 0),
                                                      (0, 0, 4096), (199_999, 12_345, 65_535)])
def test_cost_per_model_matches_the_providers_formula(price, prompt, cached, completion):
    usage = Usage(prompt_tokens=prompt, cached_tokens=cached, completion_tokens=completion)
    cost, currency = book().cost(usage, price.model, NOW)
    assert cost == expected(price, prompt, cached, completion).quantize(D("1e-10"))
    assert currency == "USD"


def test_cached_tokens_are_part_of_the_prompt_and_billed_once_at_the_cached_rate():
    usage = Usage(prompt_tokens=10_000, cached_tokens=8_000, completion_tokens=0)
    cost, _ = book().cost(usage, "gpt-4o-mini", NOW)
    assert cost == (2_000 * D("0.15") + 8_000 * D("0.075")) / MILLION
    # Not the bug where cached tokens are billed on top of the full prompt.
    assert cost < 10_000 * D("0.15") / MILLION


def test_without_a_cached_rate_cached_input_is_billed_as_input():
    usage = Usage(prompt_tokens=3_000, cached_tokens=2_000, completion_tokens=100)
    cost, _ = book().cost(usage, "gpt-4", NOW)
    assert cost == (3_000 * D(30) + 100 * D(60)) / MILLION


def test_openai_reasoning_tokens_are_inside_completion_tokens_and_not_billed_twice():
    """o3: completion_tokens already holds completion_tokens_details.reasoning_tokens."""
    raw = {"prompt_tokens": 1200, "completion_tokens": 5000, "total_tokens": 6200,
           "prompt_tokens_details": {"cached_tokens": 1024},
           "completion_tokens_details": {"reasoning_tokens": 4600}}
    usage = openai._usage(raw)
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens) == (
        1200, 1024, 5000, 4600)
    cost, _ = book().cost(usage, "o3", NOW)
    assert cost == expected(O3, 1200, 1024, 5000)
    assert cost != expected(O3, 1200, 1024, 5000 + 4600)  # the double-billing bug


def test_gemini_thoughts_are_billed_at_the_output_rate():
    """2.5 Flash: thoughtsTokenCount is outside candidatesTokenCount; the adapter adds them, cost bills them once."""
    meta = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=900, cached_content_token_count=600, candidates_token_count=120,
        thoughts_token_count=1500, total_token_count=900 + 120 + 1500)
    usage = gemini._usage(meta)
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens) == (
        900, 600, 1620, 1500)
    assert usage.total_tokens == meta.total_token_count
    cost, _ = book().cost(usage, "gemini-2.5-flash", NOW)
    assert cost == expected(FLASH, 900, 600, 120 + 1500)


@pytest.mark.parametrize("prompt,tier", [(1, PRO), (200_000, PRO), (200_001, PRO_LONG), (1_000_000, PRO_LONG)])
def test_gemini_25_pro_bills_every_token_of_a_long_prompt_at_the_higher_rate(prompt, tier):
    usage = Usage(prompt_tokens=prompt, cached_tokens=min(prompt, 50_000), completion_tokens=3_000)
    assert book().price_for("gemini-2.5-pro", NOW, prompt) == tier
    cost, _ = book().cost(usage, "gemini-2.5-pro", NOW)
    assert cost == expected(tier, prompt, min(prompt, 50_000), 3_000)


def test_the_200k_boundary_changes_input_cached_and_output_rates():
    def bill(prompt):
        return book().cost(Usage(prompt_tokens=prompt, cached_tokens=100_000, completion_tokens=1_000),
                           "gemini-2.5-pro", NOW)[0]

    assert bill(200_000) == (100_000 * D("1.25") + 100_000 * D("0.125") + 1_000 * D(10)) / MILLION
    assert bill(200_001) == (100_001 * D("2.50") + 100_000 * D("0.25") + 1_000 * D(15)) / MILLION


def test_a_model_without_a_price_is_unpriced_not_free():
    usage = Usage(prompt_tokens=100, completion_tokens=50)
    assert book().cost(usage, "some-local-model", NOW) == (None, None)
    assert book().cost(usage, None, NOW) == (None, None)


def test_a_call_without_tokens_costs_zero_priced_or_not():
    assert book().cost(Usage(), "gpt-4o", NOW) == (D(0), "USD")
    assert book().cost(Usage(), "some-local-model", NOW) == (D(0), None)


def test_the_price_in_force_on_the_calls_utc_day_applies():
    old = Price("m", D("10"), None, D("40"), valid_from=date(2025, 1, 1))
    new = Price("m", D("2"), None, D("8"), valid_from=date(2025, 6, 10))
    future = Price("m", D("1"), None, D("1"), valid_from=date(2030, 1, 1))
    prices = book(future, new, old)  # any order
    usage = Usage(prompt_tokens=1_000, completion_tokens=1_000)
    at = datetime(2025, 6, 10, tzinfo=timezone.utc)
    assert prices.price_for("m", datetime(2024, 12, 31, 23, 59, tzinfo=timezone.utc), 10) is None
    assert prices.price_for("m", at - timedelta(seconds=1), 10) == old
    assert prices.price_for("m", at, 10) == new
    assert prices.price_for("m", datetime(2029, 12, 31, tzinfo=timezone.utc), 10) == new
    assert prices.cost(usage, "m", at)[0] == expected(new, 1_000, 0, 1_000)
    # 23:30 in New York on the 9th is already the 10th in UTC.
    eastern = timezone(timedelta(hours=-5))
    assert prices.price_for("m", datetime(2025, 6, 9, 23, 30, tzinfo=eastern), 10) == new
    assert prices.price_for("m", datetime(2025, 6, 9, 23, 30), 10) == old  # naive means UTC


def test_tiers_keep_their_own_history():
    base = Price("t", D("1"), None, D("2"), valid_from=date(2025, 1, 1))
    tier_old = Price("t", D("3"), None, D("4"), valid_from=date(2025, 1, 1), above_prompt_tokens=100)
    tier_new = Price("t", D("5"), None, D("6"), valid_from=date(2025, 3, 1), above_prompt_tokens=100)
    prices = book(base, tier_old, tier_new)
    assert prices.price_for("t", datetime(2025, 2, 1, tzinfo=timezone.utc), 101) == tier_old
    assert prices.price_for("t", datetime(2025, 4, 1, tzinfo=timezone.utc), 101) == tier_new
    assert prices.price_for("t", datetime(2025, 4, 1, tzinfo=timezone.utc), 100) == base


SNAPSHOT_4O_MAY = Price("gpt-4o-2024-05-13", D("5"), None, D("15"), valid_from=date(2024, 5, 13))
PREVIEW_3 = Price("gemini-3-pro-preview", D("2"), D("0.2"), D("12"), valid_from=date(2025, 11, 18))
FLASH_20 = Price("gemini-2.0-flash", D("0.1"), D("0.025"), D("0.4"), valid_from=date(2025, 2, 5))
GPT_35 = Price("gpt-3.5-turbo", D("0.5"), None, D("1.5"), valid_from=date(2024, 1, 25))


@pytest.mark.parametrize("served,priced_as", [
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # a snapshot with its own price keeps it
    ("gpt-4-0613", "gpt-4"),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("o3-2025-04-16", "o3"),
    ("models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
    ("models/gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("gemini-3-pro-preview", "gemini-3-pro-preview"),
    ("gemini-3-pro-preview-11-2025", "gemini-3-pro-preview"),
    ("o3-mini", None),  # never a prefix match: o3 does not price o3-mini
    ("o3-mini-2025-01-31", None),
    ("gpt-4o-mini-audio-preview", None),
    ("gpt-4.1", None),
    ("gpt-4o-realtime-preview-2024-12-17", None),
    ("gemini-2.5-flash-lite", None),
    ("gemini-2.5", None),
    ("", None),
])
def test_versioned_names_are_priced_by_their_model_and_nothing_looser(served, priced_as):
    prices = book(GPT_4O, GPT_4O_MINI, O3, FLASH, GPT_4, SNAPSHOT_4O_MAY, PREVIEW_3, FLASH_20, GPT_35)
    price = prices.price_for(served, NOW, 10)
    assert (price.model if price else None) == priced_as


def test_gpt_4o_never_prices_gpt_4o_mini():
    assert book(GPT_4O).price_for("gpt-4o-mini", NOW, 10) is None
    assert book(GPT_4O).price_for("gpt-4o-mini-2024-07-18", NOW, 10) is None
    assert book(GPT_4O_MINI).price_for("gpt-4o", NOW, 10) is None


def test_candidate_names_go_from_specific_to_general():
    assert candidate_names("models/gemini-2.5-flash-preview-05-20") == [
        "models/gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview",
        "gemini-2.5-flash"]
    assert candidate_names("gpt-4o-mini-2024-07-18") == ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]
    assert candidate_names("gpt-4o") == ["gpt-4o"]


