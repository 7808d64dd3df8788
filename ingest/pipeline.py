"""The ingest pipeline: walk → skip unchanged → load → chunk → index, one file at a time, losing nothing.

A file that fails (unreadable, corrupt, encrypted, binary junk, an embedding error) gets one line in the
report; every other file is still ingested. A file that was indexed before and now fails (a PDF half-written
by a sync client, a transient Chroma error) keeps its last good chunks, and the report says so
(``kept_previous``): nothing is written half-way and nothing good is lost; a file deleted from the folder is
still removed by ``prune``, and ``rag-app remove`` removes on request. Unchanged files (same size and modification time, or same
content hash) are skipped before they are read, so a re-ingest of an unchanged folder embeds nothing.

The pipeline knows LangChain interfaces and a tokenizer, not our models: ``rag_app`` passes them in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from ingest.chunking import Chunker
from ingest.indexing import IndexingError, IndexStore, file_fingerprint
from ingest.loaders import open_file
from ingest.types import LoadError
from ingest.walk import FoundFile, WalkProblem, walk

__all__ = ["FileFailure", "IngestReport", "Ingestor"]

@dataclass(frozen=True)
class FileFailure:
    source: str
    error: str
    kept_previous: bool = False  # the chunks of its last good version are still in the index


@dataclass
class IngestReport:
    """What one ingest did; ``to_json`` is the ``rag-app ingest --json`` object."""

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    files_failed: list[FileFailure] = field(default_factory=list)
    files_removed: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_total: int = 0

    @property
    def ok(self) -> bool:
        return not self.files_failed

    def to_json(self) -> dict[str, Any]:
        return {
            "files_ingested": self.files_ingested,
            "files_unchanged": self.files_unchanged,
            "files_failed": [asdict(f) for f in self.files_failed],
            "chunks_added": self.chunks_added,
            "chunks_deleted": self.chunks_deleted,
            "chunks_total": self.chunks_total,
        }


ProgressCallback = Callable[[str, str], None]  # (source, status) after each file


class Ingestor:
    """Ingest folders into an :class:`~ingest.indexing.IndexStore`.

    ``tokenizer`` is the embedder's tokenizer and ``max_tokens`` its maximum sequence length, so that no
    chunk is silently truncated by the model.
    """

    def __init__(
        self,
        store: IndexStore,
        tokenizer: Any,
        *,
        chunk_size: int = 200,
        chunk_overlap: int = 40,
        max_tokens: int | None = None,
        pdf_password: str | None = None,
        chunk_metadata: dict[str, str | int | float | bool] | None = None,
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.chunker = Chunker(tokenizer, chunk_size=chunk_size, chunk_overlap=chunk_overlap, max_tokens=max_tokens)
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.max_tokens = max_tokens
        self.pdf_password = pdf_password
        # Added to every chunk, e.g. which embedding made its vector: a change makes the chunk new, so
        # index() re-embeds it instead of keeping a vector from another model.
        self.chunk_metadata = dict(chunk_metadata or {})

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        glob: str | tuple[str, ...] = "*",
        prune: bool = False,
        exclude: tuple[Path, ...] = (),
        on_file: ProgressCallback | None = None,
    ) -> IngestReport:
        report = IngestReport()
        seen: set[str] = set()
        for item in walk(list(paths), glob, exclude=exclude):
            if isinstance(item, WalkProblem):
                report.files_failed.append(FileFailure(item.source, item.reason))
                if on_file:
                    on_file(item.source, "failed")
                continue
            report.files_seen += 1
            seen.add(item.source)
            status = self._ingest_one(item, report)
            if on_file:
                on_file(item.source, status)
        if prune:
            for source in sorted(set(self.store.known_sources()) - seen):
                report.chunks_deleted += self.store.remove_source(source)
                report.files_removed += 1
        report.chunks_total = self.store.count()
        return report

    @property
    def settings(self) -> str:
        """What the chunks of a file depend on besides its content: a change re-ingests unchanged files."""
        name = getattr(self.tokenizer, "name_or_path", type(self.tokenizer).__name__)
        return (f"chunk_size={self.chunk_size};chunk_overlap={self.chunk_overlap};max_tokens={self.max_tokens};"
                f"tokenizer={name};metadata={sorted(self.chunk_metadata.items())}")

    def _ingest_one(self, found: FoundFile, report: IngestReport) -> str:
        source = found.source
        try:
            if self.store.is_unchanged(source, found.path, settings=self.settings):
                report.files_unchanged += 1
                return "unchanged"
            stamp = file_fingerprint(found.path)
            opened = open_file(found.path, source=source, pdf_password=self.pdf_password)
            mtime = int(found.path.stat().st_mtime)

            def chunks() -> Iterator[Document]:
                # Streamed: blocks → windows of chunks → batches written to the store, so memory stays
                # bounded whatever the file's size.
                for chunk in self.chunker.iter_chunks(
                    opened.blocks, source=source, file_type=opened.file_type, title=lambda: opened.title
                ):
                    chunk.metadata["mtime"] = mtime
                    chunk.metadata.update(self.chunk_metadata)
                    yield chunk

            stream = chunks()
            first = next(stream, None)
            if first is None:  # checked before the store is touched: an empty new version removes nothing
                raise LoadError(source, "no text to index")
            result = self.store.index_file(source, itertools.chain([first], stream), stamp=stamp, settings=self.settings)
        except (LoadError, IndexingError) as exc:
            return self._fail(source, exc.reason, report)
        except OSError as exc:
            return self._fail(source, f"cannot read: {exc.strerror or exc}", report)
        report.files_ingested += 1
        report.chunks_added += result.num_added
        report.chunks_deleted += result.num_deleted
        return "ingested"

    def _fail(self, source: str, reason: str, report: IngestReport) -> str:
        # The store rolled the failed attempt back: whatever the file had before (its last good version) is
        # still there, and stays until the file loads again, is deleted and pruned, or is removed on request.
        kept = self.store.journal.record_count(source) > 0
        report.files_failed.append(FileFailure(source, reason, kept_previous=kept))
        return "failed"
