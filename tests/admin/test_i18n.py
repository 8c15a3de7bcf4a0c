"""Languages: the console in Simplified Chinese or English, chosen by the browser or the switch, and remembered;
the catalog complete and compiled; numbers, money and times formatted for the locale and the configured zone."""
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from io import BytesIO

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale

from aichat import i18n
from tests.conftest import ROOT

PO = ROOT / "aichat" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def test_the_browser_s_language_chooses_the_console_s(client):
    """Does a browser asking for Chinese get the Chinese page, and one asking for anything else the English one?"""
    for header, expected, absent in (("zh-CN,zh;q=0.9,en;q=0.8", "登录管理控制台", "Sign in to the admin console"),
                                     ("zh-TW", "登录管理控制台", "Sign in to the admin console"),
                                     ("en-GB,en;q=0.9", "Sign in to the admin console", "登录管理控制台"),
                                     ("fr-FR", "Sign in to the admin console", "登录管理控制台")):
        page = client.get("/admin/login", headers={"Accept-Language": header}).get_data(as_text=True)
        assert expected in page and absent not in page, header
    page = client.get("/admin/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_the_switch_is_remembered_over_the_browser_s_language(client):
    resp = client.get("/language/zh_CN?next=/admin/login", headers={"Accept-Language": "en"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/login"
    assert "aichat_lang=zh_CN" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    page = client.get("/admin/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "登录管理控制台" in page
    client.get("/language/en?next=/admin/login")
    assert "Sign in to the admin console" in client.get("/admin/login", headers={"Accept-Language": "zh-CN"}).text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_the_switch_only_goes_back_to_this_site(client, target):
    resp = client.get("/language/en", query_string={"next": target})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


def test_an_unknown_language_changes_nothing(client):
    resp = client.get("/language/xx?next=/admin/login")
    assert resp.status_code == 302 and "Set-Cookie" not in resp.headers


def test_every_string_is_translated_and_the_compiled_catalog_is_the_catalog():
    """Is the committed .mo exactly what the .po compiles to, with no string left without Chinese?"""
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    missing = [m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert missing == [], f"untranslated strings: run scripts/catalog.py and translate {missing[:10]}"
    compiled = BytesIO()
    write_mo(compiled, catalog)
    assert compiled.getvalue() == PO.with_suffix(".mo").read_bytes(), "run scripts/catalog.py: the .mo is stale"


def test_the_catalog_holds_every_string_the_code_marks():
    """Would a string marked in code but never extracted show in English on a Chinese page? The script says so."""
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'scripts'); import catalog; "
                             "t = catalog.extract(); c = catalog.read(catalog.PO); "
                             "print('\\n'.join(m.id if isinstance(m.id, str) else m.id[0] for m in t "
                             "if m.id and c.get(m.id, m.context) is None))"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"marked but not in the catalog (run scripts/catalog.py): {result.stdout}"


def test_numbers_money_and_times_follow_the_locale_and_the_zone(app):
    moment = datetime(2026, 12, 4, 23, 30, tzinfo=timezone.utc)
    app.config["AICHAT_TIMEZONE"] = "Asia/Shanghai"
    with app.test_request_context("/"):
        with force_locale("en"):
            assert i18n.number(1234567) == "1,234,567"
            assert i18n.money(Decimal("0.00123"), "USD") == "$0.00123"  # every digit of an exact amount
            assert i18n.money("12.5", "USD") == "$12.50"
            assert i18n.money_short("0.678944612", "USD") == "$0.6789" and i18n.money_short("1234.5678", "USD") == "$1,234.57"
            assert i18n.money_short("0.00012345", "USD") == "$0.0001234"
            assert i18n.percent(0.1234) == "12.3%"
            assert i18n.duration(850.4) == "850 ms" and i18n.duration(1234) == "1.2 s"
            assert "Dec 5, 2026" in i18n.when(moment) and "7:30" in i18n.when(moment)  # Shanghai is UTC+8
            assert i18n.when(None) == i18n.MISSING and i18n.money(None, "USD") == i18n.MISSING
        with force_locale("zh_CN"):
            assert i18n.money("12.5", "CNY") == "¥12.50"
            assert "2026年12月5日" in i18n.when(moment)
