"""Chunks into Chroma, incrementally, losing nothing: the indexing layer of ``ingest``.

:func:`open_store` opens an :class:`IndexStore`: a Chroma collection (embedded ``PersistentClient``
under the ``--db`` folder by default, or a ``chroma run`` server through ``HttpClient``), always in
cosine space, plus the bookkeeping of :mod:`ingest.journal` in ``<db>/records.sqlite``.
:meth:`IndexStore.index_file` writes one file's chunks through LangChain's indexing API
(``langchain_core.indexing.index``, ``cleanup="incremental"``, ``source_id_key="source"``,
``key_encoder="sha256"``), so that:

- re-ingesting an unchanged file embeds nothing (chunk ids are hashes of text and metadata; the
  record manager knows them), and :meth:`IndexStore.is_unchanged` lets the pipeline skip such a file
  without even loading it;
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

Writers are serialised by a lock file (``<db>/ingest.lock``, POSIX ``flock``; none on Windows), so an
ingest and an upload through the server can share a db; readers (retrieval) need no lock.

With a Chroma server, the record manager and journal still live in the local ``--db`` folder, in a
namespace that names the server (``chroma/<collection>@<host>:<port>``): the records describe what
that server holds, so two machines ingesting into one server each keep their own records and must
not ingest the same sources. If the collection is found empty while the records say otherwise
(deleted on the server, or the Chroma files removed), the records are dropped with a warning.

Not handled here: loading and chunking files (``ingest.loaders``, ``ingest.chunking``), walking a
folder (the pipeline), and changing the embedding model of an existing collection (use another
collection name, or delete the db: the records cannot tell vectors of two models apart).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import chromadb
from chromadb.config import Settings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index

from ingest.journal import FileState, IngestJournal

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no inter-process lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DB_DIR",
    "BatchedChroma",
    "FileResult",
    "FileState",
    "IndexStore",
    "IndexingError",
    "StoreError",
    "file_fingerprint",
    "open_store",
]

DEFAULT_DB_DIR = Path(".rag-app")
DEFAULT_COLLECTION = "documents"
RECORDS_FILE = "records.sqlite"
LOCK_FILE = "ingest.lock"
DISTANCE = "cosine"
# When a server does not say its limit (get_max_batch_size() returns -1).
FALLBACK_MAX_BATCH_SIZE = 1000
# Chroma's rule for collection names (checked here to give the rule, not a validation trace).
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


class IndexingError(Exception):
    """A file whose chunks could not be indexed; the index holds what it held before the attempt.

    ``reason`` is one line (the underlying error); the original exception is the ``__cause__``.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class StoreError(RuntimeError):
    """The index cannot be opened or used as configured; the message names the db folder or server."""


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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


EmbedText = Callable[[str, dict], str]


class _Precomputed(Embeddings):
    """Hands Chroma vectors computed beforehand, for exactly the texts they were computed for."""

    def __init__(self, texts: list[str], vectors: list[list[float]]) -> None:
        self._texts, self._vectors = texts, vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if list(texts) != self._texts:
            raise RuntimeError("Chroma asked for embeddings of other texts than were prepared.")
        return self._vectors

    def embed_query(self, text: str) -> list[float]:
        raise RuntimeError("not used for queries")


