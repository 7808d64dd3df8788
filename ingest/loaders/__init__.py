"""File loaders: one file in, its text as :class:`~ingest.types.TextBlock`\\ s out, or a
:class:`~ingest.types.LoadError` whose ``reason`` says what to do.

Public API::

    load_file(path, root=None, *, source=None, pdf_password=None, pdf_extractor="auto", ocr=None) -> LoadedFile
    open_file(path, root=None, *, ...same...) -> OpenedFile  # metadata now, blocks as an iterator
    iter_blocks(path, root=None, *, ...same...) -> Iterator[TextBlock]
    detect_type(path) -> FileType  # "pdf" | "html" | "markdown" | "text" | "docx" | "pptx" | "xlsx" | "csv" | "epub" | "eml"

Types are detected by content first (``%PDF-``, a zip with ``word/document.xml``, ``ppt/presentation.xml``,
``xl/workbook.xml`` or an EPUB container, an HTML start or dense markup, a message's headers) and extension
second; see :mod:`ingest.loaders.detect`. Per format: :mod:`~ingest.loaders.pdf`,
:mod:`~ingest.loaders.html`, :mod:`~ingest.loaders.markdown`, :mod:`~ingest.loaders.text`,
:mod:`~ingest.loaders.docx`, :mod:`~ingest.loaders.pptx`, :mod:`~ingest.loaders.xlsx`,
:mod:`~ingest.loaders.csv`, :mod:`~ingest.loaders.epub`, :mod:`~ingest.loaders.eml`; zip-based files are
checked for zip bombs first (:mod:`~ingest.loaders.zipsafe`). Spreadsheet, CSV and slide-table rows are one
line each with their header (:mod:`~ingest.loaders.rows`). An e-mail's attachments come back in
``attachments``, for the caller to ingest as sources of their own.

Blocks are paragraph-sized (a list, table or code block is one block, a definition-list entry is one
block) and at most :data:`~ingest.loaders.clean.MAX_BLOCK_CHARS` characters; a block's ``heading`` is
the path of section titles above it; PDF blocks carry their 1-based ``page``; a block's ``kind`` says
where it is a table, list, entry or code, for the chunker to keep rows and entries whole. Loaders keep
what a reader sees (notes, sidebars, tables, code, captions) and drop only furniture (navigation, contents
pages, running headers).

Memory: plain text, Markdown and CSV are streamed (read and decoded 1 MiB at a time; type and encoding come
from the first 64 KiB), XLSX one row and EPUB one chapter at a time, so :func:`iter_blocks` /
:func:`open_file` hold one read buffer and one block (or chapter) whatever the file's size, and
:func:`load_file` holds the blocks' text (about the file's size) plus the list. PDF, HTML, DOCX, PPTX and
e-mail are parsed whole (their libraries need the whole document), except an HTML page over
:data:`~ingest.loaders.html.HTML_TREE_MAX_BYTES` (8 MiB), which is streamed without the structural clean-up
rules, with a warning (:class:`~ingest.loaders.html.HtmlStream`: a 50 MB page on one line in about 0.1 GiB).

Errors: every failure, including unreadable files, directories, FIFOs and parser crashes, is a
``LoadError(source, reason)``; ``source`` is the path relative to ``root`` with forward slashes. For
streamed files an error found past the first 64 KiB (binary junk further in) is raised while iterating.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ingest.loaders.detect import (
    SNIFF_BYTES,
    SUFFIX_TYPES,
    TYPE_NAMES,
    binary_reason,
    detect_encoding,
    detect_type,
    detect_type_from_head,
    open_binary,
    read_head,
)
from ingest.loaders.ocr import OcrOptions
from ingest.loaders.pdf import DEFAULT_PDF_EXTRACTOR, PDF_EXTRACTORS, PdfExtractor
from ingest.types import Attachment, FileType, LoadedFile, LoadError, TextBlock

__all__ = [
    "DEFAULT_PDF_EXTRACTOR",
    "OcrOptions",
    "PDF_EXTRACTORS",
    "SUFFIX_TYPES",
    "OpenedFile",
    "PdfExtractor",
    "detect_type",
    "iter_blocks",
    "load_file",
    "open_file",
    "source_name",
]


@dataclass
class OpenedFile:
    """A file opened for loading. ``title`` and ``warnings`` may grow while ``blocks`` is consumed
    (a Markdown title from the first heading, undecodable bytes found further in). ``attachments`` are the
    files an e-mail carries, for the caller to ingest as sources of their own."""

    source: str
    file_type: FileType
    blocks: Iterator[TextBlock]
    title: str | None = None
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def source_name(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` with forward slashes (the file name when ``root`` is None or not above it)."""
    path = Path(path)
    if root is not None:
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except (ValueError, OSError):
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                pass
    return path.name or path.as_posix()


