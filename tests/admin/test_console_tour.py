"""Every console page in headless Chromium, in both languages and on a phone: no English string of the catalog left
on a Chinese page, no policy violation, nothing wider than a phone's screen; a screenshot of each page.

Screenshots go to docs/screenshots/console/<page>-<language>[-phone].png (CI keeps them as artifacts).
"""
import re

import pytest
from babel.messages.pofile import read_po

from aichat import audit
from aichat.extensions import db
from aichat.usage import rollup, seed
from aichat.usage.costing import load_price_book
from aichat.usage.days import usage_zone
from tests.admin.conftest import CONSOLE_PAGES, PASSWORD
from tests.admin.test_pages_browser import WATCH
from tests.conftest import ROOT

SCREENSHOTS = ROOT / "docs" / "screenshots" / "console"
PO = ROOT / "aichat" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
PHONE = {"width": 390, "height": 844}
# A name that is no word of the catalog, so the header's "signed in as" never looks like an English string.
TOURIST = "ops-lead"
# The help pages show the documents, which are written in English and marked lang="en".
PAGES = CONSOLE_PAGES + ["/admin/help/", "/admin/help/console"]
# Text of the page and of the attributes people read or hear (labels, titles, placeholders), leaving out what is
# marked as English on purpose (the documents, the language switch's own "English") and what is marked
# translate="no" (names the data uses, such as an audit target type typed into a filter).
VISIBLE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  for (const el of body.querySelectorAll('[lang="en"], [translate="no"], script, style, template')) el.remove();
  // A help page is titled by its (English) document.
  const parts = [document.querySelector('#help-doc[lang="en"]') ? '' : document.title, body.textContent];
  for (const el of body.querySelectorAll('[aria-label], [title], [placeholder], [alt]'))
    for (const name of ['aria-label', 'title', 'placeholder', 'alt'])
      if (el.getAttribute(name)) parts.push(el.getAttribute(name));
  return parts.join('\\n');
}"""


def _english_words() -> list[tuple[str, re.Pattern]]:
    """Every English string the catalog translates differently, as a pattern for its words (placeholders skipped)."""
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    patterns = []
    for message in catalog:
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        string = message.string if isinstance(message.string, str) else (message.string or ("",))[0]
        if not msgid or string == msgid:
            continue
        # The text around placeholders (%(name)s, %d) must not show; short fragments would match data by chance.
        for fragment in re.split(r"%\(\w+\)[sd]|%[sd]", msgid):
            fragment = fragment.strip(" .,:;()→←")
            # A word the translation keeps on purpose (a "token" in "个 token") is no English left behind.
            if len(fragment) >= 4 and re.search(r"[A-Za-z]{3}", fragment) and fragment not in string:
                patterns.append((msgid, re.compile(r"(?<![\w-])" + re.escape(fragment) + r"(?![\w-])")))
    return patterns


def _slug(path: str) -> str:
    name = path.split("?")[0].removeprefix("/admin").strip("/")
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "dashboard"


@pytest.fixture
def tour(app, make_admin, live_server, page):
    """A live console over a month of demo traffic, an owner signed in, and one audited change to show."""
    make_admin(app, TOURIST, token=False, role="owner")
    with app.app_context():
        zone = usage_zone(app.config)
        seed.seed(db.engine, load_price_book(), zone, 1500, days=30)
        rollup.rollup_pending(db.engine, zone)
        audit.record("upstreams.add", "upstream", "deepseek", after={"base_url": "https://api.deepseek.com/v1"},
                     actor="cli:ops", address="cli")
        db.session.commit()
    base = live_server(app)
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    page.add_init_script(WATCH)
    page.goto(base + "/admin/login")
    page.fill("#username", TOURIST)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return base, page, messages


def _visit(page, url: str):
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    return response


def _no_violation(page, messages, path):
    assert page.evaluate("window.__violations") == [], path
    assert not [m for m in messages if "Content Security Policy" in m or "Refused to" in m], (path, messages)


def test_every_page_in_both_languages_is_whole_and_the_chinese_one_has_no_english_left(tour):
    base, page, messages = tour
    english = _english_words()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for language in ("en", "zh_CN"):
        _visit(page, f"{base}/language/{language}?next=/admin/")
        for path in PAGES:
            response = _visit(page, base + path)
            assert response.status == 200, path
            _no_violation(page, messages, path)
            assert page.evaluate("document.documentElement.lang") == language.replace("_", "-"), path
            page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-{language}.png"), full_page=True)
            if language == "zh_CN":
                text = page.evaluate(VISIBLE_TEXT)
                left = sorted({msgid for msgid, pattern in english if pattern.search(text)})
                assert left == [], f"{path} shows English strings on a Chinese page: {left}"


def test_every_page_fits_a_phone_screen(tour):
    base, page, messages = tour
    page.set_viewport_size(PHONE)
    for path in PAGES:
        _visit(page, base + path)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone's screen"
        assert page.evaluate("document.getElementById('menu').open") is False, "the menu folds on a phone"
        page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-en-phone.png"), full_page=True)
    page.click("#menu summary")
    assert page.locator("#menu nav a").first.is_visible()


def test_the_theme_button_turns_the_console_dark_and_it_stays_dark(tour):
    base, page, _messages = tour
    _visit(page, base + "/admin/")
    background = "getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    clicks = {"light": 1, "dark": 2}  # automatic (here: light) → light → dark
    for _ in range(clicks["dark"]):
        page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate(background)
    assert dark != light
    _visit(page, base + "/admin/audit")
    assert page.evaluate(background) == dark, "the choice is remembered on the next page"
    page.screenshot(path=str(SCREENSHOTS / "audit-en-dark.png"), full_page=True)
