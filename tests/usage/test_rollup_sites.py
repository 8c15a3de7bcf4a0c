"""Does a site keep one history when its domain is renamed, and outlive its removal, in the rollup and the
monitoring API's per-site views?"""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from aichat.extensions import db
from aichat.models import AIUsageStats, Site
from aichat.tenancy.store import new_publishable_key
from aichat.usage.days import day_start, today, usage_zone
from tests.usage.factories import log_row, roll_up, write_logs

M = "/api/v1/ai-monitoring"


def add_site(app, domain: str) -> int:
    with app.app_context():
        row = Site(domain=domain, name=domain, publishable_key=new_publishable_key(), origins="[]")
        db.session.add(row)
        db.session.commit()
        return row.id


def rename(app, site_id: int, domain: str) -> None:
    with app.app_context():
        db.session.execute(update(Site).where(Site.id == site_id).values(domain=domain))
        db.session.commit()


def remove(app, site_id: int) -> None:
    with app.app_context():
        db.session.execute(delete(Site).where(Site.id == site_id))
        db.session.commit()


def stats(app) -> list[tuple]:
    with app.app_context():
        return sorted((r.site_id or 0, r.site_domain, r.attempts)
                      for r in db.session.execute(select(AIUsageStats)).scalars())


@pytest.fixture
def mon(make_app, make_admin):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    _, token = make_admin(app)
    client = app.test_client()
    zone = usage_zone(app.config)

    def at(days_ago: int, minutes: int):
        return day_start(today(zone) - timedelta(days=days_ago), zone) + timedelta(minutes=minutes)

    def get(path: str) -> dict:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    return app, at, get


def test_a_renamed_site_keeps_one_history(mon):
    app, at, get = mon
    shop = add_site(app, "shop.example.com")
    write_logs(app, [log_row(at(1, 10), site_id=shop, site_domain="shop.example.com"),
                     log_row(at(0, 10), site_id=shop, site_domain="shop.example.com")])
    roll_up(app)
    rename(app, shop, "store.example.com")
    write_logs(app, [log_row(at(0, 20), site_id=shop, site_domain="store.example.com", status="error")])
    roll_up(app)  # today only: yesterday's stats keep the domain they were rolled up under
    assert stats(app) == [(shop, "shop.example.com", 1), (shop, "store.example.com", 2)], \
        "one group a day for the site; today's under its domain now, though its rows name two"

    summary = get(f"{M}/summary?site_domain=store.example.com").get_json()
    assert (summary["requests"], summary["errors"]) == (3, 1), "yesterday's rows, written as shop, count too"
    daily = get(f"{M}/daily?days=2&site_domain=store.example.com").get_json()
    assert [p["requests"] for p in daily["points"]] == [1, 2]
    assert [e["site_domain"] for e in get(f"{M}/recent-errors?site_domain=store.example.com").get_json()["errors"]] \
        == ["store.example.com"]
    providers = get(f"{M}/providers?site_domain=store.example.com").get_json()["providers"]
    assert sum(p["requests"] for p in providers) == 3
    assert get(f"{M}/summary?site_domain=shop.example.com").get_json()["requests"] == 0, \
        "the old name is no site any more: its rows are the renamed site's"


def test_a_removed_site_keeps_its_history_apart_from_a_new_site_of_that_domain(mon):
    app, at, get = mon
    old = add_site(app, "shop.example.com")
    write_logs(app, [log_row(at(0, 10), site_id=old, site_domain="shop.example.com")])
    remove(app, old)
    new = add_site(app, "shop.example.com")
    write_logs(app, [log_row(at(0, 20), site_id=new, site_domain="shop.example.com"),
                     log_row(at(0, 30), site_id=new, site_domain="shop.example.com")])
    roll_up(app)
    assert stats(app) == [(old, "shop.example.com", 1), (new, "shop.example.com", 2)], "apart in the rollup"
    assert get(f"{M}/summary?site_domain=shop.example.com").get_json()["requests"] == 3, \
        "read by domain, the removed site's rows count with the new site's"
    day = today(usage_zone(app.config)).isoformat()
    exported = list(csv.DictReader(io.StringIO(get(f"{M}/export/daily.csv?from={day}&to={day}").get_data(
        as_text=True))))
    assert sorted((int(r["site_id"]), int(r["attempts"])) for r in exported) == [(old, 1), (new, 2)]


def test_the_local_sites_rows_keep_the_domains_they_name(mon):
    """The local site serves pages of several hosts (AICHAT_ALLOWED_ORIGINS, keys naming a site_domain): its rows
    roll up by the domain they name, like rows from before sites, and count for a site of that domain made later."""
    app, at, get = mon
    with app.app_context():
        local = db.session.execute(select(Site.id).where(Site.domain == "localhost")).scalar()
    write_logs(app, [log_row(at(1, 10), site_domain="shop.example.com"),  # no site id: written before 0010
                     log_row(at(1, 11), site_id=local, site_domain="shop.example.com"),
                     log_row(at(1, 12), site_id=local, site_domain="blog.example.org"),
                     log_row(at(1, 13), site_id=local, site_domain="unknown")])
    roll_up(app)
    assert stats(app) == [(0, "shop.example.com", 1), (local, "blog.example.org", 1),
                          (local, "shop.example.com", 1), (local, "unknown", 1)]
    shop = add_site(app, "shop.example.com")  # the site moves from the environment's origins to a site of its own
    write_logs(app, [log_row(at(0, 10), site_id=shop, site_domain="shop.example.com")])
    roll_up(app)
    assert get(f"{M}/summary?site_domain=shop.example.com").get_json()["requests"] == 3
    assert get(f"{M}/summary?site_domain=blog.example.org").get_json()["requests"] == 1
    assert get(f"{M}/summary").get_json()["requests"] == 5
    rename(app, shop, "store.example.com")
    assert get(f"{M}/summary?site_domain=store.example.com").get_json()["requests"] == 1, \
        "the rows the site wrote are its own; the older ones named shop.example.com stay under that name"
    assert get(f"{M}/summary?site_domain=shop.example.com").get_json()["requests"] == 2