def open_file(
    path: Path,
    root: Path | None = None,
    *,
    source: str | None = None,
    pdf_password: str | None = None,
    pdf_extractor: PdfExtractor = DEFAULT_PDF_EXTRACTOR,
    ocr: OcrOptions | None = None,
) -> OpenedFile:
    """Detect ``path``'s type and start loading it; raises :class:`LoadError` for what can be known now
    (empty, unreadable, binary, encrypted, damaged...). Text and Markdown blocks are read lazily."""
    if pdf_extractor not in PDF_EXTRACTORS:
        raise ValueError(f"pdf_extractor must be one of {', '.join(PDF_EXTRACTORS)}; got {pdf_extractor!r}")
    path = Path(path)
    if source is None:
        source = source_name(path, root)
    head = read_head(path, source)
    file_type = detect_type_from_head(path, source, head)
    try:
        opened = _open(path, source, file_type, head, pdf_password, pdf_extractor, ocr)
    except (LoadError, MemoryError):
        raise
    except Exception as e:  # a parser's crash on one file is that file's LoadError
        raise LoadError(source, _parse_failure(file_type, e)) from e
    opened.blocks = _noting_missing_headings(opened, opened.blocks)
    return opened


#: A file with at least this much text and no heading anywhere gets a warning: its chunks carry no section
#: path, which retrieval and citations use (about ten pages of prose).
HEADINGLESS_CHARS = 20_000
_HEADING_KINDS = {
    "pdf": "no outline (bookmarks) and no lines in a larger font",
    "markdown": "no # headings",
    "html": "no <h1>-<h6> headings",
    "docx": "no paragraphs in a Heading style",
    "text": "plain text has no heading syntax; as Markdown, # lines would give one",
    "epub": "no chapter titles in its table of contents and no <h1>-<h6> headings",
}
_NO_HEADINGS: set[str] = {"csv", "eml"}  # formats without headings, where their absence says nothing


def _noting_missing_headings(opened: OpenedFile, blocks: Iterator[TextBlock]) -> Iterator[TextBlock]:
    """``blocks`` (the file's); once they are all read, a warning in ``opened.warnings`` when a long file had
    no heading at all (:data:`HEADINGLESS_CHARS`)."""
    chars = 0
    for block in blocks:
        if block.heading:
            yield block
            yield from blocks
            return
        chars += len(block.text)
        yield block
    if chars >= HEADINGLESS_CHARS and opened.file_type not in _NO_HEADINGS:
        why = _HEADING_KINDS.get(opened.file_type, "none found")
        pages = f" in {opened.pages} pages" if opened.pages else ""
        opened.warnings.append(f"headings not found ({why}){pages}: its chunks carry no section path")


def _parse_failure(file_type: FileType, e: BaseException) -> str:
    what = TYPE_NAMES[file_type]
    fix = "re-save it from its application" if file_type in _SAVED_BY_APPLICATIONS else "check the file"
    detail = " ".join(str(e).split())[:200]
    return f"damaged or unreadable {what} ({type(e).__name__}: {detail}); {fix}"


_SAVED_BY_APPLICATIONS = ("pdf", "docx", "pptx", "xlsx", "epub")


