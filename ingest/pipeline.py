"""The ingest pipeline: walk → skip unchanged → load → chunk → index, one file at a time, losing nothing.

A file that fails (unreadable, corrupt, encrypted, binary junk, an embedding error) gets one line in the
report; every other file is still ingested. A file that was indexed before and now fails (a PDF half-written
by a sync client, a transient Chroma error) keeps its last good chunks, and the report says so
(``kept_previous``): nothing is written half-way and nothing good is lost; a file deleted from the folder is
still removed by ``prune``, and ``rag-app remove`` removes on request. Unchanged files (same size and modification time, or same
content hash) are skipped before they are read, so a re-ingest of an unchanged folder embeds nothing. A file
whose size or modification time changes between its hashing and the end of its reading (a PDF still being
written) fails with :data:`CHANGED_WHILE_READ`, so the state recorded for a file is always that of the content
its chunks came from; one removed, replaced by a folder or made unreadable after the walk fails with the line
of :func:`~ingest.loaders.detect.os_error_reason`; a folder that cannot be listed is one line too, and
``prune`` leaves what is indexed under it.

Sources are named by the rule of :mod:`ingest.sources`: relative to the collection root, which the first
ingest records. The :class:`IngestReport` names every file with its status (:data:`FILE_STATUSES`), chunks
added and deleted, and the warnings of its loader and chunker (pages without text, extraction that fell
back, an encoding guessed with low confidence, headings not found, table rows cut) and of the store (the
same content indexed under another name). A streamed file's warnings grow while its blocks are read: they
are collected once its chunk stream is exhausted.

An e-mail's attachments are sources of their own, named ``<message source>/<file name>``
(``inbox/offer.eml/prices.xlsx``): each is written to a temporary file and ingested like any file when its
message is, and stays while its message does (``prune`` keeps it); an attachment a new version of the
message no longer has is removed. An attachment of a type no loader reads (a picture, an archive) is a
warning on its message's line.

The pipeline knows LangChain interfaces and a tokenizer, not our models: ``rag_app`` passes them in.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from langchain_core.documents import Document

from ingest.chunking import Chunker
from ingest.indexing import FileState, IndexingError, IndexStore, file_fingerprint
from ingest.loaders import OcrOptions, open_file
from ingest.loaders.detect import os_error_reason
from ingest.sources import collection_root, infer_root
from ingest.types import Attachment, LoadError
from ingest.walk import FoundFile, WalkProblem, walk

__all__ = ["CHANGED_WHILE_READ", "FILE_STATUSES", "FileFailure", "FileReport", "FileStatus", "IngestReport", "Ingestor"]

FileStatus = Literal["ingested", "unchanged", "failed", "kept_previous", "pruned"]
"""What an ingest did with a file: ``ingested`` (new or changed, its chunks written), ``unchanged`` (skipped
unread), ``failed`` (nothing of it is indexed), ``kept_previous`` (its new version failed; the chunks of its
last good version stay), ``pruned`` (gone from the folder, its chunks removed by ``--prune``)."""
FILE_STATUSES: tuple[str, ...] = get_args(FileStatus)
#: The error of a file whose size or modification time changed while it was read (a PDF still being written
#: by a sync client): what was read may be half of it, so nothing of it is written and no state recorded.
CHANGED_WHILE_READ = "changed while it was being read (still being written or synced?); ingest again once it is complete"

@dataclass(frozen=True)
class FileFailure:
    source: str
    error: str
    kept_previous: bool = False  # the chunks of its last good version are still in the index


@dataclass
class FileReport:
    """One file's line in the report: its ``source``, what was done (:data:`FileStatus`), chunks it added and
    deleted, its warnings, and for ``failed`` and ``kept_previous`` the ``error``."""

    source: str
    status: FileStatus
    chunks_added: int = 0
    chunks_deleted: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def needs_attention(self) -> bool:
        """Failed, kept, pruned or warned about: what the CLI's table shows without ``--verbose``."""
        return self.status in ("failed", "kept_previous", "pruned") or bool(self.warnings)


