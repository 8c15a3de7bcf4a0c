"""The prices page: the table with its history, adding a price with errors next to the fields, CSV in and out."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from aichat import audit
from aichat.extensions import db
from aichat.models import ModelPrice
from tests.admin.conftest import signed_in

PRICE = {"model": "console-model-x", "currency": "USD", "input_per_mtok": "1.25", "cached_input_per_mtok": "",
         "output_per_mtok": "10", "valid_from": "2026-01-01", "above_prompt_tokens": "", "source": "test"}


@pytest.fixture
def console(make_app, make_admin):
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="1000/minute")
    make_admin(app, "admin", token=False, role="admin")
    make_admin(app, "viewer", token=False, role="viewer")

    def sign_in(name="admin"):
        return signed_in(app, name, "/admin/prices")

    app.sign_in = sign_in
    yield app
    with app.app_context():  # model_price keeps the seeded prices between tests: drop ours
        for row in db.session.execute(select(ModelPrice).where(ModelPrice.model.like("console-%"))).scalars():
            db.session.delete(row)
        db.session.commit()


def _rows(app, model="console-model-x"):
    with app.app_context():
        return [(r.valid_from, r.input_per_mtok, r.above_prompt_tokens) for r in db.session.execute(
            select(ModelPrice).where(ModelPrice.model == model).order_by(ModelPrice.valid_from)).scalars()]


def _actions(app):
    with app.app_context():
        return [(row.action, row.target) for row in reversed(audit.events())]


def test_the_page_lists_prices_with_history_and_says_changes_apply_to_new_rows(console):
    client, token = console.sign_in()
    for day, amount in (("2025-01-01", "2"), ("2026-01-01", "1.25"), ((date.today() + timedelta(days=30)).isoformat(),
                                                                       "1")):
        assert client.post("/admin/prices", data={"csrf_token": token, **PRICE, "valid_from": day,
                                                   "input_per_mtok": amount}).status_code == 302
    page = client.get("/admin/prices?model=console-model-x").get_data(as_text=True)
    assert 'id="new-rows-only"' in page and "rows already recorded keep the cost" in page
    statuses = re.findall(r'<tr class="(past|current|future)" data-model="console-model-x"', page)
    assert statuses == ["past", "current", "future"]
    assert "$1.25" in page and "$2.00" in page
    assert client.get("/admin/prices").get_data(as_text=True).count('data-model="gpt-4o-mini"') >= 1  # seeded


def test_adding_a_price_is_audited_and_the_same_day_again_updates_it(console):
    client, token = console.sign_in()
    client.post("/admin/prices", data={"csrf_token": token, **PRICE})
    client.post("/admin/prices", data={"csrf_token": token, **PRICE, "input_per_mtok": "1.5",
                                       "above_prompt_tokens": "200000"})
    client.post("/admin/prices", data={"csrf_token": token, **PRICE, "input_per_mtok": "1.3"})
    assert sorted(_rows(console), key=lambda r: r[2]) == [(date(2026, 1, 1), Decimal("1.3"), 0),
                                                          (date(2026, 1, 1), Decimal("1.5"), 200000)]
    assert _actions(console) == [("prices.set", "console-model-x@2026-01-01"),
                                 ("prices.set", "console-model-x@2026-01-01>200000"),
                                 ("prices.set", "console-model-x@2026-01-01")]


@pytest.mark.parametrize("field, value", [
    ("model", ""), ("currency", "usd"), ("input_per_mtok", "abc"), ("input_per_mtok", "-1"),
    ("cached_input_per_mtok", "1.1234567"), ("output_per_mtok", ""), ("valid_from", "2026-13-01"),
    ("above_prompt_tokens", "1.5"),
])
def test_a_bad_field_is_refused_with_the_error_next_to_it(console, field, value):
    client, token = console.sign_in()
    resp = client.post("/admin/prices", data={"csrf_token": token, **PRICE, field: value})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(rf'<p class="field-error" id="{field}-error">[^<]+</p>', page), field
    around = page.split(f'id="{field}-error"')[0].rsplit('<div class="field', 1)[1]
    assert f'id="{field}"' in around and 'aria-invalid="true"' in around
    assert len(re.findall(r'class="field-error"', page)) == 1
    assert _rows(console) == [] and _actions(console) == []


def test_csv_export_and_import_round_trip_with_errors_shown(console):
    client, token = console.sign_in()
    client.post("/admin/prices", data={"csrf_token": token, **PRICE})
    exported = client.get("/admin/prices/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "console-model-x,1.25,,10,USD,2026-01-01,0,test" in exported.get_data(as_text=True)
    good = "model,input_per_mtok,output_per_mtok,valid_from\nconsole-model-y,3,4,2026-02-01\n"
    resp = client.post("/admin/prices/import", data={"csrf_token": token,
                                                     "file": (io.BytesIO(good.encode()), "p.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302 and _rows(console, "console-model-y") != []
    bad = "model,input_per_mtok,output_per_mtok\nconsole-model-z,x,4\n"
    resp = client.post("/admin/prices/import", data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "b.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and 'id="file-error"' in resp.get_data(as_text=True)
    resp = client.post("/admin/prices/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert resp.status_code == 400 and 'id="file-error"' in resp.get_data(as_text=True)
    assert _rows(console, "console-model-z") == []
    assert [a for a, _ in _actions(console)] == ["prices.set", "prices.import"]


def test_csrf_and_roles_guard_every_change(console):
    admin, token = console.sign_in()
    csv = "model,input_per_mtok,output_per_mtok\nconsole-model-z,1,1\n"
    assert admin.post("/admin/prices", data=PRICE).status_code == 400
    assert admin.post("/admin/prices/import", data={"file": (io.BytesIO(csv.encode()), "p.csv")},
                      content_type="multipart/form-data").status_code == 400
    viewer, vtoken = console.sign_in("viewer")
    page = viewer.get("/admin/prices").get_data(as_text=True)
    assert 'id="add-price"' not in page and 'id="import-prices"' not in page and 'id="export-csv"' in page
    assert viewer.post("/admin/prices", data={"csrf_token": vtoken, **PRICE}).status_code == 403
    assert viewer.post("/admin/prices/import", data={"csrf_token": vtoken,
                                                     "file": (io.BytesIO(csv.encode()), "p.csv")},
                       content_type="multipart/form-data").status_code == 403
    assert _rows(console) == [] and _rows(console, "console-model-z") == [] and _actions(console) == []
