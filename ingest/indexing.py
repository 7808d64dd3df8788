"""The write path: chunks into Chroma, incrementally, losing nothing, one writer at a time.

:func:`open_store` opens an :class:`IndexStore`: a Chroma collection (embedded ``PersistentClient``
under the ``--db`` folder by default, or a ``chroma run`` server through ``HttpClient``), always in
cosine space, plus the bookkeeping of :mod:`ingest.journal` in ``<db>/records.sqlite``.
:meth:`IndexStore.index_file` writes one file's chunks through LangChain's indexing API
(``langchain_core.indexing.index``, ``cleanup="scoped_full"``, ``source_id_key="source"``,
a chunk id from :class:`ChunkKeys`), so that:

- a chunk's id is its text plus what its vector depends on (source, title, heading path, the embedding
  tag), not its position: editing one paragraph of a long file embeds only the chunks whose text changed,
  and the chunks that merely moved get their new positions (:data:`POSITION_KEYS`) written in place;
- re-ingesting an unchanged file embeds nothing (the record manager knows its chunk ids), and
  :meth:`IndexStore.is_unchanged` lets the pipeline skip such a file without even loading it;
- a changed file's old chunks are deleted once its new ones are in; other files are untouched;
- no Chroma call exceeds the client's maximum batch size (:class:`BatchedChroma` splits its adds),
  and ``index()`` is called once per file with a batch as large as the file, because incremental
  cleanup across several ``index()`` batches of one source deletes and re-embeds its chunks;
- writes are upserts keyed by those ids, so writing a chunk twice never duplicates it;
- a file that fails (embedder error, Chroma error) is rolled back to what the index held before and
  reported as :class:`IndexingError`; files done before it are kept;
- a crash or ``kill -9`` at any point, followed by a rerun, ends in exactly the state of one clean
  ingest. Before its first vector-store write for a source, the store commits a journal row; the
  row is cleared in the same transaction that records the file's new state. A row found at the next
  :func:`open_store` (or :meth:`IndexStore.recover`) names a source whose Chroma chunks and records
  may disagree: chunks Chroma has but the records do not are deleted, records whose chunks are gone
  are dropped, the file's state is forgotten so the pipeline indexes it again. An interrupted
  :meth:`IndexStore.remove_source` is finished.

Writers are serialised by a lock file (``<db>/ingest.lock``, POSIX ``flock``; none on Windows). A writer in
another process than a ``rag-app serve`` on the same embedded db is refused (:mod:`ingest.claim`: embedded
Chroma is not safe for two processes; ingest through the server then). Readers do not use this module: they open the
collection with :func:`ingest.reader.open_reader`, which takes no lock, runs no recovery and shows the last
committed state of every source (the journal row of a write names that state's chunk ids).

With a Chroma server, the record manager and journal still live in the local ``--db`` folder, in a
namespace that names the server (``chroma/<collection>@<host>:<port>``): the records describe what
that server holds, so two machines ingesting into one server each keep their own records and must
not ingest the same sources. If the collection is found empty while the records say otherwise
(deleted on the server, or the Chroma files removed), the records are dropped with a warning.

Not handled here: opening Chroma (:mod:`ingest.chroma_store`), reading (:mod:`ingest.reader`), loading and chunking files (``ingest.loaders``, ``ingest.chunking``), walking a
folder (the pipeline), and changing the embedding model of an existing collection (use another
collection name, or delete the db: the records cannot tell vectors of two models apart).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index

from ingest.chroma_store import (
    DEFAULT_COLLECTION,
    DEFAULT_DB_DIR,
    LOCK_FILE,
    RECORDS_FILE,
    BatchedChroma,
    ChromaConnection,
    EmbedText,
    IndexNotFoundError,
    StoreError,
    connect,
    count_sources,
    iter_pages,
    one_line,
)
from ingest.journal import FileState, IngestJournal

if TYPE_CHECKING:
    from ingest.claim import Claim

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no inter-process lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DB_DIR",
    "POSITION_KEYS",
    "BatchedChroma",
    "ChunkKeys",
    "FileResult",
    "FileState",
    "IndexNotFoundError",
    "IndexStore",
    "IndexingError",
    "StoreError",
    "file_fingerprint",
    "open_store",
]

class IndexingError(Exception):
    """A file whose chunks could not be indexed; the index holds what it held before the attempt.

    ``reason`` is one line (the underlying error); the original exception is the ``__cause__``.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class FileResult:
    """What :meth:`IndexStore.index_file` did for one file, from LangChain's ``IndexingResult``."""

    source: str
    added: int  # chunks embedded and written
    updated: int  # chunks re-written in place (only with force_update, which we never use)
    skipped: int  # chunks already in the index, untouched
    deleted: int  # the file's old chunks removed

    @property
    def unchanged(self) -> bool:
        return self.added == self.updated == self.deleted == 0

    # The names of LangChain's ``IndexingResult`` keys, for callers that know those.
    @property
    def num_added(self) -> int:
        return self.added

    @property
    def num_updated(self) -> int:
        return self.updated

    @property
    def num_skipped(self) -> int:
        return self.skipped

    @property
    def num_deleted(self) -> int:
        return self.deleted


