"""HTML: the text a reader of the page sees, with the heading path, without navigation and page furniture.

The content root is the first ``<main>``, else ``[role=main]``, else the only ``<article>``, else ``<body>``.
Inside it the *main text* is found by structure: starting at the root, descend into the child that holds at
least 75 % of the text outside links, as long as there is one (DocBook's ``div.chapter``, a theme's content
column). What is dropped is decided by structure too, never by a class name alone:

* what a reader never sees as text: scripts, styles, templates, form controls, media, ``<nav>``, elements
  with role ``navigation``/``search``/``menu``/``menubar``/``toolbar``, hidden elements, Sphinx's permalink
  anchors (``¶``) and "skip to content" links;
* link bars: an element with two or more previous/next/up/home/contents links (by ``rel``, ``accesskey``,
  link text or image ``alt``) and few other words (DocBook ``div.navheader``/``div.navfooter``, texinfo's
  node panels, Sphinx's ``div.related``);
* link lists (tables of contents, lists of tables, menus, breadcrumbs): a list (or a ``div``, ``table``...)
  whose text is at least 80 % link text, of two or more links into the same site, holding no paragraph of
  its own and not introduced by a paragraph of the text (a list of cross-references after "...in four
  stages:" is text); also a run of bare links one per line (grohtml's contents), and the label left behind
  ("Table of Contents");
* the page's own ``<header>``/``<footer>`` bars (roles ``banner``/``contentinfo``), not an article's;
* outside the main text only: blocks that are at least half link text, and small blocks (≤ 400 characters)
  whose class or id names them navigation, menus, footers, breadcrumbs or tables of contents
  (``div.sphinxsidebar``, ``div.footer``...).

Measured against ``w3m -dump`` of the same pages with their navigation cut out by hand, on the Debian
Reference (DocBook, 15 pages) and the Python FAQ (Sphinx, 8 pages): content words kept 0.997 / 0.999 and
navigation words indexed 0.0 %; trafilatura keeps 0.912 / 0.990 (0.52 on the contents page) and
readability-lxml 0.72 / 0.75, so neither replaces these rules.

So notes, tips, warnings, asides and DocBook/Publican ``div.sidebar`` boxes inside the text are kept, and
their own headings ("Note", "Warning") are kept as text without entering the heading path.

Blocks (:class:`~ingest.types.TextBlock`, ``kind`` in brackets): each paragraph-level element is one block
(``text``); a list is one block with one line per item (``- `` or ``1. ``, nested items indented by two
spaces; ``list``); a table is one block with one line per row, cells joined by ``" | "`` (``table``), except
that a row of a single cell holding paragraphs, lists or code (a layout table: DocBook's admonitions) is
read as blocks; a definition list gives one block per entry, the terms on their own lines followed by the
definition (``entry``; an entry over :data:`ENTRY_CHARS` keeps its terms with the definition's first
paragraph and the rest follows as blocks); ``<pre>`` is one block kept verbatim (``code``); captions are
blocks; an image's ``alt`` text is kept where it is the only text of its block or table cell.
``h1``–``h6`` set the heading path of the blocks after them. The title is ``<title>``, else the first
``h1``. Doesn't handle: text rendered by JavaScript, frames, content in ``<template>``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from bs4 import BeautifulSoup, NavigableString, Tag, XMLParsedAsHTMLWarning
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from ingest.loaders.clean import MAX_BLOCK_CHARS, normalize_line, split_long
from ingest.types import BlockKind, TextBlock

__all__ = ["ENTRY_CHARS", "parse_html"]

#: A definition-list entry up to this many characters is one block; a longer one keeps its terms with the
#: first paragraph of its definition (about the size of a chunk of 200-400 tokens).
ENTRY_CHARS = 2000

_DROP_TAGS = [
    "script", "style", "noscript", "template", "nav", "button", "select", "textarea", "input", "iframe",
    "svg", "canvas", "object", "embed", "audio", "video", "map", "head", "link", "meta", "dialog",
]  # fmt: skip
_DROP_ROLES = {"navigation", "search", "menu", "menubar", "toolbar"}
_BAR_ROLES = {"banner", "contentinfo"}
_HIDDEN_CLASSES = {"sr-only", "visually-hidden", "screen-reader-text", "hidden", "d-none"}
# Outside the main text, a small block whose class or id says this is navigation is dropped.
_NAV_NAME = re.compile(
    r"nav|menu|footer|breadcrumb|sphinxsidebar|related|skip|cookie|banner|masthead|toc|header|pager|"
    r"crumbs|topbar|toolbar|social|share",
    re.I,
)
# Boxes whose headings are labels ("Note", "Warning", a sidebar's title), not sections of the document.
_BOX_NAME = re.compile(
    r"\b(?:note|tip|hint|warning|caution|important|danger|attention|error|sidebar|admonition|callout|"
    r"seealso|topic|aside)\b",
    re.I,
)
_NAV_WORDS = {
    "prev", "previous", "next", "up", "home", "top", "back", "forward", "contents", "index", "toc",
    "table of contents", "first", "last", "previous page", "next page", "previous topic", "next topic",
    "previous chapter", "next chapter", "back to top", "go to top", "start", "parent", "up one level",
}  # fmt: skip
_NAV_RELS = {"prev", "previous", "next", "up", "home", "start", "first", "last", "contents", "index", "top"}
_NAV_KEYS = {"p", "n", "u", "h"}
_SKIP_LINK = re.compile(r"^(?:skip|jump)\b.*\b(?:to|navigation|content|main)\b", re.I)
_WORD = re.compile(r"\w+")
_PERMALINK_TEXT = {"¶", "#", "§", "🔗"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "address", "blockquote", "figure",
    "figcaption", "dt", "dd", "details", "summary", "center", "fieldset", "legend", "caption", "aside",
    "hr", "body", "html", "hgroup", "search", "form", "li", "tr", "td", "th", "tbody", "thead", "tfoot",
}  # fmt: skip
# Elements a link-density decision applies to (not inline ones: a paragraph that is one link stays).
_CONTAINERS = {
    "div", "section", "ul", "ol", "dl", "table", "aside", "header", "footer", "menu", "center", "p",
    "tbody", "form", "span", "td", "article",
}  # fmt: skip
# Elements the main text can be found in (a paragraph or a list is part of the text, not its container).
_WRAPPERS = {
    "div",
    "section",
    "article",
    "main",
    "center",
    "form",
    "table",
    "tbody",
    "tr",
    "td",
    "th",
    "font",
}
_NAMED_BLOCKS = {
    "div",
    "section",
    "ul",
    "ol",
    "dl",
    "table",
    "aside",
    "header",
    "footer",
    "menu",
    "center",
    "form",
}
_LIST_LIKE = {"div", "section", "ul", "ol", "dl", "table", "aside", "menu", "center", "tbody"}
_CELL_BLOCKS = {"p", "pre", "ul", "ol", "dl", "div", "table", "blockquote", *_HEADINGS}
_SECTIONING = ["article", "section", "aside", "main", "nav", "blockquote", "details", "dialog", "td"]
# Links are marked in the walker's inline text (private-use characters, removed before a block is emitted)
# so that a run of bare links one per line, with no list around it, can be told from text.
_LINK_OPEN, _LINK_OPEN_OUT, _LINK_CLOSE = "\ue000", "\ue001", "\ue002"
_LINK_MARK = re.compile("[\ue000-\ue002]")
_ONE_INTERNAL_LINK = re.compile("[\\s\\W]*\ue000([^\ue000-\ue002]*)\ue002[\\s\\W]*")
_LIST_MIN_LINK_LINES = 3
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)

_MAIN_SHARE = 0.75  # a child holding this share of its parent's non-link text is where the main text is
_LIST_LINK_SHARE = 0.8  # a link list is at least this much link text...
_LIST_MIN_LINKS = 2  # ...of at least this many links...
_LIST_MAX_PROSE = 150  # ...and holds no paragraph of more non-link characters than this
_PROSE_CHARS = 40  # ...and is not introduced by a paragraph of at least this many characters
_LABEL_CHARS = 40  # a box left with this little text once its links went held only their label
_OUTSIDE_LINK_SHARE = 0.5  # outside the main text, a block half of whose text is links is navigation
_OUTSIDE_NAMED_CHARS = 400  # outside the main text, a block named navigation/footer... up to this size goes
_BAR_MAX_WORDS = 25  # a link bar has at most this many words outside its links (titles of the next pages)
_BAR_MAX_WORDS_INSIDE = 5


# ------------------------------------------------------------------------------------------- statistics
@dataclass
class _Stats:
    chars: int = 0  # visible characters, white space excluded
    link_chars: int = 0  # of which inside links
    links: int = 0
    internal: int = 0  # links into the same site (relative or "#...")
    nav_links: int = 0  # previous/next/up/home/contents links
    words: int = 0  # words outside links
    prose: int = 0  # non-link characters of the largest block inside that is not mostly links (or code)

    @property
    def text_chars(self) -> int:
        return self.chars - self.link_chars

    @property
    def link_share(self) -> float:
        return self.link_chars / self.chars if self.chars else 0.0


def _link_kind(a: Tag) -> tuple[bool, bool]:
    """``(internal, navigation)`` for a link ``<a href>``."""
    href = str(a.get("href") or "").strip()
    internal = not re.match(r"^(?:[a-z][a-z0-9+.-]*:|//)", href, re.I)
    rels = {str(r).lower() for r in (a.get("rel") or [])}
    if rels & _NAV_RELS or str(a.get("accesskey") or "").lower() in _NAV_KEYS:
        return internal, True
    label = a.get_text(" ", strip=True) or " ".join(str(img.get("alt") or "") for img in a.find_all("img"))
    label = re.sub(r"[\W_]+", " ", label.casefold()).strip()
    arrows = re.fullmatch(r"\s*(?:«|»|<<|>>|←|→|‹|›|<|>|\^|↑)+\s*", a.get_text(strip=True) or "x")
    return internal, bool(arrows) or label in _NAV_WORDS


def _collect_stats(root: Tag) -> dict[int, _Stats]:
    """Statistics of every element under ``root`` (and of ``root``), children before parents: O(n)."""
    stats: dict[int, _Stats] = {}
    tags = [root, *root.find_all(True)]
    for tag in reversed(tags):
        s = _Stats()
        child_prose = 0
        for child in tag.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    text = str(child)
                    s.chars += sum(1 for c in text if not c.isspace())
                    s.words += len(_WORD.findall(text))
            elif isinstance(child, Tag):
                c = stats.get(id(child))
                if c is None:
                    continue
                s.chars += c.chars
                s.link_chars += c.link_chars
                s.links += c.links
                s.internal += c.internal
                s.nav_links += c.nav_links
                s.words += c.words
                child_prose = max(child_prose, c.prose)
        if tag.name == "a" and tag.has_attr("href"):
            internal, nav = _link_kind(tag)
            s.link_chars = s.chars
            s.links += 1
            s.internal += int(internal)
            s.nav_links += int(nav)
            s.words = 0
        own = s.chars if tag.name == "pre" else s.text_chars if s.link_share < _OUTSIDE_LINK_SHARE else 0
        s.prose = max(child_prose, own)  # code counts whole: a synopsis of linked names is no link list
        stats[id(tag)] = s
    return stats


# ---------------------------------------------------------------------------------------------- pruning
def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    if _HIDDEN_CLASSES & set(tag.get("class") or []):
        return True
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _names(tag: Tag) -> str:
    return " ".join([*(str(c) for c in tag.get("class") or []), str(tag.get("id") or "")])


def _gather_stray(soup: BeautifulSoup) -> None:
    """Move content found after ``</html>`` (lxml makes a second ``<html>`` of it; grohtml writes pages
    so) into the body, where a browser shows it."""
    pages = soup.find_all("html", recursive=False)
    body = soup.body
    if len(pages) < 2 or body is None:
        return
    for extra in pages[1:]:
        for child in list(extra.children):
            if isinstance(child, Tag) and child.name in ("body", "head"):
                if child.name == "body":
                    for inner in list(child.children):
                        body.append(inner.extract())
                continue
            body.append(child.extract())
        extra.decompose()


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


def _main_text(root: Tag, stats: dict[int, _Stats]) -> list[Tag]:
    """The chain of elements from ``root`` down to the one holding the main text (see the module docstring)."""
    chain = [root]
    while True:
        here = stats[id(chain[-1])].text_chars
        best = max(
            (c for c in chain[-1].children if isinstance(c, Tag) and id(c) in stats and c.name in _WRAPPERS),
            key=lambda c: stats[id(c)].text_chars,
            default=None,
        )
        if best is None or here == 0 or stats[id(best)].text_chars < _MAIN_SHARE * here:
            return chain
        chain.append(best)


def _drop_invisible(root: Tag) -> None:
    for tag in root.find_all(_DROP_TAGS):
        tag.decompose()
    for form in root.find_all("form"):  # a search box, not a page wrapped in a form (ASP.NET)
        if not form.decomposed and len(form.get_text(" ", strip=True)) < 200:
            form.decompose()
    for tag in root.find_all(True):
        if tag.decomposed:
            continue
        role = str(tag.get("role") or "").lower()
        if role in _DROP_ROLES or _is_hidden(tag) or (tag.name == "a" and _is_permalink_or_skip_link(tag)):
            tag.decompose()


def _is_permalink_or_skip_link(a: Tag) -> bool:
    """Sphinx's "¶" anchors beside headings, and "Skip to content" links."""
    text = a.get_text(" ", strip=True)
    if text in _PERMALINK_TEXT or "headerlink" in (a.get("class") or []):
        return True
    return str(a.get("href") or "").startswith("#") and bool(_SKIP_LINK.match(text))


