"""PowerPoint ``.pptx`` through python-pptx: each slide's title is the heading of its text, tables and notes.

Per slide, in PowerPoint's reading order (the order of the shapes in the slide, which its Reading Order
pane shows; the title first): each text frame is a block, one line per paragraph, sub-points indented by
two spaces per level (``"list"`` when it has several paragraphs); a table is a ``"table"`` block, each row
one line with its header (see :mod:`ingest.loaders.rows`); grouped shapes are read inside their group. The
speaker notes follow under ``(slide title, "Notes")``. A slide without a title is headed ``Slide N``. Date,
footer and slide-number placeholders are furniture and dropped. The title is the deck's title property,
else the first slide's title. Doesn't handle: charts, SmartArt, images (their alt text included), comments,
text in slide layouts and masters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.loaders.clean import MAX_BLOCK_CHARS, normalize_line, split_long
from ingest.loaders.rows import Cells, cell_text, table_blocks
from ingest.types import BlockKind, TextBlock

__all__ = ["NOTES_HEADING", "parse_pptx"]

#: The last heading of a slide's speaker notes.
NOTES_HEADING = "Notes"


def _frame_lines(frame: Any) -> list[str]:  # pptx.text.text.TextFrame
    """One line per paragraph (a line break inside a paragraph is a line too), indented by level."""
    lines = []
    for paragraph in frame.paragraphs:
        indent = "  " * (paragraph.level or 0)
        for part in paragraph.text.replace("\v", "\n").split("\n"):
            line = normalize_line(part)
            if line:
                lines.append(indent + line)
    return lines


def _table_rows(table: Any) -> Iterator[Cells]:  # pptx.table.Table
    for row in table.rows:
        yield [
            (i, text) for i, cell in enumerate(row.cells) if not cell.is_spanned and (text := cell_text(cell.text))
        ]


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, groups opened, in the order of the slide's shape tree."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _is_furniture(shape: Any) -> bool:
    from pptx.enum.shapes import PP_PLACEHOLDER

    if not shape.is_placeholder:
        return False
    return shape.placeholder_format.type in (PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER)


def parse_pptx(path: Path) -> tuple[list[TextBlock], str | None]:
    """``(blocks, title)`` of a .pptx file (python-pptx errors propagate to the caller)."""
    from pptx import Presentation

    deck = Presentation(str(path))
    blocks: list[TextBlock] = []
    first_title: str | None = None

    def emit(lines: list[str], heading: tuple[str, ...], kind: BlockKind = "text") -> None:
        if lines:
            kind = kind if len(lines) > 1 else "text"
            blocks.extend(TextBlock(p, heading, kind=kind) for p in split_long("\n".join(lines), MAX_BLOCK_CHARS))

    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        if title and first_title is None:
            first_title = title
        heading = (title or f"Slide {number}",)
        for shape in _shapes(slide.shapes):
            if (title_shape is not None and shape.shape_id == title_shape.shape_id) or _is_furniture(shape):
                continue
            if shape.has_text_frame:
                emit(_frame_lines(shape.text_frame), heading, "list")
            elif shape.has_table:
                blocks.extend(table_blocks(_table_rows(shape.table), heading))
        if slide.has_notes_slide:
            frame = slide.notes_slide.notes_text_frame
            if frame is not None:
                emit(_frame_lines(frame), (*heading, NOTES_HEADING))
    title = " ".join((deck.core_properties.title or "").split()) or first_title
    return blocks, title
