"""`flask prices …` and `flask tokens …` through Flask's CLI runner, against the real database."""
import csv
import io
import json
import os
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete

from aichat.extensions import db
from aichat.gateway import tokens
from aichat.models import ModelPrice
from aichat.usage.prices import FIELDS
from tests.tokenizer import CL100K_URL, cache_name, install_cl100k


@pytest.fixture
def model(app):
    """A model name of this test's own; its rows are removed afterwards (model_price keeps the seeds)."""
    name = f"cli-model-{uuid.uuid4().hex[:8]}"
    yield name
    with app.app_context():
        db.session.execute(delete(ModelPrice).where(ModelPrice.model.like(name + "%")))
        db.session.commit()


def rows_of(app, name):
    with app.app_context():
        return db.session.execute(db.select(ModelPrice).where(ModelPrice.model.like(name + "%"))
                                  .order_by(ModelPrice.model, ModelPrice.valid_from)).scalars().all()


def refused(result, message):
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_set_adds_then_updates_the_same_key(app, flask, model):
    result = flask("prices", "set", model, "--input", "1.25", "--output", "10", "--cached-input", "0.125",
                   "--valid-from", "2025-06-17", "--source", "test sheet")
    assert result.exit_code == 0, result.output
    assert "Added" in result.stderr
    (row,) = rows_of(app, model)
    assert (row.input_per_mtok, row.cached_input_per_mtok, row.output_per_mtok) == (
        Decimal("1.25"), Decimal("0.125"), Decimal("10"))
    assert (row.currency, row.valid_from, row.above_prompt_tokens, row.source) == (
        "USD", date(2025, 6, 17), 0, "test sheet")
    result = flask("prices", "set", model, "--input", "2", "--output", "12", "--valid-from", "2025-06-17")
    assert result.exit_code == 0 and "Updated" in result.stderr
    (row,) = rows_of(app, model)
    assert (row.input_per_mtok, row.cached_input_per_mtok, row.output_per_mtok) == (Decimal(2), None, Decimal(12))


def test_set_a_tier_and_a_later_price_are_new_rows(app, flask, model):
    assert flask("prices", "set", model, "--input", "1", "--output", "2", "--valid-from", "2025-01-01").exit_code == 0
    assert flask("prices", "set", model, "--input", "3", "--output", "4", "--valid-from", "2025-01-01",
                 "--above-prompt-tokens", "200000").exit_code == 0
    assert flask("prices", "set", model, "--input", "5", "--output", "6").exit_code == 0  # from today
    rows = rows_of(app, model)
    assert sorted((r.valid_from, r.above_prompt_tokens, r.input_per_mtok) for r in rows) == [
        (date(2025, 1, 1), 0, 1), (date(2025, 1, 1), 200_000, 3), (datetime.now(timezone.utc).date(), 0, 5)]


def test_an_exact_price_keeps_every_digit(app, flask, model):
    refused(flask("prices", "set", model, "--input", "0.000001", "--output", "1000000000000"), "too large")
    assert flask("prices", "set", model, "--input", "0.000001", "--output", "999999999999.999999").exit_code == 0
    (row,) = rows_of(app, model)
    assert row.input_per_mtok == Decimal("0.000001") and row.output_per_mtok == Decimal("999999999999.999999")


@pytest.mark.parametrize("args,message", [
    (("--input", "-1", "--output", "2"), "input_per_mtok: -1 is negative"),
    (("--input", "abc", "--output", "2"), "input_per_mtok: 'abc' is not a number"),
    (("--input", "NaN", "--output", "2"), "is not a number"),
    (("--input", "1e400", "--output", "2"), "too large"),
    (("--input", "1", "--output", "2.0000001"), "more than 6 decimal places"),
    (("--input", "1", "--output", "2", "--cached-input", "-0.5"), "cached_input_per_mtok: -0.5 is negative"),
    (("--input", "1", "--output", "2", "--currency", "usd"), "not a currency code"),
    (("--input", "1", "--output", "2", "--currency", "EURO"), "not a currency code"),
    (("--input", "1", "--output", "2", "--valid-from", "2025-02-30"), "not a date"),
    (("--input", "1", "--output", "2", "--valid-from", "yesterday"), "not a date"),
    (("--input", "1", "--output", "2", "--above-prompt-tokens", "-1"), "not a whole number"),
    (("--input", "1", "--output", "2", "--above-prompt-tokens", "1.5"), "not a whole number"),
])
def test_set_refuses_bad_values_clearly(app, flask, model, args, message):
    refused(flask("prices", "set", model, *args), message)
    assert rows_of(app, model) == []