class BatchedChroma(Chroma):
    """``langchain_chroma.Chroma`` whose writes never exceed the client's maximum batch size.

    ``add_texts`` (and so ``add_documents``) embeds and upserts in sub-batches of at most
    :attr:`max_batch_size` texts; ``delete`` deletes ids in batches of the same size. The parent's
    ``add_texts`` writes with ``collection.upsert``, so adding an id twice never duplicates it.

    Args:
        max_batch_size: overrides the client's limit (tests; a proxy with a smaller body limit).
        embed_text: ``(text, metadata) -> str``, the text to embed for a stored chunk (e.g. title and
            heading path in front, :func:`ingest.contextual.contextual_text`); the stored document stays
            ``text``. ``None`` embeds the stored text.
        **kwargs: as for ``Chroma``.
    """

    def __init__(
        self, *, max_batch_size: int | None = None, embed_text: EmbedText | None = None, **kwargs: Any
    ) -> None:
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"max_batch_size must be a positive integer, got {max_batch_size}")
        self._max_batch_size = max_batch_size
        self._embed_text = embed_text
        super().__init__(**kwargs)

    @property
    def client(self) -> chromadb.ClientAPI:
        return self._client

    @property
    def collection(self) -> chromadb.Collection:
        return self._collection

    @property
    def max_batch_size(self) -> int:
        """The most records one Chroma call may carry (asked of the client once, then kept)."""
        if self._max_batch_size is None:
            limit = int(self._client.get_max_batch_size())
            self._max_batch_size = limit if limit > 0 else FALLBACK_MAX_BATCH_SIZE
        return self._max_batch_size

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        size = self.max_batch_size
        if metadatas is not None and len(metadatas) < len(texts):
            metadatas = metadatas + [{}] * (len(texts) - len(metadatas))  # as Chroma.add_texts does
        written: list[str] = []
        for start in range(0, len(texts), size):
            stop = start + size
            batch_metadatas = metadatas[start:stop] if metadatas is not None else None
            with self._embedding_texts(texts[start:stop], batch_metadatas):
                written += super().add_texts(
                    texts[start:stop],
                    metadatas=batch_metadatas,
                    ids=ids[start:stop] if ids is not None else None,
                    **kwargs,
                )
        return written

    @contextlib.contextmanager
    def _embedding_texts(self, texts: list[str], metadatas: list[dict] | None) -> Iterator[None]:
        """While Chroma writes ``texts``, let it embed ``embed_text(text, metadata)`` instead."""
        if self._embed_text is None or self._embedding_function is None:
            yield
            return
        inputs = [self._embed_text(t, (metadatas[i] if metadatas else None) or {}) for i, t in enumerate(texts)]
        vectors = self._embedding_function.embed_documents(inputs)
        real = self._embedding_function
        self._embedding_function = _Precomputed(texts, vectors)
        try:
            yield
        finally:
            self._embedding_function = real

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> None:
        if ids is None:
            super().delete(ids, **kwargs)
            return
        for start in range(0, len(ids), self.max_batch_size):
            super().delete(ids[start : start + self.max_batch_size], **kwargs)


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

    def __init__(
        self,
        *,
        db_dir: Path,
        collection: str,
        vector_store: BatchedChroma,
        journal: IngestJournal,
        server: str | None,
        owns_client: bool,
    ) -> None:
        self.db_dir = db_dir
        self.collection = collection
        self.vector_store = vector_store
        self.journal = journal
        self.server = server
        self._owns_client = owns_client
        self._lock = _WriterLock(db_dir / LOCK_FILE)

    # ---- description --------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.journal.namespace

    @property
    def location(self) -> str:
        """Where the chunks live, for messages: the db folder, or the server and the local records."""
        where = f"Chroma server {self.server}" if self.server else f"Chroma db {self.db_dir}"
        return f"collection {self.collection!r} in {where}"

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
        """Release the SQLite connection, the lock file and the Chroma client this store opened."""
        self.journal.close()
        self._lock.close()
        if self._owns_client:
            with contextlib.suppress(Exception):
                self.vector_store.client.close()

    # ---- reading ------------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of chunks in the collection."""
        return self.vector_store.collection.count()

    def sources(self) -> list[tuple[str, int]]:
        """Every source in the collection with its number of chunks, sorted by source."""
        counts: Counter[str] = Counter()
        for _ids, metadatas in self._pages(where=None, metadatas=True):
            counts.update(
                str(meta["source"]) for meta in metadatas if meta and meta.get("source") is not None
            )
        return sorted(counts.items())

    def file_state(self, source: str) -> FileState | None:
        """The state recorded by :meth:`mark_file` for ``source``, or ``None``."""
        return self.journal.file_state(source)

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

        def checked() -> Iterator[Document]:
            chunk, position = first, 0
            while chunk is not None:
                if chunk.metadata.get("source") != source:
                    raise _ChunkStreamError(ValueError(
                        f"chunk {position} of {source!r} has metadata source {chunk.metadata.get('source')!r}"
                    ))
                yield chunk
                position += 1
                try:
                    chunk = next(stream, None)
                except Exception as exc:
                    raise _ChunkStreamError(exc) from exc

        with self._lock.hold():
            self.journal.begin(source, "index")
            # What a failed attempt must come back to. Old chunks are only deleted after every new one is
            # written (scoped_full), so rolling back means deleting the keys this attempt added.
            before = set(self.journal.group_keys(source))
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
                        key_encoder="sha256",
                        cleanup_batch_size=self.max_batch_size,
                    )
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
                raise StoreError(f"cannot remove {source!r} from {self.location}: {_one_line(exc)}") from exc
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

    def _pages(
        self, *, where: dict[str, Any] | None, metadatas: bool
    ) -> Iterator[tuple[list[str], list[Any]]]:
        """The collection's ids (and metadatas) in pages of at most the max batch size."""
        offset = 0
        while True:
            page = self.vector_store.collection.get(
                where=where,  # type: ignore[arg-type]
                include=["metadatas"] if metadatas else [],
                limit=self.max_batch_size,
                offset=offset,
            )
            ids = list(page["ids"])
            if not ids:
                return
            yield ids, list(page["metadatas"] or [])
            offset += len(ids)

    def _chroma_ids(self, source: str) -> list[str]:
        return [id_ for ids, _ in self._pages(where={"source": source}, metadatas=False) for id_ in ids]

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
        reason = _one_line(exc)
        try:
            added = sorted(set(self.journal.group_keys(source)) - keep)
            if added:
                self.vector_store.delete(added)
                self.journal.delete_keys(added)
            self._reconcile(source)
        except Exception as repair_exc:
            raise IndexingError(
                source,
                f"{reason}; rolling back also failed ({_one_line(repair_exc)}): "
                f"it will be repaired when {self.location} is next opened",
            ) from exc
        if propagate:
            raise exc
        raise IndexingError(source, reason) from exc