def _open(
    path: Path,
    source: str,
    file_type: FileType,
    head: bytes,
    pdf_password: str | None,
    pdf_extractor: PdfExtractor,
    ocr: OcrOptions | None = None,
) -> OpenedFile:
    if file_type == "pdf":
        from ingest.loaders.pdf import extract_pdf

        pdf = extract_pdf(path, source, password=pdf_password, extractor=pdf_extractor, ocr=ocr)
        return OpenedFile(source, "pdf", iter(pdf.blocks), pdf.title, pdf.pages, pdf.warnings)
    if file_type in ("docx", "pptx", "xlsx", "epub"):
        from ingest.loaders.zipsafe import check_zip, open_zip

        if file_type == "epub":
            return _open_epub(open_zip(path, source, "EPUB"), source)
        check_zip(path, source, TYPE_NAMES[file_type])  # no parser inflates a zip bomb
    if file_type == "docx":
        from ingest.loaders.docx import parse_docx

        blocks, title = parse_docx(path)
        if not blocks:
            raise LoadError(source, "no text in this document (only images or empty?)")
        return OpenedFile(source, "docx", iter(blocks), title)
    if file_type == "pptx":
        from ingest.loaders.pptx import parse_pptx

        blocks, title = parse_pptx(path)
        if not blocks:
            raise LoadError(source, "no text in this presentation (only images or charts?)")
        return OpenedFile(source, "pptx", iter(blocks), title)
    if file_type == "xlsx":
        from ingest.loaders.xlsx import open_xlsx

        opened = OpenedFile(source, "xlsx", iter(()))
        sheets, opened.title = open_xlsx(path, opened.warnings)
        opened.blocks = _guarded(sheets, source, "xlsx", empty="no values in this workbook (empty sheets?)")
        return opened
    if file_type == "eml":
        from ingest.loaders.eml import parse_eml

        with open_binary(path, source) as f:
            message = parse_eml(f.read())
        if not message.blocks and not message.attachments:
            raise LoadError(source, "no text in this e-mail (no headers, body or attachments?)")
        return OpenedFile(
            source, "eml", iter(message.blocks), message.title, warnings=message.warnings,
            attachments=message.attachments,
        )  # fmt: skip
    if file_type == "html":
        from ingest.loaders.html import HTML_TREE_MAX_BYTES, parse_html

        with open_binary(path, source) as f:
            if os.fstat(f.fileno()).st_size > HTML_TREE_MAX_BYTES:
                return _open_large_html(path, source, head)
            data = f.read()
        if b"\x00" in data and not _is_wide(head, source):
            reason = binary_reason(data)  # the whole page: only its start was sniffed
            if reason is not None:
                raise LoadError(source, reason)
            data = data.replace(b"\x00", b"")  # a stray NUL (Javadoc's page on char constants) is no text
        blocks, title, encoding = parse_html(data)
        opened = OpenedFile(source, "html", iter(blocks), title)
        if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "ascii", "us-ascii"):
            opened.warnings.append(f"encoding detected as {encoding}")
        if not blocks:
            raise LoadError(source, "no main text in this page (rendered by JavaScript, or only navigation?)")
        return opened

    # text, Markdown and CSV: streamed
    from ingest.loaders.text import iter_lines, iter_text_blocks

    guessed: list[str] = []  # a guess of low confidence says so, instead of "detected as"
    encoding = detect_encoding(head, source, complete=len(head) < SNIFF_BYTES, warnings=guessed)
    opened = OpenedFile(source, file_type, iter(()), warnings=guessed)
    if encoding not in ("utf-8", "utf-8-sig") and not guessed:
        opened.warnings.append(f"encoding detected as {encoding}")
    lines = iter_lines(path, source, encoding, opened.warnings)
    if file_type == "csv":
        from ingest.loaders.csv import iter_csv_blocks, sniff_dialect

        dialect = sniff_dialect(head.decode(encoding, errors="replace"), tab_default=path.suffix.lower() == ".tsv")
        opened.title = PurePosixPath(source).stem
        opened.blocks = _guarded(iter_csv_blocks(lines, dialect), source, "csv", empty="no values in this CSV file")
        return opened
    if file_type == "markdown":
        from ingest.loaders.markdown import MarkdownParser

        parser = MarkdownParser()

        def markdown_blocks() -> Iterator[TextBlock]:
            for block in parser.blocks(lines):
                opened.title = parser.title
                yield block
            opened.title = parser.title

        blocks: Iterator[TextBlock] = markdown_blocks()
    else:
        blocks = iter_text_blocks(lines)
    opened.blocks = _guarded(blocks, source, file_type)
    return opened