def file_fingerprint(path: Path) -> FileState:
    """Size, modification time (ns) and SHA-256 of a file, for :meth:`IndexStore.mark_file`."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        stat = os.fstat(handle.fileno())
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return FileState(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=digest.hexdigest())


class _WriterLock:
    """One writer at a time on a db folder: a thread lock plus an ``flock`` on ``<db>/ingest.lock``.

    Re-entrant within a thread. The ``flock`` is released by the OS when the process dies, so a killed
    ingest never leaves the db locked.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644) if fcntl else None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class IndexStore:
    """A Chroma collection with its record manager, journal and file states; see the module docstring.

    Build it with :func:`open_store`. Writes (:meth:`index_file`, :meth:`remove_source`,
    :meth:`prune`, :meth:`mark_file`, :meth:`recover`) take the db's writer lock. ``vector_store`` is the
    LangChain ``VectorStore`` for retrieval. Close it (or use ``with``) to release the client.
    """

    def __init__(self, connection: ChromaConnection, journal: IngestJournal) -> None:
        self.connection = connection
        self.vector_store = connection.vector_store
        self.journal = journal
        self._lock = _WriterLock(connection.db_dir / LOCK_FILE)
        self.claim: Claim | None = None  # held while open: no server in another process serves this db

    @property
    def db_dir(self) -> Path:
        return self.connection.db_dir

    @property
    def collection(self) -> str:
        return self.connection.collection

    @property
    def server(self) -> str | None:
        return self.connection.server

    # ---- description --------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.journal.namespace

    @property
    def location(self) -> str:
        """Where the chunks live, for messages: the db folder, or the server and the local records."""
        return self.connection.location

    @property
    def max_batch_size(self) -> int:
        return self.vector_store.max_batch_size

    def __repr__(self) -> str:
        return f"IndexStore({self.location})"

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the SQLite connection, the lock file, the Chroma client and the claim this store holds."""
        self.journal.close()
        self._lock.close()
        self.connection.close()
        if self.claim is not None:
            self.claim.release()
            self.claim = None

    # ---- reading ------------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of chunks in the collection."""
        return self.vector_store.collection.count()

    def sources(self) -> list[tuple[str, int]]:
        """Every source in the collection with its number of chunks, sorted by source."""
        return count_sources(self.vector_store)

    def file_state(self, source: str) -> FileState | None:
        """The state recorded by :meth:`mark_file` for ``source``, or ``None``."""
        return self.journal.file_state(source)

    @property
    def root(self) -> Path | None:
        """The folder sources are named relative to (:mod:`ingest.sources`); ``None`` until the first
        ingest records one."""
        value = self.journal.info("root")
        return Path(value) if value else None

    def set_root(self, root: Path) -> None:
        """Record the collection root (an absolute folder)."""
        with self._lock.hold():
            self.journal.set_info("root", str(root))

    def same_content(self, sha256: str, *, besides: str) -> list[str]:
        """Other sources whose file, as last indexed, had the content hash ``sha256``, sorted."""
        return [source for source in self.journal.sources_with_sha256(sha256) if source != besides]

    def find_source(self, given: str, *, upload_folder: Path | None = None) -> str | None:
        """The source ``given`` names: itself when it is one (as ``rag-app sources`` prints it), else the
        source of the file at that path (see :func:`ingest.sources.name_candidates`); ``None`` when neither.
        A name made of the path's trailing parts (an index written before roots were recorded) counts only
        when the file at the path has the content indexed under that name."""
        from ingest.sources import name_candidates

        known = self.known_sources()
        if given in known:
            return given
        digest: str | None = None
        for name, certain in name_candidates(given, self.root, upload_folder=upload_folder):
            if name not in known:
                continue
            if certain:
                return name
            state = self.journal.file_state(name)
            if state is None:
                continue
            if digest is None:
                try:
                    digest = file_fingerprint(Path(given).expanduser()).sha256
                except OSError:
                    return None
            if state.sha256 == digest:
                return name
        return None

    def is_unchanged(self, source: str, path: Path, *, settings: str = "") -> bool:
        """Whether the file at ``path`` is the one indexed as ``source`` under the same ``settings``.

        Same size and modification time: unchanged, without reading the file. Otherwise the file is
        hashed; same SHA-256 (a ``touch``, a copy): unchanged, and the new time is recorded so the
        next check is quick again.
        """
        state = self.journal.file_state(source)
        if state is None or state.settings != settings:
            return False
        stat = Path(path).stat()
        if stat.st_size != state.size:
            return False
        if stat.st_mtime_ns == state.mtime_ns:
            return True
        now = file_fingerprint(path)
        if now.sha256 != state.sha256:
            return False
        with self._lock.hold():
            self.journal.set_file_state(source, replace(state, mtime_ns=now.mtime_ns))
        return True

    # ---- writing ------------------------------------------------------------------------------------

    def mark_file(
        self,
        source: str,
        size: int,
        mtime_ns: int,
        sha256: str,
        *,
        chunks: int | None = None,
        settings: str = "",
    ) -> None:
        """Record the state of the file just indexed as ``source`` (call only after it succeeded).

        ``chunks`` defaults to the number of chunks the records hold for ``source``.
        """
        with self._lock.hold():
            count = self.journal.record_count(source) if chunks is None else chunks
            self.journal.set_file_state(source, FileState(size, mtime_ns, sha256, count, settings))

    def index_file(
        self,
        source: str,
        chunks: Iterable[Document],
        *,
        stamp: FileState | None = None,
        settings: str = "",
    ) -> FileResult:
        """Make the index hold exactly ``chunks`` for ``source``: add the new ones, delete the old ones.

        Every chunk's ``metadata["source"]`` must be ``source``. No chunks removes the source. ``chunks``
        may be a generator: it is consumed in batches of at most :attr:`max_batch_size`, and the source's
        old chunks are deleted once all new ones are recorded (LangChain's ``scoped_full`` cleanup), so a
        file of any size is indexed in bounded memory without re-embedding chunks it already had. Given a
        ``stamp`` (:func:`file_fingerprint` of the file the chunks came from), the file state is
        recorded in the same transaction that closes the journal row; without one, any recorded state
        is forgotten (call :meth:`mark_file` afterwards).

        Raises:
            ValueError: a chunk of another source, or a store opened without an embedding (caller
                bugs; the source is left as it was).
            IndexingError: the write failed; the source is rolled back to what it was before.
            Any exception raised by ``chunks`` itself (e.g. a loader error found while streaming): the
                source is rolled back and the exception propagates unchanged.
        """
        stream = iter(chunks)
        first = next(stream, None)
        if first is not None and self.vector_store.embeddings is None:
            raise ValueError(f"{self.location} was opened without an embedding: it cannot index {source!r}")
        if first is not None and first.metadata.get("source") != source:
            raise ValueError(f"chunk 0 of {source!r} has metadata source {first.metadata.get('source')!r}")

        keys = ChunkKeys()
        kept: dict[str, dict] = {}  # chunks the index already holds, by id: their new positions

        def checked() -> Iterator[Document]:
            chunk, position = first, 0
            while chunk is not None:
                if chunk.metadata.get("source") != source:
                    raise _ChunkStreamError(ValueError(
                        f"chunk {position} of {source!r} has metadata source {chunk.metadata.get('source')!r}"
                    ))
                chunk = keys.with_id(chunk)
                if chunk.id in before:
                    kept[chunk.id] = chunk.metadata
                yield chunk
                position += 1
                try:
                    chunk = next(stream, None)
                except Exception as exc:
                    raise _ChunkStreamError(exc) from exc

        with self._lock.hold():
            # What a failed attempt must come back to, and what readers see meanwhile. Old chunks are only
            # deleted after every new one is written (scoped_full), so rolling back means deleting the keys
            # this attempt added.
            before = set(self.journal.group_keys(source))
            self.journal.begin(source, "index", committed=before)
            try:
                if first is not None:
                    # One index() call per file; cleanup after all batches, so a file spread over several
                    # batches is never half-deleted and re-embedded. BatchedChroma splits the writes.
                    outcome = index(
                        checked(),
                        self.journal,
                        self.vector_store,
                        batch_size=self.max_batch_size,
                        cleanup="scoped_full",
                        source_id_key="source",
                        key_encoder=_given_id,
                        cleanup_batch_size=self.max_batch_size,
                    )
                    self._refresh_metadata(kept)
                    result = FileResult(
                        source,
                        added=outcome["num_added"],
                        updated=outcome["num_updated"],
                        skipped=outcome["num_skipped"],
                        deleted=outcome["num_deleted"],
                    )
                else:
                    result = FileResult(source, added=0, updated=0, skipped=0, deleted=self._purge(source))
                    self.journal.delete_keys(self.journal.group_keys(source))
            except _ChunkStreamError as exc:
                self._roll_back(source, exc.error, keep=before, propagate=True)
            except Exception as exc:
                self._roll_back(source, exc, keep=before)
            state = None
            if stamp is not None:
                state = replace(stamp, chunks=self.journal.record_count(source), settings=settings)
            self.journal.finish(source, state)
        return result

    def remove_source(self, source: str) -> int:
        """Delete every chunk of ``source`` from Chroma and its records and file state; returns how
        many chunks Chroma held. Interrupted, it is finished by the next :meth:`recover`."""
        with self._lock.hold():
            self.journal.begin(source, "remove")
            try:
                removed = self._purge(source)
            except Exception as exc:
                raise StoreError(f"cannot remove {source!r} from {self.location}: {one_line(exc)}") from exc
            self.journal.forget(source)
        return removed

    def known_sources(self) -> set[str]:
        """Sources with chunks in the collection, records, or a file state."""
        return {source for source, _count in self.sources()} | self.journal.known_sources()

    def stale_sources(self, keep: set[str]) -> list[str]:
        """Known sources (:meth:`known_sources`) that are not in ``keep``, sorted."""
        return sorted(self.known_sources() - keep)

    def prune(self, keep: set[str]) -> int:
        """Remove every source not in ``keep`` (the files still present); returns the chunks removed."""
        with self._lock.hold():
            return sum(self.remove_source(source) for source in self.stale_sources(keep))

    def recover(self) -> list[str]:
        """Repair the sources whose last write was interrupted; returns them. :func:`open_store` calls it.

        For an interrupted index: chunks in Chroma that the records do not know are deleted, records
        whose chunks are not in Chroma are dropped, and the file state is forgotten so that the next
        ingest indexes the file again. For an interrupted removal: the removal is finished.
        """
        with self._lock.hold():
            pending = self.journal.pending()
            for source, op in pending:
                if op == "remove":
                    self._purge(source)
                    self.journal.forget(source)
                else:
                    self._reconcile(source)
            if self.journal.record_count() and self.count() == 0:
                warnings.warn(
                    f"{self.location} is empty but {self.journal.path} lists "
                    f"{self.journal.record_count()} chunks in it (collection deleted or Chroma files "
                    "removed?); forgetting them so that the next ingest adds everything again",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.journal.clear()
        return [source for source, _op in pending]

    # ---- internals ----------------------------------------------------------------------------------

    def _refresh_metadata(self, kept: dict[str, dict]) -> None:
        """Write the new positions (page, offsets, chunk index, file time) of chunks that were not
        re-embedded, where they moved; vectors and texts are untouched."""
        ids = list(kept)
        collection = self.vector_store.collection
        for start in range(0, len(ids), self.max_batch_size):
            batch = ids[start : start + self.max_batch_size]
            stored = collection.get(ids=batch, include=["metadatas"])
            moved = [
                (id_, kept[id_]) for id_, meta in zip(stored["ids"], stored["metadatas"], strict=True)
                if dict(meta or {}) != kept[id_]
            ]
            if moved:
                collection.update(ids=[i for i, _ in moved], metadatas=[m for _, m in moved])

    def _chroma_ids(self, source: str) -> list[str]:
        return [id_ for ids, _ in iter_pages(self.vector_store, where={"source": source}, metadatas=False) for id_ in ids]

    def _purge(self, source: str) -> int:
        """Delete every chunk of ``source`` from Chroma (not from the records); returns how many."""
        ids = self._chroma_ids(source)
        if ids:
            self.vector_store.delete(ids)
        return len(ids)

    def _reconcile(self, source: str) -> None:
        """Make Chroma and the records agree on ``source``, then forget its file state and journal row."""
        in_chroma = set(self._chroma_ids(source))
        recorded = set(self.journal.group_keys(source))
        orphans = sorted(in_chroma - recorded)  # written to Chroma, the records never updated
        if orphans:
            self.vector_store.delete(orphans)
        lost = sorted(recorded - in_chroma)  # deleted from Chroma, the records not yet
        if lost:
            self.journal.delete_keys(lost)
        self.journal.finish(source, None)

    def _roll_back(self, source: str, exc: Exception, *, keep: set[str], propagate: bool = False) -> NoReturn:
        """Undo a failed index of ``source``: delete the chunks it added (keys not in ``keep``), then raise
        :class:`IndexingError` (or ``exc`` itself when ``propagate``: an error of the caller's chunk stream,
        not of the store)."""
        reason = one_line(exc)
        try:
            added = sorted(set(self.journal.group_keys(source)) - keep)
            if added:
                self.vector_store.delete(added)
                self.journal.delete_keys(added)
            self._reconcile(source)
        except Exception as repair_exc:
            raise IndexingError(
                source,
                f"{reason}; rolling back also failed ({one_line(repair_exc)}): "
                f"it will be repaired when {self.location} is next opened",
            ) from exc
        if propagate:
            raise exc
        raise IndexingError(source, reason) from exc


POSITION_KEYS = frozenset({"chunk_index", "start_index", "end_index", "page", "mtime"})
"""Chunk metadata that says where a chunk is, not what it is: a change never re-embeds the chunk."""


class ChunkKeys:
    """The ids of one file's chunks: a chunk is its text plus every metadata value that is not a position
    (source, title, heading path, the embedding tag: what its vector depends on), so an edit elsewhere in
    the file leaves its id, and its vector, as they were. The n-th repeat of the same chunk in a file gets
    its own id, so repeated text (a warning printed in every chapter) keeps every copy."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def with_id(self, chunk: Document) -> Document:
        identity = {k: v for k, v in chunk.metadata.items() if k not in POSITION_KEYS}
        try:
            described = json.dumps([chunk.page_content, identity], sort_keys=True, ensure_ascii=False)
        except TypeError as exc:
            raise ValueError(f"chunk metadata of {chunk.metadata.get('source')!r} is not JSON: {exc}") from exc
        digest = hashlib.sha256(described.encode("utf-8", "surrogatepass")).hexdigest()
        repeat = self._seen.get(digest, 0)
        self._seen[digest] = repeat + 1
        if repeat:
            digest = hashlib.sha256(f"{digest}#{repeat}".encode()).hexdigest()
        return Document(page_content=chunk.page_content, metadata=chunk.metadata, id=digest)


def _given_id(chunk: Document) -> str:
    """The ``key_encoder`` for ``index()``: the id :class:`ChunkKeys` gave the chunk."""
    assert chunk.id is not None
    return chunk.id


class _ChunkStreamError(Exception):
    """Carries an exception raised by the chunks given to :meth:`IndexStore.index_file` through index()."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def open_store(
    db_dir: Path | str,
    collection: str,
    embedding: Embeddings | None,
    *,
    host: str | None = None,
    port: int | None = None,
    max_batch_size: int | None = None,
    embed_text: EmbedText | None = None,
) -> IndexStore:
    """Open (creating if needed) the index: embedded Chroma under ``db_dir``, or a server.

    Args:
        db_dir: the ``--db`` folder (default :data:`DEFAULT_DB_DIR`). Holds the Chroma data when
            embedded, and always ``records.sqlite`` (records, journal, file states) and ``ingest.lock``.
        collection: Chroma collection name (3-512 of ``[a-zA-Z0-9._-]``, alphanumeric at both ends).
        embedding: the LangChain ``Embeddings`` that embeds documents and queries; ``None`` opens
            the store for listing and removing only (:meth:`IndexStore.index_file` then refuses).
        host, port: a Chroma server (``chroma run --host HOST --port PORT``) instead of embedded
            Chroma; ``port`` defaults to 8000.
        max_batch_size: cap on records per Chroma call; default: what the client reports.
        embed_text: see :class:`BatchedChroma`: what to embed for a chunk instead of its stored text.

    Interrupted writes found in the journal are repaired before the store is returned.

    Raises:
        ValueError: a bad collection name, or ``port`` without ``host``.
        StoreError: the folder, the server or the collection cannot be used (the message says which);
            :class:`~ingest.claim.DbInUseError` when a ``rag-app serve`` in another process holds this
            embedded db (the message says to ingest through it).
    """
    from ingest.claim import claim_for_writing

    connection = connect(db_dir, collection, embedding, host=host, port=port, create=True,
                         max_batch_size=max_batch_size, embed_text=embed_text)
    try:  # embedded Chroma: refused while a server in another process holds the db (see ingest.claim)
        claim = claim_for_writing(connection.db_dir) if host is None else None
    except BaseException:
        connection.close()
        raise
    records = connection.db_dir / RECORDS_FILE
    try:
        journal = IngestJournal(records, connection.namespace)
    except Exception as exc:
        connection.close()
        if claim is not None:
            claim.release()
        raise StoreError(f"cannot open the ingest records {records}: {one_line(exc)}") from exc
    try:
        store = IndexStore(connection, journal)
    except OSError as exc:
        journal.close()
        connection.close()
        if claim is not None:
            claim.release()
        raise StoreError(f"cannot open the lock file in {connection.db_dir}: {one_line(exc)}") from exc
    store.claim = claim
    try:
        store.recover()
    except Exception as exc:
        store.close()
        raise StoreError(f"cannot repair interrupted writes in {store.location}: {one_line(exc)}") from exc
    return store
