"""File loaders: one file in, its text as :class:`~ingest.types.TextBlock`\\ s out, or a
:class:`~ingest.types.LoadError` whose ``reason`` says what to do.

Public API::

    load_file(path, root=None, *, source=None, pdf_password=None, pdf_extractor="auto") -> LoadedFile
    open_file(path, root=None, *, ...same...) -> OpenedFile  # metadata now, blocks as an iterator
    iter_blocks(path, root=None, *, ...same...) -> Iterator[TextBlock]
    detect_type(path) -> FileType  # "pdf" | "html" | "markdown" | "text" | "docx"

Types are detected by content first (``%PDF-``, a zip with ``word/document.xml``, an HTML start or dense
markup) and extension second; see :mod:`ingest.loaders.detect`. Per format: :mod:`~ingest.loaders.pdf`,
:mod:`~ingest.loaders.html`, :mod:`~ingest.loaders.markdown`, :mod:`~ingest.loaders.text`,
:mod:`~ingest.loaders.docx`. Blocks are paragraph-sized (a list, table or code block is one block, a
definition-list entry is one block) and at most :data:`~ingest.loaders.clean.MAX_BLOCK_CHARS` characters; a
block's ``heading`` is the path of section titles above it; PDF blocks carry their 1-based ``page``; a
block's ``kind`` says where it is a table, list, entry or code, for the chunker to keep rows and entries whole.
Loaders keep what a reader sees (notes, sidebars, tables, code, captions) and drop only furniture
(navigation, contents pages, running headers).

Memory: plain text and Markdown are streamed (read and decoded 1 MiB at a time; type and encoding come from
the first 64 KiB), so :func:`iter_blocks` / :func:`open_file` hold one read buffer and one block whatever
the file's size, and :func:`load_file` holds the blocks' text (about the file's size) plus the list.
PDF, HTML and DOCX are parsed whole (their libraries need the whole document).

Errors: every failure, including unreadable files, directories, FIFOs and parser crashes, is a
``LoadError(source, reason)``; ``source`` is the path relative to ``root`` with forward slashes. For
streamed files an error found past the first 64 KiB (binary junk further in) is raised while iterating.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders.detect import (
    SNIFF_BYTES,
    SUFFIX_TYPES,
    binary_reason,
    detect_encoding,
    detect_type,
    detect_type_from_head,
    open_binary,
    read_head,
)
from ingest.loaders.pdf import DEFAULT_PDF_EXTRACTOR, PDF_EXTRACTORS, PdfExtractor
from ingest.types import FileType, LoadedFile, LoadError, TextBlock

__all__ = [
    "DEFAULT_PDF_EXTRACTOR",
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
    (a Markdown title from the first heading, undecodable bytes found further in)."""

    source: str
    file_type: FileType
    blocks: Iterator[TextBlock]
    title: str | None = None
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)


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
        return _open(path, source, file_type, head, pdf_password, pdf_extractor)
    except (LoadError, MemoryError):
        raise
    except Exception as e:  # a parser's crash on one file is that file's LoadError
        raise LoadError(source, _parse_failure(file_type, e)) from e


def _parse_failure(file_type: FileType, e: BaseException) -> str:
    what = {"pdf": "PDF", "html": "HTML", "markdown": "Markdown", "text": "text", "docx": "DOCX"}[file_type]
    fix = "re-save it from its application" if file_type in ("docx", "pdf") else "check the file"
    detail = " ".join(str(e).split())[:200]
    return f"damaged or unreadable {what} ({type(e).__name__}: {detail}); {fix}"


def _open(
    path: Path,
    source: str,
    file_type: FileType,
    head: bytes,
    pdf_password: str | None,
    pdf_extractor: PdfExtractor,
) -> OpenedFile:
    if file_type == "pdf":
        from ingest.loaders.pdf import extract_pdf

        pdf = extract_pdf(path, source, password=pdf_password, extractor=pdf_extractor)
        return OpenedFile(source, "pdf", iter(pdf.blocks), pdf.title, pdf.pages, pdf.warnings)
    if file_type == "docx":
        from ingest.loaders.docx import parse_docx

        blocks, title = parse_docx(path)
        if not blocks:
            raise LoadError(source, "no text in this document (only images or empty?)")
        return OpenedFile(source, "docx", iter(blocks), title)
    if file_type == "html":
        from ingest.loaders.html import parse_html

        with open_binary(path, source) as f:
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

    # text and Markdown: streamed
    from ingest.loaders.text import iter_lines, iter_text_blocks

    encoding = detect_encoding(head, source, complete=len(head) < SNIFF_BYTES)
    opened = OpenedFile(source, file_type, iter(()))
    if encoding not in ("utf-8", "utf-8-sig"):
        opened.warnings.append(f"encoding detected as {encoding}")
    lines = iter_lines(path, source, encoding, opened.warnings)
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


def _is_wide(head: bytes, source: str) -> bool:
    """Whether a file starting with ``head`` is UTF-16/32 (its NUL bytes are text)."""
    return detect_encoding(head, source, complete=len(head) < SNIFF_BYTES).startswith(("utf-16", "utf-32"))


def _guarded(blocks: Iterator[TextBlock], source: str, file_type: FileType) -> Iterator[TextBlock]:
    """``blocks``, with parser crashes turned into :class:`LoadError` and "no text" raised at the end."""
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
        raise LoadError(source, "no text content (only whitespace or markup)")


def iter_blocks(
    path: Path,
    root: Path | None = None,
    *,
    source: str | None = None,
    pdf_password: str | None = None,
    pdf_extractor: PdfExtractor = DEFAULT_PDF_EXTRACTOR,
) -> Iterator[TextBlock]:
    """The blocks of ``path`` as they are read (see :func:`open_file`); errors surface at the first ``next``."""
    opened = open_file(path, root, source=source, pdf_password=pdf_password, pdf_extractor=pdf_extractor)
    yield from opened.blocks


def load_file(
    path: Path,
    root: Path | None = None,
    *,
    source: str | None = None,
    pdf_password: str | None = None,
    pdf_extractor: PdfExtractor = DEFAULT_PDF_EXTRACTOR,
) -> LoadedFile:
    """All of ``path``'s blocks and what was learnt loading it. Raises :class:`LoadError`.

    ``root`` is the ingest root: the file's ``source`` is its path relative to it, unless ``source`` names
    it outright (a caller that walked the tree already knows it); ``pdf_password`` opens encrypted PDFs;
    ``pdf_extractor`` is one of :data:`PDF_EXTRACTORS` (default :data:`DEFAULT_PDF_EXTRACTOR`).
    """
    opened = open_file(path, root, source=source, pdf_password=pdf_password, pdf_extractor=pdf_extractor)
    blocks = list(opened.blocks)
    return LoadedFile(
        source=opened.source,
        file_type=opened.file_type,
        blocks=blocks,
        title=opened.title,
        pages=opened.pages,
        warnings=opened.warnings,
    )