def _open_large_html(path: Path, source: str, head: bytes) -> OpenedFile:
    """A page over :data:`~ingest.loaders.html.HTML_TREE_MAX_BYTES`, read as it is parsed by
    :class:`~ingest.loaders.html.HtmlStream`, with a warning saying what that leaves in."""
    from ingest.loaders.html import HTML_TREE_MAX_BYTES, HtmlStream, undeclared_encoding

    wide = _is_wide(head, source)
    opened = OpenedFile(source, "html", iter(()))

    def data() -> Iterator[bytes]:
        offset = 0
        with open_binary(path, source) as f:
            while chunk := f.read(1 << 20):
                if b"\x00" in chunk and not wide:
                    reason = binary_reason(chunk, offset)  # only the page's start was sniffed
                    if reason is not None:
                        raise LoadError(source, reason)
                    chunk = chunk.replace(b"\x00", b"")
                offset += len(chunk)
                yield chunk
        opened.warnings.append(
            f"large page ({_size(offset)}, over {_size(HTML_TREE_MAX_BYTES)}): read as a stream, without the rules "
            "that find the main text, so menus and link lists may be indexed too; split the page to have them left out"
        )

    encoding = undeclared_encoding(head, complete=len(head) < SNIFF_BYTES)  # None: a BOM or <meta> says
    if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "ascii", "us-ascii"):
        opened.warnings.append(f"encoding detected as {encoding}")
    stream = HtmlStream(data(), encoding)

    def blocks() -> Iterator[TextBlock]:
        for block in stream:
            opened.title = stream.title
            yield block
        opened.title = stream.title

    opened.blocks = _guarded(
        blocks(), source, "html", empty="no main text in this page (rendered by JavaScript, or only navigation?)"
    )
    return opened


def _size(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def _is_wide(head: bytes, source: str) -> bool:
    """Whether a file starting with ``head`` is UTF-16/32 (its NUL bytes are text)."""
    return detect_encoding(head, source, complete=len(head) < SNIFF_BYTES).startswith(("utf-16", "utf-32"))


def _open_epub(archive: zipfile.ZipFile, source: str) -> OpenedFile:
    from ingest.loaders.epub import iter_epub_blocks, read_epub

    try:
        book = read_epub(archive, source)
    except BaseException:
        archive.close()
        raise
    blocks = _guarded(iter_epub_blocks(archive, book), source, "epub", empty="no text in this book's chapters")
    return OpenedFile(source, "epub", blocks, book.title, warnings=book.warnings)


def _guarded(
    blocks: Iterator[TextBlock],
    source: str,
    file_type: FileType,
    *,
    empty: str = "no text content (only whitespace or markup)",
) -> Iterator[TextBlock]:
    """``blocks``, with parser crashes turned into :class:`LoadError` and ``empty`` raised at the end when
    there was no block."""
    n = 0
    try:
        for block in blocks:
            n += 1
            yield block
    except (LoadError, MemoryError):
        raise
    except Exception as e:
        raise LoadError(source, _parse_failure(file_type, e)) from e
    if n == 0:
        raise LoadError(source, empty)


def iter_blocks(
    path: Path,
    root: Path | None = None,
    *,
    source: str | None = None,
    pdf_password: str | None = None,
    pdf_extractor: PdfExtractor = DEFAULT_PDF_EXTRACTOR,
    ocr: OcrOptions | None = None,
) -> Iterator[TextBlock]:
    """The blocks of ``path`` as they are read (see :func:`open_file`); errors surface at the first ``next``."""
    opened = open_file(path, root, source=source, pdf_password=pdf_password, pdf_extractor=pdf_extractor, ocr=ocr)
    yield from opened.blocks


def load_file(
    path: Path,
    root: Path | None = None,
    *,
    source: str | None = None,
    pdf_password: str | None = None,
    pdf_extractor: PdfExtractor = DEFAULT_PDF_EXTRACTOR,
    ocr: OcrOptions | None = None,
) -> LoadedFile:
    """All of ``path``'s blocks and what was learnt loading it. Raises :class:`LoadError`.

    ``root`` is the ingest root: the file's ``source`` is its path relative to it, unless ``source`` names
    it outright (a caller that walked the tree already knows it); ``pdf_password`` opens encrypted PDFs;
    ``pdf_extractor`` is one of :data:`PDF_EXTRACTORS` (default :data:`DEFAULT_PDF_EXTRACTOR`); ``ocr`` says
    how PDF pages without a text layer are read (:class:`~ingest.loaders.ocr.OcrOptions`; default: Tesseract
    when it is installed).
    """
    opened = open_file(path, root, source=source, pdf_password=pdf_password, pdf_extractor=pdf_extractor, ocr=ocr)
    blocks = list(opened.blocks)
    return LoadedFile(
        source=opened.source,
        file_type=opened.file_type,
        blocks=blocks,
        title=opened.title,
        pages=opened.pages,
        warnings=opened.warnings,
        attachments=opened.attachments,
    )
