"""Keep the Simplified Chinese catalog in step with the code: extract, update, compile, list what is untranslated.

    .venv/bin/python scripts/catalog.py [OTHER.po ...]

Strings marked with _(), gettext, ngettext, lazy_gettext (Python) and _() in templates are extracted into
aichat/translations/messages.pot; the zh_CN catalog is updated from it (new strings empty, none guessed),
then compiled to the .mo the app reads. Translations found in OTHER.po files fill strings still empty here
(that is how two branches' catalogs are joined). Exits 1 while any string has no translation.
"""
from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "aichat" / "translations"
LOCALE = "zh_CN"
# Babel reads zh_CN as zh_Hans_CN (script added) and looks for that folder.
PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "lazy_ngettext": (1, 2)}
METHODS = [("aichat/**.py", "python"), ("templates/**.html", "jinja2")]


def extract() -> Catalog:
    """Every marked string of the package and the templates, with where it is used."""
    template = Catalog(project="aichat", msgid_bugs_address="", charset="utf-8", fuzzy=False)
    options = {"templates/**.html": {"extensions": "jinja2.ext.do", "newstyle_gettext": "true"}}
    for path, lineno, message, comments, context in extract_from_dir(
            str(ROOT), METHODS, options_map=options, keywords=KEYWORDS, comment_tags=("NOTE:",)):
        if path.startswith(("aichat/translations", "node_modules")):
            continue
        template.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return template


def translated(message) -> bool:
    if isinstance(message.string, (tuple, list)):
        return bool(message.string) and all(message.string)
    return bool(message.string)


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=LOCALE)


def main(others: list[str]) -> int:
    template = extract()
    catalog = read(PO) if PO.exists() else Catalog(locale=LOCALE, project="aichat", fuzzy=False)
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()  # a string the code no longer uses is not kept
    for other in map(Path, others):
        for message in read(other):
            if not message.id or not translated(message):
                continue
            mine = catalog.get(message.id, message.context)
            if mine is not None and not translated(mine):
                mine.string = message.string
    catalog.fuzzy = False
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as f:
        write_po(f, catalog, width=0, omit_header=False, sort_output=True, include_previous=False)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    MO.write_bytes(compiled.getvalue())
    missing = [m for m in catalog if m.id and not translated(m)]
    total = sum(1 for m in catalog if m.id)
    print(f"{PO.relative_to(ROOT)}: {total} strings, {total - len(missing)} translated")
    for message in missing:
        where = ", ".join(f"{p}:{n}" for p, n in message.locations[:2])
        print(f"  untranslated: {message.id!r}  ({where})")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