def _introduced_by_prose(tag: Tag, stats: dict[int, _Stats]) -> bool:
    """Whether the element just before ``tag`` (or before the wrapper it opens) is a paragraph of prose: a
    list of links that a sentence introduces ("...in four stages:") is part of the text, not a contents list."""
    node = tag
    while True:
        prev = node.find_previous_sibling(True)
        if prev is not None:
            s = stats.get(id(prev))
            return prev.name == "p" and s is not None and s.text_chars >= _PROSE_CHARS
        node = node.parent
        if node is None or id(node) not in stats or node.name in ("body", "main", "article", "section"):
            return False


def _is_navigation(tag: Tag, s: _Stats, outside: bool, fallback: bool, stats: dict[int, _Stats]) -> bool:
    """Whether ``tag`` (with statistics ``s``) is navigation; ``outside``: it lies outside the main text."""
    name = tag.name
    if s.nav_links >= 2 and s.words <= (_BAR_MAX_WORDS if outside else _BAR_MAX_WORDS_INSIDE):
        return name in _CONTAINERS
    if s.chars == 0:
        return False
    if (
        name in _LIST_LIKE
        and s.links >= _LIST_MIN_LINKS
        and s.link_share >= _LIST_LINK_SHARE
        and s.internal >= _LIST_LINK_SHARE * s.links
        and s.prose <= _LIST_MAX_PROSE
        and (outside or not _introduced_by_prose(tag, stats))
    ):
        return True
    role = str(tag.get("role") or "").lower()
    if name in ("header", "footer") or role in _BAR_ROLES:
        # the page's own header/footer bar (not an article's or a section's); a page header holding the
        # page's heading stays unless it lies outside the main text of a page without <main>
        page_level = tag.find_parent(_SECTIONING) is None
        if outside or page_level:
            return name == "footer" or role == "contentinfo" or fallback or not tag.find(list(_HEADINGS))
        return False
    if not outside or name not in _CONTAINERS:
        return False
    if s.links and s.link_share >= _OUTSIDE_LINK_SHARE and s.prose <= _LIST_MAX_PROSE:
        return True
    if name not in _NAMED_BLOCKS:
        return False  # an inline <span class="guimenu"> is text
    names = _names(tag)
    return bool(names.strip()) and bool(_NAV_NAME.search(names)) and s.text_chars <= _OUTSIDE_NAMED_CHARS