@dataclass
class IngestReport:
    """What one ingest did; ``to_json`` is the ``rag-app ingest --json`` object: the counts, ``files_failed``
    (each failure with ``kept_previous``), ``root`` (what sources are named relative to) and ``files`` (every
    file with its status, see :class:`FileReport`)."""

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    files_failed: list[FileFailure] = field(default_factory=list)
    files_removed: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_total: int = 0
    files: list[FileReport] = field(default_factory=list)
    root: str | None = None

    @property
    def ok(self) -> bool:
        return not self.files_failed

    def to_json(self) -> dict[str, Any]:
        return {
            "files_ingested": self.files_ingested,
            "files_unchanged": self.files_unchanged,
            "files_failed": [asdict(f) for f in self.files_failed],
            "files_pruned": self.files_removed,
            "chunks_added": self.chunks_added,
            "chunks_deleted": self.chunks_deleted,
            "chunks_total": self.chunks_total,
            "root": self.root,
            "files": [asdict(f) for f in self.files],
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
        ocr: OcrOptions | None = None,
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.chunker = Chunker(tokenizer, chunk_size=chunk_size, chunk_overlap=chunk_overlap, max_tokens=max_tokens)
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.max_tokens = max_tokens
        self.pdf_password = pdf_password
        self.ocr = ocr if ocr is not None else OcrOptions()  # PDF pages without a text layer
        # Added to every chunk, e.g. which embedding made its vector: a change makes the chunk new, so
        # index() re-embeds it instead of keeping a vector from another model.
        self.chunk_metadata = dict(chunk_metadata or {})
        self._attachment_depth = 0  # how deep in attachments of attachments the current file is

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        glob: str | tuple[str, ...] = "*",
        prune: bool = False,
        exclude: tuple[Path, ...] = (),
        on_file: ProgressCallback | None = None,
    ) -> IngestReport:
        root = self._root(paths)
        report = IngestReport(root=None if root is None else root.as_posix())
        seen: set[str] = set()
        unlisted: list[Path] = []  # folders that could not be read: what is indexed under them is not pruned
        for item in walk(list(paths), glob, exclude=exclude, root=root):
            if isinstance(item, WalkProblem):
                if item.folder is not None:
                    unlisted.append(item.folder)
                report.files_failed.append(FileFailure(item.source, item.reason))
                report.files.append(FileReport(item.source, "failed", error=item.reason))
                if on_file:
                    on_file(item.source, "failed")
                continue
            report.files_seen += 1
            seen.add(item.source)
            entry = self._ingest_one(item, report)
            report.files.append(entry)
            if on_file:
                on_file(item.source, entry.status)
        if prune:
            gone = set(self.store.known_sources()) - seen
            for source in sorted(s for s in gone if not _carried(s, seen) and not _under(s, root, unlisted)):
                deleted = self.store.remove_source(source)
                report.chunks_deleted += deleted
                report.files_removed += 1
                report.files.append(FileReport(source, "pruned", chunks_deleted=deleted))
        report.chunks_total = self.store.count()
        return report

    def ingest_files(self, files: Sequence[tuple[Path, str]], *, on_file: ProgressCallback | None = None) -> IngestReport:
        """Ingest each ``(path, source)`` under the source given, e.g. a server upload under its file name (see
        :mod:`ingest.sources`); no folder is walked, no root recorded, nothing pruned."""
        root = self.store.root
        report = IngestReport(root=None if root is None else root.as_posix())
        for path, source in files:
            report.files_seen += 1
            entry = self._ingest_one(FoundFile(Path(path), source), report)
            report.files.append(entry)
            if on_file:
                on_file(source, entry.status)
        report.chunks_total = self.store.count()
        return report

    def _root(self, paths: Sequence[Path]) -> Path | None:
        """The collection root; recorded now if the index has none (:mod:`ingest.sources`): the folder of
        ``paths``, or for an index named before roots were recorded, the ancestor that explains its names."""
        root = self.store.root
        if root is None:
            start = collection_root(paths)
            if start is None:  # nothing given exists: every path is reported, no root is chosen
                return None
            known = self.store.known_sources()
            root = infer_root(start, known) if known else start
            self.store.set_root(root)
        return root

    @property
    def settings(self) -> str:
        """What the chunks of a file depend on besides its content: a change re-ingests unchanged files."""
        name = getattr(self.tokenizer, "name_or_path", type(self.tokenizer).__name__)
        return (f"chunk_size={self.chunk_size};chunk_overlap={self.chunk_overlap};max_tokens={self.max_tokens};"
                f"tokenizer={name};metadata={sorted(self.chunk_metadata.items())}{self._ocr_setting()}")

    def _ocr_setting(self) -> str:
        """``;ocr=LANG`` while OCR can run: installing Tesseract or changing the language reads PDFs again."""
        active = self.ocr.fingerprint()
        return "" if active in ("off", "none") else f";ocr={active}"

    def _ingest_one(self, found: FoundFile, report: IngestReport) -> FileReport:
        source = found.source
        warnings: list[str] = []  # the loader's (as it reads), then the chunker's, then the store's
        try:
            if self.store.is_unchanged(source, found.path, settings=self.settings):
                report.files_unchanged += 1
                return FileReport(source, "unchanged")
            stamp = file_fingerprint(found.path)
            opened = open_file(found.path, source=source, pdf_password=self.pdf_password, ocr=self.ocr)
            warnings = opened.warnings  # the same list: a streamed file adds to it while its blocks are read
            chunker_warnings: list[str] = []
            mtime = stamp.mtime_ns // 1_000_000_000

            def chunks() -> Iterator[Document]:
                # Streamed: blocks → windows of chunks → batches written to the store, so memory stays
                # bounded whatever the file's size.
                for chunk in self.chunker.iter_chunks(
                    opened.blocks, source=source, file_type=opened.file_type, title=lambda: opened.title,
                    warnings=chunker_warnings,
                ):
                    chunk.metadata["mtime"] = mtime
                    chunk.metadata.update(self.chunk_metadata)
                    yield chunk
                # Every block is read: if the file changed since it was hashed, its chunks are not of the
                # content ``stamp`` describes. Raised inside the stream, so the store rolls this attempt back.
                if _changed_since(found.path, stamp):
                    raise LoadError(source, CHANGED_WHILE_READ)

            stream = chunks()
            first = next(stream, None)
            if first is None:  # checked before the store is touched: an empty new version removes nothing
                raise LoadError(source, "no text to index")
            result = self.store.index_file(source, itertools.chain([first], stream), stamp=stamp, settings=self.settings)
        except (LoadError, IndexingError) as exc:
            return self._fail(source, exc.reason, report, warnings)
        except OSError as exc:  # between the walk and the read: removed, replaced by a folder, made unreadable
            return self._fail(source, os_error_reason(exc), report, warnings)
        # Read only now: index_file has exhausted the chunk stream, so every block was read.
        warnings = [*warnings, *chunker_warnings]
        if others := self.store.same_content(stamp.sha256, besides=source):
            named = ", ".join(repr(other) for other in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            warnings.append(f"same content as {named}, indexed under {'that name' if len(others) == 1 else 'those names'} "
                            "too: its text is in the index twice (`rag-app remove` the name you do not want)")
        report.files_ingested += 1
        report.chunks_added += result.num_added
        report.chunks_deleted += result.num_deleted
        if opened.file_type == "eml":  # the format whose files carry files
            warnings += self._ingest_attachments(source, opened.attachments, report)
        return FileReport(source, "ingested", result.num_added, result.num_deleted, warnings)

    def _fail(self, source: str, reason: str, report: IngestReport, warnings: Sequence[str] = ()) -> FileReport:
        # The store rolled the failed attempt back: whatever the file had before (its last good version) is
        # still there, and stays until the file loads again, is deleted and pruned, or is removed on request.
        kept = self.store.journal.record_count(source) > 0
        report.files_failed.append(FileFailure(source, reason, kept_previous=kept))
        return FileReport(source, "kept_previous" if kept else "failed", warnings=list(warnings), error=reason)

    #: How deep attachments are followed (a message attached to a message attached to a message...).
    MAX_ATTACHMENT_DEPTH = 3

    def _ingest_attachments(self, source: str, attachments: Sequence[Attachment], report: IngestReport) -> list[str]:
        """Ingest the ``attachments`` of the file ``source`` as sources ``<source>/<file name>``, each from a
        temporary copy (so every loader reads a file, and an unchanged one is skipped by its hash), and remove
        the ones its previous version had; each gets its own line in ``report``. Returns the warnings for
        ``source``'s own line: attachments no loader reads, and those nested too deep."""
        from ingest.loaders import detect_type

        prefix = f"{source}/"
        depth = self._attachment_depth
        if attachments and depth >= self.MAX_ATTACHMENT_DEPTH:
            return [f"{len(attachments)} attachment(s) not indexed: nested more than {self.MAX_ATTACHMENT_DEPTH} deep"]
        warnings: list[str] = []
        current: set[str] = set()
        self._attachment_depth = depth + 1
        try:
            with tempfile.TemporaryDirectory(prefix="rag-app-attachments-") as folder:
                for attachment in attachments:
                    path = Path(folder) / attachment.filename
                    name = prefix + attachment.filename
                    try:
                        path.write_bytes(attachment.data)
                        detect_type(path, source=name)
                    except LoadError as exc:  # a picture, an archive: not a failure of the message
                        warnings.append(f"attachment {attachment.filename} not indexed: {exc.reason}")
                        continue
                    except OSError as exc:
                        warnings.append(f"attachment {attachment.filename} not indexed: cannot write a temporary "
                                        f"copy ({exc.strerror or exc}); check the disk space of the temp folder")
                        continue
                    current.add(name)
                    report.files_seen += 1
                    report.files.append(self._ingest_one(FoundFile(path, name), report))
        finally:
            self._attachment_depth = depth
        known = self.store.journal.known_sources()  # the records' sources: no scan of the collection
        for stale in sorted(s for s in known if s.startswith(prefix) and s not in current):
            if "/" in stale[len(prefix):]:  # an attachment of an attachment: its own message removes it
                continue
            for gone in sorted(s for s in known if s == stale or s.startswith(f"{stale}/")):
                deleted = self.store.remove_source(gone)
                report.chunks_deleted += deleted
                report.files_removed += 1
                report.files.append(FileReport(gone, "pruned", chunks_deleted=deleted))
        return warnings


def _changed_since(path: Path, stamp: FileState) -> bool:
    """Whether the file at ``path`` is no longer the one ``stamp`` was taken of (size or modification time
    differ, or it is gone)."""
    try:
        now = path.stat()
    except OSError:
        return True
    return (now.st_size, now.st_mtime_ns) != (stamp.size, stamp.mtime_ns)


def _under(source: str, root: Path | None, folders: Sequence[Path]) -> bool:
    """Whether the file named ``source`` is in one of ``folders`` (or is one)."""
    if root is None or not folders:
        return False
    path = Path(os.path.abspath(Path(root, source)))
    return any(path == folder or folder in path.parents for folder in (Path(os.path.abspath(f)) for f in folders))


def _carried(source: str, seen: set[str]) -> bool:
    """Whether ``source`` names a file carried inside a file in ``seen`` (``mail.eml/offer.pdf``, an
    e-mail's attachment): a folder and a file never share a path, so a seen file's name ending a prefix
    is its container."""
    while "/" in source:
        source = source.rsplit("/", 1)[0]
        if source in seen:
            return True
    return False
