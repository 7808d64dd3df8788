"""The data passed between the ingest stages: loaders produce a :class:`LoadedFile` of text blocks, the
chunker turns it into LangChain ``Document`` chunks, the indexer writes those into Chroma.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FileType", "LoadError", "LoadedFile", "TextBlock"]

FileType = Literal["pdf", "html", "markdown", "text", "docx"]


@dataclass(frozen=True)
class TextBlock:
    """A run of text that belongs to one place: one page (PDFs) and one section (heading path).

    Blocks are paragraphs or groups of paragraphs, in reading order; ``text`` is clean (no running
    headers/footers, hyphenation joined, whitespace normalised within lines, paragraphs separated by a
    blank line). ``heading`` is the path of section titles above the text, outermost first.
    """

    text: str
    heading: tuple[str, ...] = ()
    page: int | None = None  # 1-based, PDFs only


@dataclass
class LoadedFile:
    """A file's text as blocks, with what was learnt about it while loading."""

    source: str  # path relative to the ingest root, with forward slashes
    file_type: FileType
    blocks: list[TextBlock]
    title: str | None = None
    pages: int | None = None  # PDFs
    warnings: list[str] = field(default_factory=list)  # e.g. "encoding detected as cp1252"

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


class LoadError(Exception):
    """A file that cannot be ingested; ``reason`` is one line a user can act on."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
