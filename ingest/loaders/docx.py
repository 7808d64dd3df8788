"""Word ``.docx`` through python-docx: body paragraphs and tables in document order.

``Heading 1``–``Heading 9`` paragraph styles (and paragraphs with an outline level) set the heading path;
``Title`` sets the title (else the core-properties title, else the first Heading 1). Each paragraph is a
block; consecutive list paragraphs (``List …`` styles or numbered paragraphs) form one block with one line
per item; a table is one block with one tab-separated line per row (merged cells once). Doesn't handle:
headers/footers, footnotes, comments, text boxes, tracked changes (the current text is read).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ingest.loaders.clean import MAX_BLOCK_CHARS, normalize_line, split_long
from ingest.types import BlockKind, TextBlock

__all__ = ["parse_docx"]

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _heading_level(paragraph) -> int | None:  # docx.text.paragraph.Paragraph
    name = paragraph.style.name if paragraph.style is not None else ""
    m = _HEADING_STYLE.match(name or "")
    if m:
        return int(m.group(1))
    ppr = paragraph._p.pPr
    if ppr is not None:
        lvl = ppr.find(f"{_W}outlineLvl")
        if lvl is not None:
            value = lvl.get(f"{_W}val")
            if value is not None and value.isdigit() and int(value) < 9:
                return int(value) + 1
    return None


def _is_list(paragraph) -> bool:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower().startswith("list"):
        return True
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _table_lines(table) -> Iterator[str]:  # docx.table.Table
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(normalize_line(p.text) for p in cell.paragraphs if p.text.strip()))
        if any(cells):
            yield "\t".join(cells)


def parse_docx(path: Path) -> tuple[list[TextBlock], str | None]:
    """``(blocks, title)`` of a .docx file (python-docx errors propagate to the caller)."""
    import docx
    from docx.table import Table

    document = docx.Document(str(path))
    blocks: list[TextBlock] = []
    headings: list[tuple[int, str]] = []
    title = (document.core_properties.title or "").strip() or None
    title_style: str | None = None
    first_h1: str | None = None
    items: list[str] = []

    def heading() -> tuple[str, ...]:
        return tuple(t for _, t in headings)

    def emit(text: str, kind: BlockKind = "text") -> None:
        if text.strip():
            blocks.extend(TextBlock(p, heading(), kind=kind) for p in split_long(text, MAX_BLOCK_CHARS))

    def flush_items() -> None:
        if items:
            emit("\n".join(items), "list")
            items.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            flush_items()
            emit("\n".join(_table_lines(item)), "table")
            continue
        # a line break inside a paragraph (<w:br/>) comes out as "\n"
        text = "\n".join(filter(None, (normalize_line(line) for line in item.text.split("\n"))))
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if style.lower() == "title":
            flush_items()
            title_style = title_style or " ".join(text.split())
            continue
        level = _heading_level(item)
        if level is not None:
            flush_items()
            text = " ".join(text.split())
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, text))
            if level == 1 and first_h1 is None:
                first_h1 = text
            continue
        if _is_list(item):
            items.append(f"- {text}")
            continue
        flush_items()
        emit(text)
    flush_items()
    return blocks, title_style or title or first_h1