def test_list_shows_prices_in_force_and_all_with_history(app, flask, model):
    today = datetime.now(timezone.utc).date()
    for valid_from, price in ((today - timedelta(days=60), "1"), (today - timedelta(days=1), "2"),
                              (today + timedelta(days=30), "3")):
        assert flask("prices", "set", model, "--input", price, "--output", "9",
                     "--valid-from", str(valid_from)).exit_code == 0
    current = flask("prices", "list", "--model", model)
    lines = [line for line in current.output.splitlines() if line.startswith(model)]
    assert len(lines) == 1 and " 2 " in lines[0] and str(today - timedelta(days=1)) in lines[0]
    everything = flask("prices", "list", "--all", "--model", model)
    lines = [line.split() for line in everything.output.splitlines() if line.startswith(model)]
    assert [(line[2], line[6], line[7]) for line in lines] == [
        ("1", str(today - timedelta(days=60)), "past"), ("2", str(today - timedelta(days=1)), "current"),
        ("3", str(today + timedelta(days=30)), "future")]


def test_list_finds_the_rows_a_versioned_name_is_priced_by(flask):
    result = flask("prices", "list", "--model", "gpt-4o-mini-2024-07-18")
    assert result.exit_code == 0
    lines = result.output.splitlines()[1:]
    assert lines and all(line.split()[0] == "gpt-4o-mini" for line in lines)


def test_list_without_filter_shows_the_seeded_models(flask):
    names = {line.split()[0] for line in flask("prices", "list").output.splitlines()[1:]}
    assert {"gpt-4o", "gpt-4o-mini", "gemini-2.5-pro", "gemini-2.5-flash", "o3"} <= names


def test_export_then_import_round_trips_exactly(app, flask, model, tmp_path):
    assert flask("prices", "set", model, "--input", "0.075", "--output", "0.3", "--cached-input", "0.01875",
                 "--valid-from", "2025-02-25", "--source", "a, quoted \"source\"").exit_code == 0
    exported = flask("prices", "export")
    assert exported.exit_code == 0
    records = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert tuple(records[0]) == FIELDS
    mine = [r for r in records if r["model"] == model]
    assert mine == [{"model": model, "input_per_mtok": "0.075", "cached_input_per_mtok": "0.01875",
                     "output_per_mtok": "0.3", "currency": "USD", "valid_from": "2025-02-25",
                     "above_prompt_tokens": "0", "source": "a, quoted \"source\""}]
    with app.app_context():
        db.session.execute(delete(ModelPrice).where(ModelPrice.model == model))
        db.session.commit()
    path = tmp_path / "prices.csv"
    path.write_text(exported.stdout)
    result = flask("prices", "import", str(path))
    assert result.exit_code == 0, result.output
    (row,) = rows_of(app, model)
    assert (row.input_per_mtok, row.cached_input_per_mtok, row.output_per_mtok, row.source) == (
        Decimal("0.075"), Decimal("0.01875"), Decimal("0.3"), "a, quoted \"source\"")
    assert flask("prices", "export").stdout == exported.stdout


