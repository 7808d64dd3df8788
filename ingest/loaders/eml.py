"""E-mail (``.eml``, RFC 5322/MIME) through the standard library's :mod:`email` with ``policy.default``.

The subject is the title. The first block holds the headers a reader sees at the top of a message
(``From``, ``To``, ``Cc``, ``Date``, ``Subject``), one per line, decoded (``=?utf-8?...?=`` words, address
lists). The body is the ``text/plain`` part when there is one, else the ``text/html`` part read like a page
(:func:`~ingest.loaders.html.parse_html`); further inline text parts follow it. Attachments are returned as
:class:`~ingest.types.Attachment`\\ s (a forwarded message as ``.eml``) for the caller to ingest as sources of
their own (the pipeline names them ``<message source>/<file name>``); their file names are made safe (the
last path component, no control characters, no leading dot, unique within the message). Inline parts with
no file name and no text (pictures in an HTML body) are skipped. The whole message is read into memory
(attachments included), so its size is the caller's to bound. Doesn't handle: ``mbox`` files (many
messages), Outlook ``.msg`` files, ``format=flowed`` line joining, S/MIME or PGP encrypted bodies.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import cast

from ingest.loaders.clean import MAX_BLOCK_CHARS, normalize_line, split_long
from ingest.types import Attachment, TextBlock

__all__ = ["HEADER_FIELDS", "ParsedEmail", "attachment_name", "parse_eml"]

#: The header fields of the first block, in this order.
HEADER_FIELDS = ("From", "To", "Cc", "Date", "Subject")
_MAX_NAME = 120


@dataclass
class ParsedEmail:
    blocks: list[TextBlock]
    title: str | None
    attachments: list[Attachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def attachment_name(name: str | None, index: int, content_type: str, taken: set[str]) -> str:
    """A safe, unique file name for the ``index``-th (1-based) attachment (see the module docstring)."""
    name = unicodedata.normalize("NFKC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(". ")
    if not name:
        name = f"attachment-{index}{mimetypes.guess_extension(content_type) or ''}"
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 16:
        stem, dot, suffix = name, "", ""
    stem = stem[: _MAX_NAME - len(suffix) - 1]
    name, n = f"{stem}{dot}{suffix}", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{dot}{suffix}"
    taken.add(name)
    return name


def _header(message: EmailMessage, name: str) -> str:
    try:
        values = message.get_all(name) or []
        return normalize_line(" ".join(" ".join(str(v).split()) for v in values))
    except Exception:  # a header too malformed for the parser: skipped, the rest of the message is read
        return ""


def _text_of(part: EmailMessage, warnings: list[str]) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError):  # an unknown charset, a bad transfer encoding
        payload = part.get_payload(decode=True) or b""
        warnings.append(f"text part with charset {part.get_content_charset()!r} read as UTF-8")
        return payload.decode("utf-8", errors="replace")


def _body_blocks(part: EmailMessage, warnings: list[str]) -> list[TextBlock]:
    from ingest.loaders.html import parse_html
    from ingest.loaders.text import iter_text_blocks

    text = _text_of(part, warnings)
    if part.get_content_subtype() == "html":
        return parse_html(text)[0]
    return list(iter_text_blocks(text.splitlines()))


def parse_eml(data: bytes) -> ParsedEmail:
    """The blocks, title and attachments of a message given as its bytes."""
    message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(data))  # policy.default's type
    warnings: list[str] = []
    subject = _header(message, "Subject")
    lines = [f"{name}: {value}" for name in HEADER_FIELDS if (value := _header(message, name))]
    blocks = [TextBlock(p) for p in split_long("\n".join(lines), MAX_BLOCK_CHARS)] if lines else []

    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        blocks += _body_blocks(body, warnings)
    attachments: list[Attachment] = []
    taken: set[str] = set()
    parts = message.iter_attachments() if message.is_multipart() else iter(())
    for part in cast(Iterator[EmailMessage], parts):
        content_type = part.get_content_type()
        filename = part.get_filename()
        if content_type == "message/rfc822":
            inner = part.get_content()
            payload = inner.as_bytes() if isinstance(inner, EmailMessage) else bytes(inner)
            name = filename or f"message-{len(attachments) + 1}.eml"
        elif filename:
            payload = part.get_payload(decode=True) or b""
            name = filename
        elif part.get_content_maintype() == "text":
            blocks += _body_blocks(part, warnings)
            continue
        else:
            continue
        if payload:
            attachments.append(Attachment(attachment_name(name, len(attachments) + 1, content_type, taken), payload))
    return ParsedEmail(blocks, subject or None, attachments, warnings)
