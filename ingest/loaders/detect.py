"""What a file is: its type (by content first, extension second) and, for text, its encoding.

Only the first :data:`SNIFF_BYTES` of a file are read here (and a zip's list of members). Handles: PDF
(``%PDF-`` in the first KiB), the zip-based formats by the member that makes them (DOCX
``word/document.xml``, PPTX ``ppt/presentation.xml``, XLSX ``xl/workbook.xml``, EPUB
``META-INF/container.xml`` with the ``mimetype`` ``application/epub+zip`` or an ``.epub`` name), HTML (a
doctype/``<html`` start, or markup-dense text), e-mail (an ``.eml`` name, or a nameless file that starts
with the headers of a message), CSV/TSV (by extension), Markdown (by extension, or ATX headings/fences in an
extension-less file), plain text; empty files, binary junk (a share of NUL and other control bytes no text
has), legacy ``.doc``/``.xls``/``.ppt`` and other zips are refused with a :class:`~ingest.types.LoadError`
saying what to do. Doesn't handle: OpenDocument files, images (OCR), archives.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path
from typing import BinaryIO

from ingest.types import FileType, LoadError

__all__ = [
    "SNIFF_BYTES",
    "SUFFIX_TYPES",
    "TYPE_NAMES",
    "ZIP_MARKERS",
    "binary_reason",
    "detect_encoding",
    "detect_type",
    "detect_type_from_head",
    "open_binary",
    "os_error_reason",
    "read_head",
]

#: How much of a file type and encoding detection look at.
SNIFF_BYTES = 64 * 1024

#: File name endings that name a type; content can overrule them (an ``.txt`` that is an HTML page).
SUFFIX_TYPES: dict[str, FileType] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".csv": "csv",
    ".tsv": "csv",
    ".epub": "epub",
    ".eml": "eml",
}

#: The zip-based types, by the member that marks them (EPUB is told by its ``mimetype`` member too).
ZIP_MARKERS: dict[str, FileType] = {
    "word/document.xml": "docx",
    "ppt/presentation.xml": "pptx",
    "xl/workbook.xml": "xlsx",
    "META-INF/container.xml": "epub",
}
#: How each type is named in messages.
TYPE_NAMES: dict[str, str] = {
    "pdf": "PDF", "html": "HTML", "markdown": "Markdown", "text": "text", "docx": "DOCX", "pptx": "PPTX",
    "xlsx": "XLSX", "csv": "CSV", "epub": "EPUB", "eml": "e-mail",
}  # fmt: skip

_BOMS: list[tuple[bytes, str]] = [
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
# Control bytes that don't occur in text (tab, LF, VT, FF, CR and ESC do); NUL is one of them.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0E, 0x0F, *range(0x10, 0x1B), *range(0x1C, 0x20)])
# Binary is judged per window of this many bytes: more than this share of control bytes (NULs included) in
# any window, and more than one, is binary. So a stray NUL in a page of text (Javadoc writes the NUL
# character it documents) is text, and a binary blob inside a long text file is still found.
_CONTROL_WINDOW = 4096
_MAX_CONTROL_SHARE = 0.02
_PREFERRED_ENCODINGS = ("cp1252", "iso8859_15", "latin_1")
#: charset-normalizer's chaos (the share of the decoded text that looks garbled) from which a guessed
#: encoding is reported as uncertain: correct guesses of Western, Polish, Cyrillic and Greek text measured
#: 0.0-0.05 (Polish cp1250: 0.11), the wrong ones 0.065-0.09 (French cp1252 taken for mac-latin2, Greek cp1253
#: for cp1251).
LOW_CONFIDENCE_CHAOS = 0.06

_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*|<\?xml[^>]*>\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S
)
_HTML_TAG = re.compile(
    r"</?(?:html|head|body|div|span|p|a|br|ul|ol|li|table|tr|td|th|h[1-6]|section|article|main|nav|"
    r"script|style|meta|link|img|pre|code|em|strong|b|i|form|input|header|footer)\b[^>]*>",
    re.I,
)
_MARKDOWN_SIGNS = re.compile(r"^(?: {0,3}#{1,6}[ \t]+\S| {0,3}(?:```|~~~))", re.M)
# A message's header block: "Name: value" lines (and folded continuation lines) up to the first blank line.
_HEADER_LINE = re.compile(r"^[!-9;-~]+:|^[ \t]+\S")
_MAIL_FIELDS = {"to", "cc", "subject", "date", "message-id", "mime-version", "received", "return-path", "reply-to"}


#: What a file that is a folder is told (one replaced by a folder between the walk and its reading).
IS_A_FOLDER = "is a folder, not a file (replaced by one while ingesting?); ingest again to read the files in it"


def os_error_reason(e: OSError) -> str:
    """The one line for a file that could not be opened or read: what happened and what to do."""
    if isinstance(e, IsADirectoryError):
        return IS_A_FOLDER
    if isinstance(e, FileNotFoundError):
        return "file not found (moved or deleted while ingesting?); ingest again (--prune removes what is gone)"
    if isinstance(e, PermissionError):
        return "permission denied: make the file readable for this user"
    return f"cannot read the file ({e.strerror or e}); check the path and disk"


def open_binary(path: Path, source: str) -> BinaryIO:
    """``open(path, "rb")`` with every OS failure turned into a :class:`LoadError` naming what to do
    (:func:`os_error_reason`)."""
    try:
        if path.is_dir():
            raise LoadError(source, IS_A_FOLDER)
        if path.exists() and not path.is_file():
            raise LoadError(source, "not a regular file (a FIFO, socket or device); skip it")
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except LoadError:
        raise
    except OSError as e:
        raise LoadError(source, os_error_reason(e)) from None


def read_head(path: Path, source: str, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of the file (see :func:`open_binary` for errors)."""
    with open_binary(path, source) as f:
        try:
            return f.read(size)
        except OSError as e:
            raise LoadError(source, f"cannot read the file ({e.strerror or e}); check the disk") from None


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` for BOM-less UTF-16 of mostly Latin text (every other byte NUL)."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def binary_reason(data: bytes, offset: int = 0) -> str | None:
    """Why ``data`` is binary, not text (``None``: it is text as far as control bytes go).

    Looks at each :data:`_CONTROL_WINDOW`-byte window: more than 2 % of control bytes (NUL included, tab,
    line ends, form feed and ESC excluded), and more than one, makes it binary. ``offset`` is where ``data``
    starts in its file, for the message. UTF-16/32 text must be recognised before this is asked.
    """
    for start in range(0, len(data), _CONTROL_WINDOW):
        window = data[start : start + _CONTROL_WINDOW]
        controls = len(window) - len(window.translate(None, _CONTROL_BYTES))
        if controls > max(1, _MAX_CONTROL_SHARE * len(window)):
            nuls = window.count(0)
            what = "NUL bytes" if 2 * nuls >= controls else "control characters"
            where = f" at offset {offset + start}" if offset or start else ""
            return f"binary content, not text ({what}{where}); is this the right file?"
    return None


def detect_encoding(head: bytes, source: str, *, complete: bool, warnings: list[str] | None = None) -> str:
    """The text encoding of a file that starts with ``head`` (``complete``: ``head`` is the whole file).

    BOMs win; then UTF-8 if ``head`` decodes as UTF-8; then charset-normalizer's best guess (cp1252 when it
    fits as well as the best: plain latin-1 text is reported as cp1252, its superset). A guess whose decoded
    text looks garbled in :data:`LOW_CONFIDENCE_CHAOS` or more of it adds a line to ``warnings``. Raises
    :class:`LoadError` ("binary content, not text") where :func:`binary_reason` finds a window of more
    than 2 % control bytes or NULs (outside UTF-16/32; a stray NUL is text, dropped later), and when no
    encoding fits.
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if b"\x00" in head:
        enc = _utf16_without_bom(head)
        if enc is not None:
            return enc
    reason = binary_reason(head)
    if reason is not None:
        raise LoadError(source, reason)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(head)
    best = matches.best()
    if best is None:
        raise LoadError(source, "binary content, not text (no text encoding fits); is this the right file?")
    # Short Western text fits several single-byte code pages equally well (charset-normalizer then often
    # names cp1250, which turns "è" into "č"): among the equally good, prefer the most common one.
    ties = [m for m in matches if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.01]
    enc, chaos = best.encoding, best.chaos
    for preferred in _PREFERRED_ENCODINGS:
        chosen = next((m for m in ties if preferred == m.encoding or preferred in m.could_be_from_charset), None)
        if chosen is not None:
            enc, chaos = preferred, chosen.chaos
            break
    enc = codecs.lookup(enc).name
    if warnings is not None and chaos >= LOW_CONFIDENCE_CHAOS:
        warnings.append(f"encoding guessed as {enc} with low confidence ({chaos:.0%} of the text looks garbled "
                        "so decoded); if it reads wrong, save the file as UTF-8")
    return "utf-8" if enc in ("ascii", "utf-8") else enc


def detect_type(path: Path, *, source: str | None = None) -> FileType:
    """The :data:`~ingest.types.FileType` of ``path``, by content as well as extension.

    Raises :class:`LoadError` for an empty, unreadable, binary or unsupported file, with ``source``
    (default: the path) as the name in the error.
    """
    path = Path(path)
    source = source if source is not None else path.as_posix()
    head = read_head(path, source)
    return detect_type_from_head(path, source, head)


def detect_type_from_head(path: Path, source: str, head: bytes) -> FileType:
    """:func:`detect_type` for a file whose first :data:`SNIFF_BYTES` bytes have been read already."""
    if not head.strip():
        raise LoadError(source, "empty file" if not head else "empty file (only whitespace)")
    if b"%PDF-" in head[:1024]:
        return "pdf"
    suffix = path.suffix.lower()
    declared = SUFFIX_TYPES.get(suffix)
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(path, source, declared)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise LoadError(
            source, "legacy Office file (.doc/.xls/.ppt or Outlook .msg): save it as .docx/.xlsx/.pptx or PDF first"
        )
    if suffix == ".pdf":
        raise LoadError(source, "not a PDF (no %PDF- header); the file is damaged or misnamed")
    if declared in ("docx", "pptx", "xlsx", "epub"):
        article = "an" if declared in ("xlsx", "epub") else "a"
        raise LoadError(
            source, f"not {article} {TYPE_NAMES[declared]} (not a zip archive); the file is damaged or misnamed"
        )

    encoding = detect_encoding(head, source, complete=len(head) < SNIFF_BYTES)
    text = head.decode(encoding, errors="replace")
    if _HTML_START.match(text.lstrip("\ufeff").encode("utf-8", "replace")):
        return "html"
    if declared in ("html", "markdown", "csv", "eml"):
        return declared
    if declared is None and _looks_like_mail(text):
        return "eml"
    tags = len(_HTML_TAG.findall(text))
    if tags >= 10 and tags >= len(text) / 200:  # at least 10 tags, and one per 200 characters
        return "html"
    if declared is None and len(_MARKDOWN_SIGNS.findall(text)) >= 2:
        return "markdown"
    return "text"


def _zip_type(path: Path, source: str, declared: FileType | None) -> FileType:
    """The type of a zip-based file, by its members (see the module docstring)."""
    what = TYPE_NAMES.get(declared or "", "")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            found = [t for marker, t in ZIP_MARKERS.items() if marker in names]
            if "epub" in found and declared != "epub" and not _epub_mimetype(z, names):
                found.remove("epub")  # another package format that borrowed META-INF/container.xml
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        name = f"zip/{what}" if what else "zip"
        raise LoadError(source, f"damaged {name} file ({e}); re-save it from its application") from None
    if found:
        return declared if declared in found else found[0]
    raise LoadError(
        source, "unsupported file type: a zip archive that is not a .docx, .pptx, .xlsx or .epub; unpack it first"
    )


def _epub_mimetype(z: zipfile.ZipFile, names: set[str]) -> bool:
    if "mimetype" not in names:
        return False
    with z.open("mimetype") as f:
        return f.read(64).strip() == b"application/epub+zip"


def _looks_like_mail(text: str) -> bool:
    """Whether ``text`` starts with a message's header block: header lines only, up to a blank line or the
    end, with a ``From`` field and two more of the fields every message has."""
    fields: set[str] = set()
    for line in text.lstrip("\ufeff").splitlines()[:200]:
        if not line.strip():
            break
        if not _HEADER_LINE.match(line):
            return False
        if not line[0].isspace():
            fields.add(line.split(":", 1)[0].lower())
    return "from" in fields and len(fields & _MAIL_FIELDS) >= 2