def test_import_validates_every_line_first_and_imports_nothing_on_error(app, flask, model, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("model,input_per_mtok,cached_input_per_mtok,output_per_mtok,currency,valid_from,"
                    "above_prompt_tokens,source\n"
                    f"{model}-a,1,,2,USD,2025-01-01,0,ok\n"
                    f"{model}-b,-1,,2,USD,2025-01-01,0,negative\n"
                    f"{model}-c,1,,2,US,2025-01-01,0,currency\n"
                    f"{model}-d,1,,2,USD,01/02/2025,0,date\n"
                    f"{model}-e,x,,2,USD,2025-01-01,0,number\n"
                    f"{model}-a,1,,2,USD,2025-01-01,0,duplicate\n")
    result = flask("prices", "import", str(path))
    refused(result, "nothing imported")
    for line in ("line 3: input_per_mtok: -1 is negative", "line 4: currency", "line 5: valid_from",
                 "line 6: input_per_mtok: 'x' is not a number", "line 7: the same model, valid_from and tier as line 2"):
        assert line in result.stderr
    assert "line 2" not in result.stderr.replace("as line 2", "")
    assert rows_of(app, model) == []


def test_import_refuses_a_file_without_the_header(flask, tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("gpt-x,1,,2,USD,2025-01-01,0,\n")
    refused(flask("prices", "import", str(path)), "the first line must be a header")


def test_import_accepts_a_json_list_with_exact_numbers(app, flask, model, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps([
        {"model": model, "input_per_mtok": "0.1", "output_per_mtok": "0.4", "valid_from": "2025-02-05"},
        {"model": model, "input_per_mtok": 0.3, "cached_input_per_mtok": 0.03, "output_per_mtok": 2.5,
         "valid_from": "2025-06-17", "currency": "EUR", "above_prompt_tokens": 0, "source": "numbers"},
    ]))
    result = flask("prices", "import", str(path))
    assert result.exit_code == 0, result.output
    rows = rows_of(app, model)
    assert [(r.input_per_mtok, r.cached_input_per_mtok, r.output_per_mtok, r.currency) for r in rows] == [
        (Decimal("0.1"), None, Decimal("0.4"), "USD"), (Decimal("0.3"), Decimal("0.03"), Decimal("2.5"), "EUR")]


def test_import_reports_bad_json_items_by_number(app, flask, model, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps([{"model": model, "input_per_mtok": "1", "output_per_mtok": "2"},
                                {"model": model + "-x", "input_per_mtok": "1"}, "nope",
                                {"model": model + "-y", "input_per_mtok": True, "output_per_mtok": "2"}]))
    result = flask("prices", "import", str(path))
    refused(result, "item 2: output_per_mtok is required")
    assert "item 3: not an object" in result.stderr and "item 4: input_per_mtok" in result.stderr
    assert rows_of(app, model) == []
    path.write_text("{not json")
    refused(flask("prices", "import", str(path)), "not valid JSON")


def test_tokens_status_says_which_counting_is_in_force(make_app, tmp_path):
    empty = make_app(TIKTOKEN_CACHE_DIR=str(tmp_path / "empty")).test_cli_runner().invoke(args=["tokens", "status"])
    assert empty.exit_code == 0 and json.loads(empty.output)["mode"] == "rule"
    install_cl100k(tmp_path / "tt")
    found = make_app().test_cli_runner().invoke(args=["tokens", "status", "--dir", str(tmp_path / "tt")])
    described = json.loads(found.output)
    assert described["mode"] == "tiktoken" and described["encodings"] == ["cl100k_base"]


def test_tokens_fetch_verifies_what_it_finds_and_fails_without_a_network(flask, tmp_path, monkeypatch):
    install_cl100k(tmp_path)
    result = flask("tokens", "fetch", "--dir", str(tmp_path), "--encoding", "cl100k_base")
    assert result.exit_code == 0, result.output
    assert f"cl100k_base: verified ({tmp_path / cache_name(CL100K_URL)})" in result.stdout

    def offline(*args, **kwargs):
        raise OSError("no network here")

    monkeypatch.setattr("tiktoken.load.read_file", offline)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/somewhere/else")
    result = flask("tokens", "fetch", "--dir", str(tmp_path / "new"), "--encoding", "o200k_base")
    refused(result, "not fetched: o200k_base")
    assert "o200k_base: download failed: OSError" in result.stderr
    assert os.environ["TIKTOKEN_CACHE_DIR"] == "/somewhere/else"  # set only for the download
    assert not os.path.exists(tokens.cache_path(str(tmp_path / "new"), "o200k_base"))
