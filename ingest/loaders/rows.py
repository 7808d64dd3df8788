"""Tables as records: each row one line that carries its header, for spreadsheets, CSV and slide tables.

A row ``bolts, 7`` under the header ``Item, Qty`` becomes the line ``Item: bolts; Qty: 7``, so a chunk that
holds one row still says what its values are. Rows come in as their non-empty cells ``(column, text)``
(0-based columns), so a sheet with a value in column XFD costs one pair, not 16,384 empty strings. The
header is the first row with at least half as many cells as the widest of the first
:data:`HEADER_LOOKAHEAD` rows (and at least two, when some row has two): a title line above the table
("Inventory 2024") is kept as text, not taken for the header. A cell under no header is labelled by its
column (``label``: the letter in a spreadsheet, "column 3" in a CSV). Lines are grouped into ``"table"``
blocks of at most :data:`~ingest.loaders.clean.MAX_BLOCK_CHARS` characters, so the chunker keeps each row
whole. Doesn't handle: several tables stacked in one sheet (the second header reads as a row of the
first), headers of more than one row, merged header cells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice

from ingest.loaders.clean import MAX_BLOCK_CHARS, split_long
from ingest.types import TextBlock

__all__ = ["HEADER_LOOKAHEAD", "Cells", "cell_text", "column_label", "record_line", "table_blocks"]

#: How many leading rows the header is looked for in.
HEADER_LOOKAHEAD = 10

Cells = Sequence[tuple[int, str]]  # a row's non-empty cells: (0-based column, text), in column order


def cell_text(value: object) -> str:
    """A cell's text on one line: white space (line breaks included) collapsed to single spaces."""
    return " ".join(str(value).split())


def column_label(column: int) -> str:
    """``column 1`` for the 0-based column 0: the label of a value with no header in a CSV or slide table."""
    return f"column {column + 1}"


def record_line(header: dict[int, str], cells: Cells, label: Callable[[int], str] = column_label) -> str:
    """``"Header: value; Header2: value2"`` for the non-empty ``cells`` of a row."""
    return "; ".join(f"{header.get(column) or label(column)}: {text}" for column, text in cells)


def _header_index(rows: list[Cells]) -> int:
    widest = max(len(r) for r in rows)
    need = max(min(2, widest), (widest + 1) // 2)
    return next(i for i, r in enumerate(rows) if len(r) >= need)


def table_blocks(
    rows: Iterable[Cells], heading: tuple[str, ...] = (), label: Callable[[int], str] = column_label
) -> Iterator[TextBlock]:
    """The blocks of one table given as its rows (see the module docstring); empty rows are skipped."""
    nonempty = (row for row in rows if row)
    first = list(islice(nonempty, HEADER_LOOKAHEAD))
    if not first:
        return
    h = _header_index(first)
    for row in first[:h]:  # a title or note above the table
        yield from (TextBlock(p, heading) for p in split_long(" ".join(t for _, t in row), MAX_BLOCK_CHARS))
    header = dict(first[h])
    lines: list[str] = []
    size = records = 0
    for row in chain(first[h + 1 :], nonempty):
        records += 1
        line = record_line(header, row, label)
        if lines and size + len(line) + 1 > MAX_BLOCK_CHARS:
            yield TextBlock("\n".join(lines), heading, kind="table")
            lines, size = [], 0
        if len(line) > MAX_BLOCK_CHARS:  # one row longer than a block: cut, as any text that long is
            yield from (TextBlock(p, heading, kind="table") for p in split_long(line, MAX_BLOCK_CHARS))
            continue
        lines.append(line)
        size += len(line) + 1
    if lines:
        yield TextBlock("\n".join(lines), heading, kind="table")
    if not records:  # a header with no rows under it: its names are still what the table says
        yield from (TextBlock(p, heading, kind="table") for p in split_long("; ".join(header.values())))