def _prune(root: Tag, fallback: bool) -> None:
    _drop_invisible(root)
    stats = _collect_stats(root)
    chain = _main_text(root, stats)
    on_chain = {id(t) for t in chain}
    main = chain[-1]

    def visit(tag: Tag, outside: bool) -> bool:
        """Prune under ``tag``; whether anything was dropped."""
        dropped = False
        for child in list(tag.children):
            if not isinstance(child, Tag):
                continue
            s = stats.get(id(child))
            if s is None:
                continue
            if id(child) in on_chain:
                dropped |= visit(child, child is not main)
            elif _is_navigation(child, s, outside, fallback, stats):
                child.decompose()
                dropped = True
            elif visit(child, outside):
                dropped = True
                # what is left of a box whose link list went is its label ("Table of Contents"): drop it too
                if child.name in _LIST_LIKE and len(child.get_text(" ", strip=True)) <= _LABEL_CHARS \
                        and not child.find(["img", "pre", *_HEADINGS]):  # fmt: skip
                    child.decompose()
        return dropped

    visit(root, root is not main)


# ---------------------------------------------------------------------------------------------- walking
class _Walker:
    """Walks the content tree once, collecting inline text and emitting blocks at block boundaries."""

    def __init__(self, headings: list[tuple[int, str]] | None = None) -> None:
        self.blocks: list[TextBlock] = []
        self.headings: list[tuple[int, str]] = list(headings or [])
        self.first_h1: str | None = None
        self._inline: list[str] = []
        self._alts: list[str] = []
        self._in_box = 0  # inside a note/tip/sidebar box: its headings are labels

    @property
    def heading(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.headings)

    def emit(self, text: str, kind: BlockKind = "text") -> None:
        if text.strip():
            self.blocks.extend(
                TextBlock(p, self.heading, kind=kind) for p in split_long(text, MAX_BLOCK_CHARS)
            )

    def flush(self) -> None:
        text = "".join(self._inline)
        if not _LINK_MARK.sub("", text).strip() and self._alts:
            text = " ".join(self._alts)
        self._inline, self._alts = [], []
        if _is_link_lines(text):
            return  # links one per line and nothing else, outside any list: a table of contents (grohtml)
        text = _LINK_MARK.sub("", text)
        if text.strip():
            lines = (normalize_line(line) for line in text.split("\n"))
            self.emit("\n".join(line for line in lines if line))

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
                if text and self._in_box:
                    self.emit(text)
                elif text:
                    level = _HEADINGS[name]
                    while self.headings and self.headings[-1][0] >= level:
                        self.headings.pop()
                    self.headings.append((level, text))
                    if level == 1 and self.first_h1 is None:
                        self.first_h1 = text
            elif name == "pre":
                self.flush()
                self.emit(_pre_text(child), "code")
            elif name in ("ul", "ol", "menu"):
                self.flush()
                self.emit("\n".join(_list_lines(child, 0)), "list")
            elif name == "table":
                self.flush()
                self._table(child)
            elif name == "dl":
                self.flush()
                self._definitions(child)
            elif name == "img":
                alt = " ".join(str(child.get("alt") or "").split())
                if alt:
                    self._alts.append(alt)
            elif name == "br":
                self._inline.append("\n")
            elif name == "a" and child.has_attr("href"):
                internal, _ = _link_kind(child)
                self._inline.append(_LINK_OPEN if internal else _LINK_OPEN_OUT)
                self.walk(child)
                self._inline.append(_LINK_CLOSE)
            elif name in _BLOCK_TAGS:
                self.flush()
                box = name == "aside" or bool(_BOX_NAME.search(_names(child)))
                self._in_box += box
                self.walk(child)
                self.flush()
                self._in_box -= box
            else:
                self.walk(child)

    def _sub_blocks(self, el: Tag) -> list[TextBlock]:
        """The blocks of ``el`` walked on its own, under the current heading path (its headings stay inside)."""
        sub = _Walker(self.headings)
        sub._in_box = self._in_box
        sub.walk(el)
        sub.flush()
        return sub.blocks

    def _table(self, table: Tag) -> None:
        lines: list[str] = []

        def rows_out() -> None:
            if lines:
                self.emit("\n".join(lines), "table")
                lines.clear()

        caption = table.find("caption")
        if isinstance(caption, Tag) and caption.find_parent("table") is table:
            text = _inline_text(caption)
            if text:
                self.emit(text)
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue
            cells = tr.find_all(["td", "th"], recursive=False)
            texts = [_inline_text(c) for c in cells]
            full = [c for c, t in zip(cells, texts, strict=True) if t]
            if len(full) == 1 and full[0].find(list(_CELL_BLOCKS)):
                rows_out()  # one cell holding paragraphs: a layout row, read as blocks
                self.blocks.extend(self._sub_blocks(full[0]))
                continue
            # an image's alt text stands for an empty cell, unless it repeats a cell beside it ("[Tip]" | "Tip")
            shown = {re.sub(r"[\W_]+", "", t).casefold() for t in texts if t}
            for k, (cell, text) in enumerate(zip(cells, texts, strict=True)):
                alt = "" if text else _alt_text(cell)
                if alt and re.sub(r"[\W_]+", "", alt).casefold() not in shown:
                    texts[k] = alt
            full_texts = [t for t in texts if t]
            if len(full_texts) == 1:
                lines.append(full_texts[0])
            elif full_texts:
                lines.append(" | ".join(texts))
        rows_out()

    def _definitions(self, dl: Tag) -> None:
        """One block per entry: terms (``dt``) with their definition (``dd``s)."""
        entries: list[tuple[list[Tag], list[Tag]]] = []
        for item in _dl_items(dl):
            if item.name == "dt":
                if not entries or entries[-1][1]:
                    entries.append(([], []))
                entries[-1][0].append(item)
            else:
                if not entries:
                    entries.append(([], []))
                entries[-1][1].append(item)
        for terms, definitions in entries:
            term_lines = [t for t in (" ".join(_inline_text(dt).split()) for dt in terms) if t]
            parts: list[TextBlock] = []
            for dd in definitions:
                parts.extend(self._sub_blocks(dd))
            size = sum(len(t) + 1 for t in term_lines) + sum(len(p.text) + 1 for p in parts)
            if size <= ENTRY_CHARS:
                self.emit("\n".join([*term_lines, *(p.text for p in parts)]), "entry")
                continue
            head = parts[0].text if parts else ""
            self.emit("\n".join([*term_lines, head] if head else term_lines), "entry")
            self.blocks.extend(parts[1:])


