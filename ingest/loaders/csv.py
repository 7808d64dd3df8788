"""CSV and TSV, streamed: each row one line with its header (see :mod:`ingest.loaders.rows`), as ``"table"``
blocks; the title is the file name.

The encoding comes from :func:`~ingest.loaders.detect.detect_encoding` on the file's first 64 KiB, and the
text is decoded 1 MiB at a time (:func:`~ingest.loaders.text.iter_lines`, which also refuses binary junk
further in), so memory is one read buffer and one block whatever the file's size. The dialect (delimiter
among ``, ; TAB |``, quote character) is sniffed by :class:`csv.Sniffer` on the first lines; when it cannot
tell, a ``.tsv`` file or a first line with a tab is tab-separated, anything else comma-separated. The first
row (after any title line, see :mod:`~ingest.loaders.rows`) is the header. A line break inside a quoted cell
is read as a space. Doesn't handle: a file with no header row (its first row labels the others), fields
over :func:`csv.field_size_limit` (128 KiB; an unclosed quote is reported rather than read to the end).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from ingest.loaders.rows import Cells, cell_text, table_blocks
from ingest.types import TextBlock

__all__ = ["SNIFF_CHARS", "iter_csv_blocks", "sniff_dialect"]

#: How much of the file's start the dialect is sniffed from.
SNIFF_CHARS = 4096  # csv.Sniffer is quadratic in the worst case: 16 KiB of stray quotes took 1.6 s
_DELIMITERS = ",;\t|"


class _Fallback(csv.excel):
    pass


def sniff_dialect(sample: str, tab_default: bool = False) -> type[csv.Dialect]:
    """The dialect of a CSV file that starts with ``sample`` (see the module docstring)."""
    lines = sample[:SNIFF_CHARS].splitlines()
    if len(sample) > SNIFF_CHARS and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS)
    except csv.Error:
        dialect = type("Dialect", (_Fallback,), {})
        dialect.delimiter = "\t" if tab_default or (lines and "\t" in lines[0]) else ","
        return dialect


def iter_csv_blocks(lines: Iterator[str], dialect: type[csv.Dialect] | csv.Dialect) -> Iterator[TextBlock]:
    """The blocks of a CSV file given as its decoded lines (without line ends)."""
    rows = csv.reader((line + "\n" for line in lines), dialect)

    def cells() -> Iterator[Cells]:
        for row in rows:
            yield [(i, text) for i, value in enumerate(row) if (text := cell_text(value))]

    yield from table_blocks(cells())

