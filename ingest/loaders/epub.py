"""EPUB 2 and 3: the chapters in reading (spine) order, each read like an HTML page, under its title.

The package is read with :mod:`zipfile` and lxml, not a library such as ebooklib: on a broken book
(a spine item missing from the archive, a package file that is not XML) ebooklib 0.20 raises and reads
nothing (``KeyError``, ``TypeError``), where a reader wants the chapters that are there. So
``META-INF/container.xml`` names the package (OPF) file; its spine gives the chapters in order; the
navigation document's ``toc`` list (EPUB 3), else the NCX (EPUB 2), gives their titles. Each chapter's XHTML
goes through :func:`~ingest.loaders.html.parse_html`, so headings, lists, tables, notes and code are kept as
for an HTML page, and the chapter's title from the table of contents heads its blocks (unless its own first
heading says the same). Chapters are read one at a time, so memory is one chapter. The title is the book's
``dc:title``.

A broken book is read as far as it goes, with a warning: spine items missing from the archive are skipped
and the XHTML files the spine does not list are read after the rest (a chapter stored under another
name); a missing or unreadable container or package file, or a spine that names nothing readable, falls
back to every XHTML file in the order they are stored. Nothing readable at all is a
:class:`~ingest.types.LoadError` naming what is wrong; so is a book whose chapters are encrypted (DRM).
Doesn't handle: fixed-layout (image) books, text in SVG, footnotes placed where they are referenced.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from ingest.loaders.clean import normalize_line
from ingest.types import LoadError, TextBlock

__all__ = ["Chapter", "EpubBook", "iter_epub_blocks", "read_epub"]

_HTML_TYPES = {"application/xhtml+xml", "text/html"}
_HTML_SUFFIXES = (".xhtml", ".html", ".htm")


@dataclass(frozen=True)
class Chapter:
    name: str  # the member of the archive
    title: str | None  # from the table of contents


@dataclass
class EpubBook:
    title: str | None
    chapters: list[Chapter]
    warnings: list[str]


def _xml(data: bytes, *, recover: bool = False):  # noqa: ANN202 - lxml.etree._Element
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=recover)
    root = etree.fromstring(data, parser)
    if root is None:
        raise ValueError("empty XML document")
    return root


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el, name: str) -> list:  # noqa: ANN001
    return [c for c in el.iter() if _local(c.tag) == name]


def _text(el) -> str:  # noqa: ANN001
    return normalize_line(" ".join("".join(el.itertext()).split()))


class _Members:
    """The archive's member names, found exactly or, failing that, ignoring case."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.names = [i.filename for i in archive.infolist() if not i.is_dir()]
        self._exact = set(self.names)
        self._folded = {n.casefold(): n for n in reversed(self.names)}

    def find(self, name: str) -> str | None:
        return name if name in self._exact else self._folded.get(name.casefold())


def _resolve(base: str, href: str) -> str:
    """The archive path of ``href`` (relative, maybe %-escaped, maybe with a #fragment) in file ``base``."""
    path = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), path)).lstrip("/")


def _toc_titles(archive: zipfile.ZipFile, members: _Members, nav: str | None, ncx: str | None) -> dict[str, str]:
    """Chapter file → its first title in the table of contents (EPUB 3 nav, else NCX); {} when unreadable."""
    titles: dict[str, str] = {}
    for name, kind in ((nav, "nav"), (ncx, "ncx")):
        found = members.find(name) if name else None
        if found is None:
            continue
        try:
            root = _xml(archive.read(found), recover=True)
        except Exception:  # a table of contents we cannot read only costs the chapter titles
            continue
        if kind == "nav":
            navs = _children(root, "nav")
            tocs = [n for n in navs if any("toc" in str(v).split() for k, v in n.attrib.items() if k.endswith("type"))]
            links = [(a.get("href"), _text(a)) for n in (tocs or navs[:1]) for a in _children(n, "a")]
        else:
            links = []
            for point in _children(root, "navPoint"):
                labels, contents = _children(point, "text"), [c for c in point if _local(c.tag) == "content"]
                if labels and contents:
                    links.append((contents[0].get("src"), _text(labels[0])))
        for href, label in links:
            if href and label:
                target = members.find(_resolve(found, href))
                if target is not None:
                    titles.setdefault(target, label)
        if titles:
            return titles
    return titles


def _is_html(name: str) -> bool:
    return name.lower().endswith(_HTML_SUFFIXES) and not name.startswith("META-INF/")


