"""The read path: search a collection and list its sources without the writer's lock, recovery or files.

:func:`open_reader` opens an existing collection and never creates anything: a missing ``--db`` folder or
collection raises :class:`~ingest.chroma_store.IndexNotFoundError` ("no index at PATH: run `rag-app ingest`"),
at once, before any model is loaded. It never takes ``<db>/ingest.lock`` and never runs recovery, so
``rag-app sources``, ``retrieve``, ``ask`` and a server start answer while an ingest is writing the same db.

What a reader sees is the last committed state. A writer commits a journal row, with the chunk ids of the
source's last good version, before it touches Chroma (:mod:`ingest.journal`). For every source with such a row,
the reader hides the chunks that are not in that version: the new chunks of a file being indexed (its old
version stays visible until the write commits), and every chunk of a source being removed. Searches ask
Chroma for enough extra results to make up for hidden ones, and read the journal *after* Chroma, so a chunk
written after the journal row was read is still recognised as in flight.

Not handled here: writing, locking and repairing (:mod:`ingest.indexing`); the retriever built on top
(``rag_app.retrieval``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ingest.chroma_store import (
    DEFAULT_COLLECTION,
    DEFAULT_DB_DIR,
    RECORDS_FILE,
    BatchedChroma,
    ChromaConnection,
    EmbedText,
    connect,
    count_sources,
)
from ingest.journal import JournalReader

__all__ = ["CommittedChroma", "IndexReader", "open_reader"]


class CommittedChroma(BatchedChroma):
    """``Chroma`` whose searches leave out chunks of writes still in flight (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journal: JournalReader | None = None

    def hidden_ids(self) -> frozenset[str]:
        """Ids in the collection that are not part of the last committed state."""
        pending = self.journal.pending() if self.journal is not None else {}
        if not pending:
            return frozenset()
        present = self.collection.get(where={"source": {"$in": sorted(pending)}}, include=["metadatas"])
        return frozenset(
            id_ for id_, meta in zip(present["ids"], present["metadatas"] or [], strict=False)
            if id_ not in pending[str((meta or {}).get("source"))].committed
        )

    def similarity_search_with_score(  # type: ignore[override]
        self, query: str, k: int = 4, filter: dict[str, str] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        fetch = k + len(self.hidden_ids())
        while True:
            found = super().similarity_search_with_score(query, fetch, filter=filter, **kwargs)
            hidden = self.hidden_ids()  # read after the search: see the module docstring
            kept = [(doc, score) for doc, score in found if doc.id not in hidden]
            if len(kept) >= k or len(found) < fetch:
                return kept[:k]
            fetch = k + len(hidden) + fetch


class IndexReader:
    """An open collection, for searching and listing; see the module docstring. Close it (or use ``with``)."""

    def __init__(self, connection: ChromaConnection, journal: JournalReader) -> None:
        self.connection = connection
        self.journal = journal

    @property
    def vector_store(self) -> CommittedChroma:
        """The LangChain ``VectorStore`` retrievers search (committed state only)."""
        store = self.connection.vector_store
        assert isinstance(store, CommittedChroma)
        return store

    @property
    def location(self) -> str:
        return self.connection.location

    @property
    def root(self) -> str | None:
        """The folder sources are named relative to (:mod:`ingest.sources`), once an ingest recorded it."""
        return self.journal.info("root")

    def use_embedding(self, embedding: Embeddings | None, embed_text: EmbedText | None = None) -> None:
        """Embed queries with ``embedding`` (set after opening, so the index is checked before a model loads)."""
        self.vector_store.use_embedding(embedding, embed_text)

    def count(self) -> int:
        """Chunks in the committed state."""
        hidden = self.vector_store.hidden_ids()
        return self.vector_store.collection.count() - len(hidden)

    def sources(self) -> list[tuple[str, int]]:
        """Every committed source with its number of chunks, sorted by source."""
        counted = count_sources(self.vector_store)  # counted first, the journal read after: see the docstring
        hidden = self.vector_store.hidden_ids()
        return counted if not hidden else count_sources(self.vector_store, hidden)

    def chunks(self) -> list[Document]:
        """Every committed chunk with its id and metadata (for BM25)."""
        stored: dict[str, Any] = self.vector_store.get(include=["documents", "metadatas"])
        hidden = self.vector_store.hidden_ids()
        return [Document(page_content=text, metadata=meta or {}, id=id_)
                for id_, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)
                if id_ not in hidden]

    def close(self) -> None:
        self.journal.close()
        self.connection.close()

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(
    db_dir: Path | str = DEFAULT_DB_DIR,
    collection: str = DEFAULT_COLLECTION,
    embedding: Embeddings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
) -> IndexReader:
    """Open an existing collection for reading (see the module docstring); creates nothing, takes no lock.

    Raises:
        IndexNotFoundError: no index at ``db_dir`` or no such collection: the message says to run ``rag-app ingest``.
        StoreError, ValueError: as :func:`ingest.chroma_store.connect`.
    """
    connection = connect(db_dir, collection, embedding, host=host, port=port, create=False,
                         vector_store_class=CommittedChroma)
    journal = JournalReader(Path(db_dir) / RECORDS_FILE, connection.namespace)
    store = connection.vector_store
    assert isinstance(store, CommittedChroma)
    store.journal = journal
    return IndexReader(connection, journal)
