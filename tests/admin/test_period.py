"""The period picker: presets end today in the configured zone, a custom range is checked, and a bad value falls
back to the default with an error for its field rather than failing the page."""
from datetime import date, timedelta

import pytest

from aichat.admin.period import MAX_DAYS, choose
from aichat.usage.days import today
from aichat.usage.days import usage_zone

CONFIG = {"AICHAT_TIMEZONE": "Asia/Shanghai"}


def _today():
    return today(usage_zone(CONFIG))


@pytest.mark.parametrize("preset, days", [("today", 1), ("7", 7), ("30", 30), ("90", 90)])
def test_a_preset_is_that_many_local_days_ending_today(preset, days):
    choice = choose({"period": preset}, CONFIG)
    assert choice.period.last == _today() and choice.days == days and choice.errors == {}
    before = choice.previous()
    assert before.last == choice.period.first - timedelta(days=1) and (before.last - before.first).days + 1 == days


def test_a_custom_range_and_the_arguments_that_choose_it_again():
    choice = choose({"period": "custom", "from": "2026-01-01", "to": "2026-01-31", "site": "shop.example.com"},
                    CONFIG, sites={"shop.example.com"})
    assert (choice.period.first, choice.period.last, choice.site) == (date(2026, 1, 1), date(2026, 1, 31),
                                                                     "shop.example.com")
    assert choice.previous().first == date(2025, 12, 1)
    assert choice.args(page=2) == {"period": "custom", "from": "2026-01-01", "to": "2026-01-31",
                                   "site": "shop.example.com", "page": 2}


@pytest.mark.parametrize("args, field", [
    ({"period": "custom", "from": "2026-02-01", "to": "2026-01-01"}, "to"),
    ({"period": "custom", "from": "yesterday", "to": "2026-01-01"}, "from"),
    ({"period": "custom", "from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ({"period": "365"}, "period"),
    ({"period": "7", "site": "nowhere.example"}, "site"),
])
def test_a_bad_value_falls_back_and_names_its_field(args, field):
    choice = choose(args, CONFIG, sites={"shop.example.com"})
    assert field in choice.errors
    assert choice.site is None
    if field != "site":
        assert choice.preset == "7" and choice.days == 7 and choice.period.last == _today()


def test_a_range_of_the_longest_length_allowed_is_accepted():
    first = date(2024, 1, 1)
    choice = choose({"period": "custom", "from": first.isoformat(),
                     "to": (first + timedelta(days=MAX_DAYS - 1)).isoformat()}, CONFIG)
    assert choice.errors == {} and choice.days == MAX_DAYS