class _ChunkStreamError(Exception):
    """Carries an exception raised by the chunks given to :meth:`IndexStore.index_file` through index()."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _client_settings() -> Settings:
    return Settings(anonymized_telemetry=False)


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
        StoreError: the folder, the server or the collection cannot be used (the message says which).
    """
    if not _COLLECTION_NAME.match(collection) or ".." in collection:
        raise ValueError(
            f"invalid collection name {collection!r}: Chroma needs 3-512 characters from [a-zA-Z0-9._-], "
            "starting and ending with a letter or digit, without '..'"
        )
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be a positive integer, got {max_batch_size}")
    if port is not None and host is None:
        raise ValueError(f"port={port} given without host: pass host to use a Chroma server")
    db_dir = Path(db_dir)
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the db folder {db_dir}: {_one_line(exc)}") from exc

    server = None
    try:
        if host is None:
            client = chromadb.PersistentClient(path=str(db_dir), settings=_client_settings())
        else:
            port = 8000 if port is None else port
            server = f"http://{host}:{port}"
            client = chromadb.HttpClient(host=host, port=port, settings=_client_settings())
    except Exception as exc:
        if server is None:
            raise StoreError(f"cannot open the Chroma db in {db_dir}: {_one_line(exc)}") from exc
        raise StoreError(
            f"cannot reach the Chroma server at {server} ({_one_line(exc)}); start one with "
            f"`chroma run --path DIR --host {host} --port {port}` or leave host unset for embedded Chroma"
        ) from exc

    where = f"Chroma server {server}" if server else f"Chroma db {db_dir}"
    try:
        vector_store = BatchedChroma(
            client=client,
            collection_name=collection,
            embedding_function=embedding,
            collection_configuration={"hnsw": {"space": DISTANCE}},
            relevance_score_fn=Chroma._cosine_relevance_score_fn,  # known: the space is checked below
            max_batch_size=max_batch_size,
            embed_text=embed_text,
        )
        configuration = vector_store.collection.configuration_json or {}  # raw: no legacy-config warning
        spaces = [(configuration.get(kind) or {}).get("space") for kind in ("hnsw", "spann")]
        space = next((s for s in spaces if s), None)
        if space != DISTANCE:
            raise StoreError(
                f"collection {collection!r} in {where} uses distance {space!r}, not {DISTANCE!r}; "
                "choose another collection name or delete this collection"
            )
    except StoreError:
        client.close()
        raise
    except Exception as exc:
        client.close()
        raise StoreError(f"cannot open collection {collection!r} in {where}: {_one_line(exc)}") from exc

    namespace = f"chroma/{collection}" if server is None else f"chroma/{collection}@{host}:{port}"
    records = db_dir / RECORDS_FILE
    try:
        journal = IngestJournal(records, namespace)
    except Exception as exc:
        client.close()
        raise StoreError(f"cannot open the ingest records {records}: {_one_line(exc)}") from exc
    try:
        store = IndexStore(
            db_dir=db_dir,
            collection=collection,
            vector_store=vector_store,
            journal=journal,
            server=server,
            owns_client=True,
        )
    except OSError as exc:
        journal.close()
        client.close()
        raise StoreError(f"cannot open the lock file in {db_dir}: {_one_line(exc)}") from exc
    try:
        store.recover()
    except Exception as exc:
        store.close()
        raise StoreError(f"cannot repair interrupted writes in {store.location}: {_one_line(exc)}") from exc
    return store