def _is_link_lines(text: str) -> bool:
    """Whether inline ``text`` (links marked) is three or more lines each made of one link into the site."""
    lines = [line for line in text.split("\n") if _LINK_MARK.sub("", line).strip()]
    if len(lines) < _LIST_MIN_LINK_LINES:
        return False
    for line in lines:
        m = _ONE_INTERNAL_LINK.fullmatch(line)
        if m is None or _LINK_MARK.search(m.group(1)):
            return False
    return True


def _dl_items(dl: Tag) -> Iterator[Tag]:
    """The ``dt``/``dd`` of a ``dl``, also inside the ``div`` wrappers HTML allows around groups."""
    for child in dl.children:
        if isinstance(child, Tag):
            if child.name in ("dt", "dd"):
                yield child
            elif child.name == "div":
                yield from _dl_items(child)


def _pre_text(pre: Tag) -> str:
    for br in pre.find_all("br"):  # gtk-doc writes line breaks inside <pre> as <br/>
        br.replace_with("\n")
    text = pre.get_text().expandtabs(4).replace("\r\n", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _alt_text(el: Tag) -> str:
    return " ".join(" ".join(str(img.get("alt") or "") for img in el.find_all("img")).split())


def _inline_text(el: Tag, skip: tuple[str, ...] = ()) -> str:
    """Text of ``el`` without the subtrees named in ``skip``, whitespace collapsed."""
    parts: list[str] = []

    def visit(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    parts.append(str(child))
            elif isinstance(child, Tag) and child.name not in skip:
                if child.name in _BLOCK_TAGS or child.name in ("br", "li", "pre", "dl", "ul", "ol", "table"):
                    parts.append(" ")
                visit(child)

    visit(el)
    return " ".join("".join(parts).split())


def _list_lines(lst: Tag, depth: int) -> Iterator[str]:
    ordered = lst.name == "ol"
    number = 1
    for li in lst.find_all("li", recursive=False):
        text = _inline_text(li, skip=("ul", "ol")) or _alt_text(li)
        if text:
            marker = f"{number}." if ordered else "-"
            number += 1
            yield f"{'  ' * depth}{marker} {text}"
        for sub in li.find_all(["ul", "ol"]):
            if sub.find_parent("li") is li:  # direct nested lists only (not lists inside those)
                yield from _list_lines(sub, depth + 1)


def parse_html(data: bytes | str) -> tuple[list[TextBlock], str | None, str | None]:
    """``(blocks, title, encoding)`` of an HTML document; ``encoding`` is what the bytes were decoded from
    (``None`` for ``str`` input)."""
    with warnings.catch_warnings():  # XHTML pages (gtk-doc, DocBook) parse fine as HTML
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(data, "lxml")
    encoding = getattr(soup, "original_encoding", None)
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if isinstance(title_tag, Tag) else ""
    _gather_stray(soup)
    root, fallback = _content_root(soup)
    _prune(root, fallback)
    walker = _Walker()
    walker.walk(root)
    walker.flush()
    return walker.blocks, title or walker.first_h1, encoding
