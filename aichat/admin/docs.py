"""The files of docs/ as the console's help: their titles, and each one rendered as HTML (plain Python, no Flask)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

DOCS = Path(__file__).resolve().parents[2] / "docs"
INDEX = "README"  # docs/README.md is the index: the help's own list stands in for it
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
WEB = ("http", "https", "mailto")


@dataclass(frozen=True)
class Doc:
    name: str  # the file's name without .md: what the help's URL carries
    title: str  # its first heading, as plain text


@dataclass(frozen=True)
class Page:
    doc: Doc
    html: str


def docs(folder: Path | None = None) -> list[Doc]:
    """Every document in the folder but its index, in the index's order (any it does not link to last)."""
    files = _files(folder or DOCS)
    index = files.get(INDEX)
    order = _order(index, index.stat().st_mtime_ns) if index else ()
    found = [Doc(name, _title(path, path.stat().st_mtime_ns)) for name, path in files.items() if name != INDEX]
    return sorted(found, key=lambda doc: (order.index(doc.name) if doc.name in order else len(order), doc.title))


def page(name: str, base: str, folder: Path | None = None) -> Page | None:
    """The document called `name` as HTML, its links to other documents pointing under `base`; None if none is."""
    path = _files(folder or DOCS).get(name)
    if path is None or name == INDEX:
        return None
    mtime = path.stat().st_mtime_ns
    return Page(Doc(name, _title(path, mtime)), _rendered(path, mtime, base))


def render(text: str, base: str, names: frozenset[str] = frozenset()) -> str:
    """Markdown to HTML with any raw HTML escaped; a link to `x.md#a` among `names` becomes `{base}x#a`."""
    import markdown  # only when a help page is opened: serving workers never need it

    converter = markdown.Markdown(extensions=["tables", "fenced_code", "toc"], extension_configs={
        "tables": {"use_align_attribute": True},  # align="right", not a style attribute the CSP would refuse
        "toc": {"slugify": slug, "marker": ""},  # anchors only, no [TOC] marker
    })
    converter.preprocessors.deregister("html_block")  # raw HTML stays text, escaped like any text
    converter.inlinePatterns.deregister("html")
    converter.treeprocessors.register(_Links(base, names), "help_links", 0)  # last, after toc
    return converter.convert(text)


def slug(text: str, separator: str = "-") -> str:
    """A heading's anchor as GitHub makes it, so a `#anchor` means the same there and in the console."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", separator)


def _files(folder: Path) -> dict[str, Path]:
    """The documents by name: only what the folder holds can ever be opened, whatever a URL asks for."""
    return {path.stem: path for path in folder.glob("*.md") if NAME.fullmatch(path.stem) or path.stem == INDEX}


@lru_cache(maxsize=64)
def _title(path: Path, mtime: int) -> str:
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return match.group(1).replace("`", "") if match else path.stem


@lru_cache(maxsize=4)
def _order(index: Path, mtime: int) -> tuple[str, ...]:
    """The documents the index links to, in the order it names them first."""
    names = re.findall(r"\]\(([a-z0-9_-]+)\.md[#)]", index.read_text(encoding="utf-8"))
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=64)
def _rendered(path: Path, mtime: int, base: str) -> str:
    names = frozenset(_files(path.parent))
    return render(path.read_text(encoding="utf-8"), base, names)


def _target(href: str, base: str, names: frozenset[str]) -> str | None:
    """Where a link of a document leads in the help; None when the help cannot show it."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return href if parts.scheme in WEB else None
    if not parts.path:
        return href  # an anchor in the same document
    file = Path(parts.path)
    if "/" in parts.path or file.suffix != ".md" or file.stem not in names:
        return None  # a source file, or the project's README: not in the help
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return base + fragment if file.stem == INDEX else f"{base}{file.stem}{fragment}"


class _Links:
    """Links between documents lead to their help pages; any other link the help cannot follow becomes text."""

    def __init__(self, base: str, names: frozenset[str]):
        self.base, self.names = base, names

    def run(self, root) -> None:
        for link in root.iter("a"):
            target = _target(link.get("href", ""), self.base, self.names)
            if target is None:
                link.attrib.pop("href", None)
                link.tag = "span"
            else:
                link.set("href", target)
                if urlsplit(target).scheme in ("http", "https"):
                    link.set("rel", "noopener noreferrer")
