"""HTML: the main text of a page, with the heading path, without navigation and page furniture.

The content root is the first ``<main>``, else ``[role=main]``, else the only ``<article>``, else
``<body>``. Inside it, navigation, scripts, styles, forms, asides, hidden elements and permalink anchors
(Sphinx's ``¶``) are dropped; when falling back to ``<body>`` so are ``<header>``/``<footer>`` and
elements whose class or id says they are navigation, sidebars, menus, breadcrumbs or footers.

Blocks: each paragraph-level element (``p``, ``div`` text, ``dt``/``dd``, quotes...) is one block; a list
is one block with one line per item (``- `` or ``1. ``, nested items indented by two spaces); a table is
one block with one tab-separated line per row; ``<pre>`` is one block kept verbatim (newlines and
indentation). ``h1``–``h6`` set the heading path of the blocks after them. The title is ``<title>``, else
the first ``h1``. Doesn't handle: text rendered by JavaScript, frames, content in ``<template>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from ingest.loaders.clean import MAX_BLOCK_CHARS, normalize_line, split_long
from ingest.types import TextBlock

__all__ = ["parse_html"]

_DROP_TAGS = [
    "script", "style", "noscript", "template", "nav", "aside", "form", "button", "select", "textarea",
    "iframe", "svg", "canvas", "object", "embed", "audio", "video", "map", "head", "link", "meta",
]  # fmt: skip
_DROP_ROLES = {"navigation", "search", "complementary", "banner", "contentinfo", "menu", "menubar", "toolbar"}
_BOILERPLATE = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|sidebar|sphinxsidebar|footer|breadcrumbs?|related|"
    r"cookie|cookies|banner|skip-link|toc)(?:$|[-_\s])",
    re.I,
)
_PERMALINK_TEXT = {"¶", "#", "§", "🔗"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "address", "blockquote", "figure",
    "figcaption", "dl", "dt", "dd", "details", "summary", "center", "fieldset", "legend", "caption",
    "hr", "body", "html", "hgroup", "search",
}  # fmt: skip
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    style = (tag.get("style") or "").replace(" ", "").lower()  # type: ignore[union-attr]
    return "display:none" in style or "visibility:hidden" in style


def _content_root(soup: BeautifulSoup) -> tuple[Tag, bool]:
    """The element holding the page's main text, and whether it is the whole body (a fallback)."""
    for found in (soup.find("main"), soup.find(attrs={"role": "main"})):
        if isinstance(found, Tag):
            return found, False
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0], False
    body = soup.body or soup
    return body, True


def _prune(root: Tag, fallback: bool) -> None:
    for tag in root.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in root.find_all(True):
        if tag.decomposed:
            continue
        role = (tag.get("role") or "").lower()  # type: ignore[union-attr]
        if role in _DROP_ROLES or _is_hidden(tag):
            tag.decompose()
            continue
        if tag.name == "a" and tag.get_text(strip=True) in _PERMALINK_TEXT:
            tag.decompose()
            continue
        if "headerlink" in (tag.get("class") or []):
            tag.decompose()
            continue
        if fallback and tag.name in ("header", "footer"):
            tag.decompose()
            continue
        if fallback and tag.name in ("div", "section", "ul", "ol", "table", "p"):
            names = " ".join([*(tag.get("class") or []), tag.get("id") or ""])  # type: ignore[list-item]
            if names and _BOILERPLATE.search(names):
                tag.decompose()


class _Walker:
    """Walks the content tree once, collecting inline text and emitting blocks at block boundaries."""

    def __init__(self) -> None:
        self.blocks: list[TextBlock] = []
        self.headings: list[tuple[int, str]] = []
        self.first_h1: str | None = None
        self._inline: list[str] = []

    @property
    def heading(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.headings)

    def emit(self, text: str) -> None:
        if text.strip():
            self.blocks.extend(TextBlock(p, self.heading) for p in split_long(text, MAX_BLOCK_CHARS))

    def flush(self) -> None:
        if self._inline:
            lines = (normalize_line(line) for line in "".join(self._inline).split("\n"))
            self.emit("\n".join(line for line in lines if line))
            self._inline = []

    def walk(self, el: Tag) -> None:
        for child in el.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    self._inline.append(str(child).replace("\n", " "))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADINGS:
                self.flush()
                text = " ".join(child.get_text(" ").split())
                if text:
                    level = _HEADINGS[name]
                    while self.headings and self.headings[-1][0] >= level:
                        self.headings.pop()
                    self.headings.append((level, text))
                    if level == 1 and self.first_h1 is None:
                        self.first_h1 = text
            elif name == "pre":
                self.flush()
                self.emit(_pre_text(child))
            elif name in ("ul", "ol"):
                self.flush()
                self.emit("\n".join(_list_lines(child, 0)))
            elif name == "table":
                self.flush()
                self.emit("\n".join(_table_lines(child)))
            elif name == "br":
                self._inline.append("\n")
            elif name in _BLOCK_TAGS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)


def _pre_text(pre: Tag) -> str:
    text = pre.get_text().expandtabs(4).replace("\r\n", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _inline_text(el: Tag, skip: tuple[str, ...]) -> str:
    """Text of ``el`` without the subtrees named in ``skip``, whitespace collapsed."""
    parts: list[str] = []

    def visit(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    parts.append(str(child))
            elif isinstance(child, Tag) and child.name not in skip:
                if child.name in _BLOCK_TAGS or child.name in ("br", "li", "pre"):
                    parts.append(" ")
                visit(child)

    visit(el)
    return " ".join("".join(parts).split())


def _list_lines(lst: Tag, depth: int) -> Iterator[str]:
    ordered = lst.name == "ol"
    number = 1
    for li in lst.find_all("li", recursive=False):
        text = _inline_text(li, skip=("ul", "ol"))
        if text:
            marker = f"{number}." if ordered else "-"
            number += 1
            yield f"{'  ' * depth}{marker} {text}"
        for sub in li.find_all(["ul", "ol"]):
            if sub.find_parent("li") is li:  # direct nested lists only (not lists inside those)
                yield from _list_lines(sub, depth + 1)


def _table_lines(table: Tag) -> Iterator[str]:
    caption = table.find("caption")
    if isinstance(caption, Tag) and caption.find_parent("table") is table:
        text = _inline_text(caption, skip=())
        if text:
            yield text
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = [_inline_text(c, skip=()) for c in tr.find_all(["td", "th"], recursive=False)]
        if any(cells):
            yield "\t".join(cells)


def parse_html(data: bytes | str) -> tuple[list[TextBlock], str | None, str | None]:
    """``(blocks, title, encoding)`` of an HTML document; ``encoding`` is what the bytes were decoded from
    (``None`` for ``str`` input)."""
    soup = BeautifulSoup(data, "lxml")
    encoding = getattr(soup, "original_encoding", None)
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if isinstance(title_tag, Tag) else ""
    root, fallback = _content_root(soup)
    _prune(root, fallback)
    walker = _Walker()
    walker.walk(root)
    walker.flush()
    return walker.blocks, title or walker.first_h1, encoding
