"""The README and docs/: every relative link leads to a file, every #anchor to a heading, and the README stays a door."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: the text lower-cased, punctuation dropped, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").replace("**", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with code spans blanked (they hold no links)."""
    fenced = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, CODE_SPAN.sub(lambda m: m.group(1) + "x" * len(m.group(2)) + m.group(1), line)


def headings(text: str) -> list[str]:
    """The headings' text, in order (never a `#` line inside a code block)."""
    lines = text.split("\n")
    return [m.group(2) for number, _ in prose_lines(text) if (m := HEADING.match(lines[number - 1]))]


def anchors(path: Path) -> list[str]:
    return [slug(h) for h in headings(path.read_text())]


def links(path: Path) -> list[tuple[int, str]]:
    """Every link target in the file's prose, with its line number."""
    return [(number, m.group(1)) for number, line in prose_lines(path.read_text()) for m in LINK.finditer(line)]


def broken_links(path: Path) -> list[str]:
    """What is wrong with the file's relative links and anchors, one line each."""
    problems = []
    for number, target in links(path):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # another site's page: not ours to check
        where, _, fragment = target.partition("#")
        file = (path.parent / where).resolve() if where else path
        if not file.exists():
            problems.append(f"{path.name}:{number}: {target}: no file {where}")
        elif fragment and file.suffix != ".md":
            problems.append(f"{path.name}:{number}: {target}: an anchor into a file that is not Markdown")
        elif fragment and fragment not in anchors(file):
            problems.append(f"{path.name}:{number}: {target}: no heading in {file.name} makes #{fragment}")
    return problems


def test_there_are_docs_to_check():
    assert len(DOCS) >= 10 and (ROOT / "docs" / "README.md") in DOCS
    assert sum(len(links(p)) for p in [README, *DOCS]) > 100, "the link finder finds no links: it would prove nothing"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_two_headings_of_a_file_make_one_anchor(path):
    """GitHub and the console number a repeated anchor differently, so a repeated one would mean two things."""
    found = anchors(path)
    assert sorted({a for a in found if found.count(a) > 1}) == []


def test_the_checker_sees_a_broken_file_a_broken_anchor_and_ignores_code(tmp_path):
    """Can the check fail? A missing file and a missing heading are caught; links in code are not links."""
    (tmp_path / "other.md").write_text("# Other\n\n## Real `heading`: yes\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#real-heading-yes) [self](#page) [gone](missing.md) "
                    "[no](other.md#nothing) [web](https://example.com/#x)\n\n`[code](nowhere.md)`\n\n"
                    "```\n[fenced](nowhere.md)\n# not a heading\n```\n")
    assert broken_links(page) == ["page.md:3: missing.md: no file missing.md",
                                  "page.md:3: other.md#nothing: no heading in other.md makes #nothing"]
    assert anchors(page) == ["page"]


def test_slugs_are_githubs():
    assert slug("Metrics (`GET /metrics`)") == "metrics-get-metrics"
    assert slug("`GET /api/v1/ai-monitoring/quota[?site_domain=…]`") == "get-apiv1ai-monitoringquotasite_domain"
    assert slug("Options (data- attributes of the script tag)") == "options-data--attributes-of-the-script-tag"
    assert slug("Redis: shared health and limits") == "redis-shared-health-and-limits"


def test_the_readme_is_a_door_with_the_two_commands():
    """The README stays short (the reference lives in docs/) and keeps the commands CI and users run."""
    text = README.read_text()
    assert len(text.splitlines()) <= 300, "the README is the door: move reference material to docs/"
    assert "make run    # installs everything into .venv, applies migrations, serves http://127.0.0.1:5000" in text
    assert "make test   # runs every test, on SQLite and on PostgreSQL side by side" in text
    assert "docs/screenshots/console/" in text and "docs/screenshots/widget/" in text
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert [p.name for p in DOCS if p.resolve() not in linked] == [], "every document is linked from the README"
