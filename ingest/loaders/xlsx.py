"""Excel ``.xlsx``/``.xlsm`` through openpyxl, streamed: each sheet's name is the heading of its rows, each row
one line with its header (see :mod:`ingest.loaders.rows`).

The workbook is opened with ``read_only=True, data_only=True`` (so a formula gives the value Excel last
computed and saved), and openpyxl's own cell parser types each value (shared and rich strings, numbers,
booleans, dates by their number format, the 1904 epoch). The sheet XML is walked here, though, with lxml's
``iterparse``, clearing each row once read: openpyxl's read-only rows pad every row to the sheet's declared
dimension (``A1:XFD1048576`` is 17 billion empty cells), keep a dict per styled row, and parse each empty
cell in Python. Measured on a sheet of 40,000 rows × 26 styled empty cells, openpyxl's ``iter_rows``: 3.5 s;
here: 0.8 s; on 1,000,000 styled empty rows: 6.6 s and 524 MiB peak against 1.8 s and 44 MiB. Memory is one
row plus the shared-strings table, whatever the sheet's size or declared dimension.

Values: numbers as Excel shows them in General format (15 significant digits, ``7`` not ``7.0``), dates as
ISO dates (with the time when it is not midnight), booleans as ``TRUE``/``FALSE``, errors as written
(``#DIV/0!``). The title is the workbook's title property, else the file name. Doesn't handle: formulas whose
value was never computed (a file written by a script and never opened in Excel reads as empty there), number
formats (percentages and currencies read as plain numbers), charts, comments, images, chart sheets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ingest.loaders.rows import Cells, cell_text, table_blocks
from ingest.types import TextBlock

__all__ = ["open_xlsx"]

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _SHEET_DATA, _CELL, _FORMULA = f"{_NS}row", f"{_NS}sheetData", f"{_NS}c", f"{_NS}f"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return cell_text(value)


def _sheet_rows(workbook: Any, sheet: Any, unsaved: list[int]) -> Iterator[Cells]:
    """The non-empty cells of each row of a read-only ``sheet``, rows in file order; see the module
    docstring for why the XML is walked here. A cell with no child element (no value) is skipped unparsed;
    ``unsaved[0]`` counts formula cells with no saved value."""
    from lxml import etree
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.worksheet._reader import WorkSheetParser

    parser = WorkSheetParser(
        None,
        sheet._shared_strings,
        data_only=True,
        epoch=workbook.epoch,
        date_formats=workbook._date_formats,
        timedelta_formats=workbook._timedelta_formats,
    )
    with sheet._get_source() as src:
        events = etree.iterparse(
            src, events=("end",), tag=(_ROW, _SHEET_DATA), resolve_entities=False, no_network=True
        )
        for _, row in events:
            if row.tag == _SHEET_DATA:
                break
            r = row.get("r")
            parser.row_counter = int(r) if r and r.isdigit() else parser.row_counter + 1
            parser.col_counter = 0
            cells: list[tuple[int, str]] = []
            skipped: str | None = None  # where the last empty cell was, for a next cell without "r"
            for c in row.iterchildren(_CELL):
                if not len(c):  # no <v>, <is> or <f>: an empty (maybe styled) cell
                    where = c.get("r")
                    if where is None:
                        parser.col_counter += 1
                    skipped = where
                    continue
                if skipped is not None and c.get("r") is None:
                    parser.col_counter = coordinate_to_tuple(skipped)[1]
                skipped = None
                value = parser.parse_cell(c)["value"]
                if value is None and c.find(_FORMULA) is not None:
                    unsaved[0] += 1
                text = _value_text(value) if value is not None else ""
                if text:
                    cells.append((parser.col_counter - 1, text))
            row.clear()
            while row.getprevious() is not None:  # drop the rows already read from the tree
                del row.getparent()[0]
            if cells:
                cells.sort()
                yield cells


def open_xlsx(path: Path, warnings: list[str]) -> tuple[Iterator[TextBlock], str]:
    """``(blocks, title)`` of a workbook; the blocks are read as they are consumed, and the file is closed
    when they are exhausted (openpyxl's errors propagate to the caller). Formula cells without a saved value
    are counted into ``warnings`` at the end."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by blocks(); a file object skips openpyxl's suffix check
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True, keep_links=False)
    except BaseException:
        handle.close()
        raise
    title = " ".join((workbook.properties.title or "").split()) or Path(path).stem

    def letter(column: int) -> str:
        return get_column_letter(column + 1)

    def blocks() -> Iterator[TextBlock]:
        unsaved = [0]
        try:
            for sheet in workbook.worksheets:
                heading = (" ".join(sheet.title.split()),)
                yield from table_blocks(_sheet_rows(workbook, sheet, unsaved), heading, letter)
            if unsaved[0]:
                warnings.append(
                    f"{unsaved[0]} formula cell(s) without a saved value (never recalculated); open and save "
                    "the file in Excel or LibreOffice to index them"
                )
        finally:
            workbook.close()
            handle.close()

    return blocks(), title