def read_epub(archive: zipfile.ZipFile, source: str) -> EpubBook:
    """The chapters of an EPUB and its title (see the module docstring); raises :class:`LoadError` when
    nothing is readable or the chapters are encrypted."""
    members = _Members(archive)
    warnings: list[str] = []
    title: str | None = None
    chapters: list[Chapter] = []
    try:
        container = _xml(archive.read("META-INF/container.xml"))
        rootfiles = [r.get("full-path") for r in _children(container, "rootfile") if r.get("full-path")]
        if not rootfiles:
            raise ValueError("META-INF/container.xml names no package file")
        opf_name = members.find(unquote(rootfiles[0]).lstrip("/"))
        if opf_name is None:
            raise ValueError(f"package file {rootfiles[0]} missing")
        opf = _xml(archive.read(opf_name))
        titles = [t for t in (_text(el) for el in _children(opf, "title")) if t]
        title = titles[0] if titles else None
        manifest = {item.get("id"): item for item in _children(opf, "item") if item.get("id") and item.get("href")}
        nav_item = next((i for i in manifest.values() if "nav" in (i.get("properties") or "").split()), None)
        spine = next(iter(_children(opf, "spine")), None)
        if spine is None:
            raise ValueError("the package file has no spine")
        ncx_item = manifest.get(spine.get("toc") or "")
        if ncx_item is None:
            ncx_item = next((i for i in manifest.values() if i.get("media-type") == "application/x-dtbncx+xml"), None)
        nav_doc = _resolve(opf_name, nav_item.get("href")) if nav_item is not None else None
        ncx_doc = _resolve(opf_name, ncx_item.get("href")) if ncx_item is not None else None
        toc = _toc_titles(archive, members, nav_doc, ncx_doc)
        missing: list[str] = []
        listed: set[str] = set()
        for ref in _children(spine, "itemref"):
            item = manifest.get(ref.get("idref"))
            if item is None:
                missing.append(f"item {ref.get('idref')!r}")
                continue
            path = _resolve(opf_name, item.get("href"))
            found = members.find(path)
            if found is None:
                missing.append(path)
            elif found not in listed and (item.get("media-type") in _HTML_TYPES or _is_html(found)):
                listed.add(found)
                chapters.append(Chapter(found, toc.get(found)))
        if not chapters:
            raise ValueError("its spine names no chapter in the archive" + (f" ({missing[0]}...)" if missing else ""))
        if missing:
            nav_found = members.find(nav_doc) if nav_doc else None
            unlisted = [n for n in members.names if _is_html(n) and n not in listed and n != nav_found]
            more = f"; read the {len(unlisted)} XHTML file(s) the spine does not list after the rest" if unlisted else ""
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            warnings.append(f"broken EPUB spine: {shown} missing from the archive{more}")
            chapters += [Chapter(n, toc.get(n)) for n in unlisted]
    except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        problem = _one_line(e)
        chapters = [Chapter(n, None) for n in members.names if _is_html(n)]
        if not chapters:
            raise LoadError(
                source, f"EPUB without readable chapters ({problem}; no XHTML files in the archive); re-export it"
            ) from None
        warnings.append(f"broken EPUB package ({problem}); read the {len(chapters)} XHTML file(s) in stored order")
    _refuse_drm(archive, members, {c.name for c in chapters}, source)
    return EpubBook(title, chapters, warnings)


def _one_line(e: BaseException) -> str:
    if isinstance(e, KeyError) and e.args:  # zipfile: "There is no item named 'x' in the archive"
        m = re.search(r"named '(.*)'", str(e.args[0]))
        return f"{m.group(1) if m else e.args[0]} missing"
    return " ".join(str(e).split())[:200] or type(e).__name__


def _refuse_drm(archive: zipfile.ZipFile, members: _Members, chapters: set[str], source: str) -> None:
    """Raise when ``META-INF/encryption.xml`` lists chapters (fonts obfuscated by the publisher are fine)."""
    found = members.find("META-INF/encryption.xml")
    if found is None:
        return
    try:
        root = _xml(archive.read(found), recover=True)
    except Exception:
        return
    for ref in _children(root, "CipherReference"):
        uri = ref.get("URI")
        if uri and members.find(_resolve("", uri)) in chapters:
            raise LoadError(source, "encrypted (DRM-protected) EPUB: its chapters cannot be read; use a copy without DRM")


def _same(a: str, b: str) -> bool:
    a, b = " ".join(a.casefold().split()), " ".join(b.casefold().split())
    return a == b or (len(a) > 2 and len(b) > 2 and (a in b or b in a))


def iter_epub_blocks(archive: zipfile.ZipFile, book: EpubBook) -> Iterator[TextBlock]:
    """The blocks of each chapter in turn; a chapter that cannot be inflated is skipped with a warning.
    Closes ``archive`` when done."""
    from ingest.loaders.html import parse_html

    try:
        for chapter in book.chapters:
            try:
                data = archive.read(chapter.name)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
                book.warnings.append(f"chapter {chapter.name} unreadable ({_one_line(e)}); skipped")
                continue
            blocks, _title, _encoding = parse_html(data)
            for block in blocks:
                heading = block.heading
                if chapter.title and not (heading and _same(heading[0], chapter.title)):
                    heading = (chapter.title, *heading)
                yield TextBlock(block.text, heading, kind=block.kind)
    finally:
        archive.close()
