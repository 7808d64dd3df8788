"""The data passed between the ingest stages: loaders produce a :class:`LoadedFile` of text blocks, the
chunker turns it into LangChain ``Document`` chunks, the indexer writes those into Chroma.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BLOCK_KINDS", "Attachment", "BlockKind", "FileType", "LoadError", "LoadedFile", "TextBlock"]

FileType = Literal["pdf", "html", "markdown", "text", "docx", "pptx", "xlsx", "csv", "epub", "eml"]
#: What a block holds, where the loader knows it. The chunker keeps *records* whole when they fit: each line
#: of a ``"table"`` (one row) or ``"list"`` block (one item), and the whole of an ``"entry"`` block (a term of
#: a definition list with its definition). ``"text"`` is everything else, ``"code"`` a verbatim block.
BlockKind = Literal["text", "table", "list", "entry", "code"]
BLOCK_KINDS: tuple[str, ...] = ("text", "table", "list", "entry", "code")


@dataclass(frozen=True)
class TextBlock:
    """A run of text that belongs to one place: one page (PDFs) and one section (heading path).

    Blocks are paragraphs or groups of paragraphs, in reading order; ``text`` is clean (no running
    headers/footers, hyphenation joined, whitespace normalised within lines, paragraphs separated by a
    blank line). ``heading`` is the path of section titles above the text, outermost first. ``kind`` says
    what the block holds (see :data:`BlockKind`); it is a hint for the chunker and takes no part in
    comparisons, so ``TextBlock("a") == TextBlock("a", kind="table")``.
    """

    text: str
    heading: tuple[str, ...] = ()
    page: int | None = None  # 1-based, PDFs only
    kind: BlockKind = field(default="text", compare=False)


@dataclass(frozen=True)
class Attachment:
    """A file carried inside another (an e-mail's attachment), to be ingested as a source of its own."""

    filename: str  # one safe path component, unique within its file, e.g. "report.pdf"
    data: bytes

    def __repr__(self) -> str:
        return f"Attachment({self.filename!r}, {len(self.data)} bytes)"


@dataclass
class LoadedFile:
    """A file's text as blocks, with what was learnt about it while loading."""

    source: str  # path relative to the ingest root, with forward slashes
    file_type: FileType
    blocks: list[TextBlock]
    title: str | None = None
    pages: int | None = None  # PDFs
    warnings: list[str] = field(default_factory=list)  # e.g. "encoding detected as cp1252"
    attachments: list[Attachment] = field(default_factory=list)  # e-mail attachments, to ingest on their own

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


class LoadError(Exception):
    """A file that cannot be ingested; ``reason`` is one line a user can act on."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
