"""Plain text, streamed: a file is decoded in 1 MiB pieces and yields its paragraphs as it goes.

Paragraphs are separated by blank lines; within a paragraph lines are kept (whitespace collapsed inside
each). Plain text has no headings. Line ends may be ``\\n``, ``\\r\\n`` or ``\\r``. Text is not
dehyphenated (a hyphen typed at a line end is usually meant). A paragraph longer than
:data:`~ingest.loaders.clean.MAX_BLOCK_CHARS` is split at line (then word) boundaries, so memory stays
bounded by the read size and one block, whatever the file's size or shape.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.loaders.clean import MAX_BLOCK_CHARS, normalize_line, split_long
from ingest.loaders.detect import binary_reason, open_binary
from ingest.types import LoadError, TextBlock

__all__ = ["READ_BYTES", "iter_lines", "iter_text_blocks"]

#: Bytes read (and decoded) at a time.
READ_BYTES = 1 << 20


def iter_lines(
    path: Path, source: str, encoding: str, warnings: list[str] | None = None, *, read_bytes: int = READ_BYTES
) -> Iterator[str]:
    """The lines of a text file (without line ends), decoded incrementally from ``encoding``.

    Undecodable bytes become U+FFFD; their count is appended to ``warnings`` at the end. Binary content past
    the sniffed start of a file that is not UTF-16/32 (a window dense in NUL or control bytes, see
    :func:`~ingest.loaders.detect.binary_reason`) raises :class:`LoadError`; a stray NUL is dropped. A line
    longer than :data:`MAX_BLOCK_CHARS` comes out in pieces.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    wide = encoding.startswith(("utf-16", "utf-32"))
    replaced = 0
    pending = ""
    with open_binary(path, source) as f:
        offset = 0
        while True:
            try:
                data = f.read(read_bytes)
            except OSError as e:
                raise LoadError(source, f"cannot read the file ({e.strerror or e}); check the disk") from None
            if not wide:
                reason = binary_reason(data, offset)
                if reason is not None:
                    raise LoadError(source, reason)
            offset += len(data)
            text = decoder.decode(data, final=not data)
            if not wide and "\x00" in text:
                text = text.replace("\x00", "")
            replaced += text.count("\ufffd")
            text = pending + text
            if data and text.endswith("\r"):  # maybe the first half of "\r\n"
                pending, text = "\r", text[:-1]
            else:
                pending = ""
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            lines = text.split("\n")
            if data:
                pending = lines.pop() + pending
            for line in lines:
                if len(line) > MAX_BLOCK_CHARS:
                    yield from split_long(line, MAX_BLOCK_CHARS)
                else:
                    yield line
            if len(pending) > MAX_BLOCK_CHARS:  # a line with no end in sight: emit what we have
                *full, pending = list(split_long(pending, MAX_BLOCK_CHARS)) or [""]
                yield from full
            if not data:
                break
    if replaced and warnings is not None:
        warnings.append(f"{replaced} undecodable byte sequence(s) replaced with U+FFFD (read as {encoding})")


def iter_text_blocks(lines: Iterable[str]) -> Iterator[TextBlock]:
    """Paragraphs (runs of non-blank lines) as blocks of at most :data:`MAX_BLOCK_CHARS` characters."""
    buf: list[str] = []
    size = 0
    for raw in lines:
        line = normalize_line(raw)
        if not line:
            if buf:
                yield TextBlock("\n".join(buf))
                buf, size = [], 0
            continue
        if buf and size + len(line) > MAX_BLOCK_CHARS:
            yield TextBlock("\n".join(buf))
            buf, size = [], 0
        buf.append(line)
        size += len(line) + 1
    if buf:
        yield TextBlock("\n".join(buf))
