"""Markdown, streamed line by line: paragraphs with the heading path above them.

Handles: ATX headings (``# Title``, closing ``#`` dropped), setext headings (a paragraph underlined with
``===`` or ``---``), fenced code blocks (``````` or ``~~~``, kept verbatim with their fences, ``#`` inside
them is code), YAML (``---``) or TOML (``+++``) front matter (dropped; its ``title`` becomes the title),
thematic breaks (dropped). Everything else (lists, tables, quotes, inline markup, links, HTML) is kept as
written, one paragraph per run of non-blank lines, spaces inside lines collapsed, indentation kept.
Doesn't handle: headings inside block quotes or list items, indented code blocks (kept, but as normal
paragraphs), reference-style link resolution.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ingest.loaders.clean import MAX_BLOCK_CHARS, split_long
from ingest.types import BlockKind, TextBlock

__all__ = ["MarkdownParser"]

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_FRONT_TITLE = re.compile(r"""^title[ \t]*[:=][ \t]*(["']?)(.*?)\1[ \t]*$""", re.I)
_INNER_SPACE = re.compile(r"(?<=\S)[ \t\f\v\u00a0]+")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufeff]")
_MAX_FRONT_MATTER_LINES = 500


def _clean(line: str) -> str:
    """Control characters out, trailing space off, runs of spaces inside the line collapsed; indentation kept."""
    line = _CONTROL.sub("", line).rstrip()
    return _INNER_SPACE.sub(" ", line)


class MarkdownParser:
    """One pass over the lines of a Markdown file. :meth:`blocks` yields the blocks; :attr:`title` is set
    from the front matter as soon as it has been read, else from the first level-1 heading."""

    def __init__(self) -> None:
        self.title: str | None = None
        self._headings: list[tuple[int, str]] = []  # (level, text), outermost first

    @property
    def heading(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._headings)

    def _set_heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        if level == 1 and self.title is None:
            self.title = text

    def _block(self, lines: list[str]) -> Iterator[TextBlock]:
        text = "\n".join(lines).strip("\n")
        if text.strip():
            kind = _kind(lines)
            for piece in split_long(text, MAX_BLOCK_CHARS):
                yield TextBlock(piece, self.heading, kind=kind)

    def blocks(self, lines: Iterable[str]) -> Iterator[TextBlock]:
        it = iter(lines)
        para: list[str] = []
        size = 0
        first = next(it, None)
        if first is None:
            return
        opened = first.strip() in ("---", "+++")
        it = self._front_matter(first.strip(), it) if opened else _chain_many([first], it)
        fence: tuple[str, int] | None = None  # (fence character, length) while inside a code block
        code: list[str] = []
        for raw in it:
            if fence is not None:
                code.append(_CONTROL.sub("", raw.rstrip("\r")))
                m = _FENCE.match(raw)
                if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= fence[1] and not m.group(3).strip():
                    yield from self._block(code)
                    fence, code = None, []
                continue
            line = _clean(raw)
            m = _FENCE.match(line)
            if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
                yield from self._block(para)
                para, size = [], 0
                fence, code = (m.group(2)[0], len(m.group(2))), [line]
                continue
            if not line.strip():
                yield from self._block(para)
                para, size = [], 0
                continue
            m = _ATX.match(line)
            if m:
                yield from self._block(para)
                para, size = [], 0
                self._set_heading(len(m.group(1)), m.group(2) or "")
                continue
            m = _SETEXT.match(line)
            if m and para:
                self._set_heading(1 if m.group(1)[0] == "=" else 2, " ".join(p.strip() for p in para))
                para, size = [], 0
                continue
            if _THEMATIC.match(line):
                yield from self._block(para)
                para, size = [], 0
                continue
            if para and size + len(line) > MAX_BLOCK_CHARS:
                yield from self._block(para)
                para, size = [], 0
            para.append(line)
            size += len(line) + 1
        yield from self._block(code if fence is not None else para)

    def _front_matter(self, marker: str, it: Iterator[str]) -> Iterator[str]:
        """Consume front matter opened by ``marker``; if it never closes, it was not front matter."""
        held: list[str] = [marker]
        closers = ("---", "...") if marker == "---" else ("+++",)
        title = None
        for line in it:
            held.append(line)
            if line.strip() in closers:
                if title is not None:
                    self.title = title
                return it
            m = _FRONT_TITLE.match(line.strip())
            if m and title is None:
                title = m.group(2).strip() or None
            if len(held) > _MAX_FRONT_MATTER_LINES:
                break
        return _chain_many(held, it)


def _kind(lines: list[str]) -> BlockKind:
    """``"code"`` for a fenced block, ``"table"`` for a pipe table, ``"list"`` for a list, else ``"text"``."""
    filled = [line for line in lines if line.strip()]
    if not filled:
        return "text"
    if _FENCE.match(filled[0]):
        return "code"
    if len(filled) > 1 and all(line.lstrip().startswith("|") for line in filled):
        return "table"
    if _LIST_ITEM.match(filled[0]) and all(
        _LIST_ITEM.match(line) or line.startswith((" ", "\t")) for line in filled
    ):
        return "list"
    return "text"


def _chain_many(held: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from held
    yield from rest
