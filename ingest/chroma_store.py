"""Opening a Chroma collection the way every part of ``ingest`` needs it: the one place that knows Chroma.

Both paths go through :func:`connect`: the writer (:mod:`ingest.indexing`, which may create the folder and the
collection) and the reader (:mod:`ingest.reader`, which never creates anything). It checks the collection name,
opens an embedded ``PersistentClient`` under the ``--db`` folder or an ``HttpClient`` for a ``chroma run``
server, and insists on cosine space. :class:`BatchedChroma` is LangChain's ``Chroma`` with writes split under
the client's batch limit and an optional text-to-embed hook (contextual embedding).

Not here: the record manager and journal (:mod:`ingest.journal`), locking and recovery (:mod:`ingest.indexing`),
the committed view readers get (:mod:`ingest.reader`).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from ingest.layout import (
    DEFAULT_COLLECTION,
    DEFAULT_DB_DIR,
    LOCK_FILE,
    RECORDS_FILE,
    ingest_hint,
    missing_index,
)

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DB_DIR",
    "DISTANCE",
    "LOCK_FILE",
    "RECORDS_FILE",
    "BatchedChroma",
    "ChromaConnection",
    "EmbedText",
    "IndexNotFoundError",
    "StoreError",
    "connect",
    "count_sources",
    "iter_pages",
    "one_line",
]

DISTANCE = "cosine"
# When a server does not say its limit (get_max_batch_size() returns -1).
FALLBACK_MAX_BATCH_SIZE = 1000
# Chroma's rule for collection names (checked here to give the rule, not a validation trace).
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


class StoreError(RuntimeError):
    """The index cannot be opened or used as configured; the message names the db folder or server."""


class IndexNotFoundError(StoreError, LookupError):
    """A reader asked for an index or collection that does not exist; the message says to run ``rag-app ingest``."""


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, for reports and error messages."""
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

    def use_embedding(self, embedding: Embeddings | None, embed_text: EmbedText | None = None) -> None:
        """Set the embedding after opening (a reader checks the index before loading the model)."""
        self._embedding_function = embedding
        self._embed_text = embed_text

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


def iter_pages(
    store: BatchedChroma, *, where: dict[str, Any] | None, metadatas: bool
) -> Iterator[tuple[list[str], list[Any]]]:
    """The collection's ids (and metadatas) in pages of at most the max batch size."""
    offset = 0
    while True:
        page = store.collection.get(
            where=where,  # type: ignore[arg-type]
            include=["metadatas"] if metadatas else [],
            limit=store.max_batch_size,
            offset=offset,
        )
        ids = list(page["ids"])
        if not ids:
            return
        yield ids, list(page["metadatas"] or [])
        offset += len(ids)


def count_sources(store: BatchedChroma, hidden: frozenset[str] = frozenset()) -> list[tuple[str, int]]:
    """Every source in the collection with its number of chunks (leaving out ``hidden`` ids), sorted by source."""
    counts: Counter[str] = Counter()
    for ids, metadatas in iter_pages(store, where=None, metadatas=True):
        counts.update(str(meta["source"]) for id_, meta in zip(ids, metadatas, strict=False)
                      if meta and meta.get("source") is not None and id_ not in hidden)
    return sorted(counts.items())


@dataclass
class ChromaConnection:
    """An open client and collection: :func:`connect`'s result."""

    vector_store: BatchedChroma
    db_dir: Path
    collection: str
    server: str | None
    """``http://host:port`` of a Chroma server, ``None`` for embedded Chroma."""
    namespace: str
    """The records' namespace: one per collection (and server)."""

    @property
    def location(self) -> str:
        """Where the chunks live, for messages."""
        where = f"Chroma server {self.server}" if self.server else f"Chroma db {self.db_dir}"
        return f"collection {self.collection!r} in {where}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.vector_store.client.close()


def _client_settings() -> Settings:
    return Settings(anonymized_telemetry=False)


def check_collection_name(collection: str) -> None:
    """Raise ``ValueError`` with Chroma's rule for a name it would refuse."""
    if not _COLLECTION_NAME.match(collection) or ".." in collection:
        raise ValueError(
            f"invalid collection name {collection!r}: Chroma needs 3-512 characters from [a-zA-Z0-9._-], "
            "starting and ending with a letter or digit, without '..'"
        )


def connect(
    db_dir: Path | str,
    collection: str,
    embedding: Embeddings | None,
    *,
    host: str | None = None,
    port: int | None = None,
    create: bool,
    max_batch_size: int | None = None,
    embed_text: EmbedText | None = None,
    vector_store_class: type[BatchedChroma] | None = None,
) -> ChromaConnection:
    """Open ``collection``: embedded Chroma under ``db_dir``, or the server at ``host:port`` (default port 8000).

    ``create=False`` (readers) never creates a folder, a database or a collection: a missing one raises
    :class:`IndexNotFoundError` saying to run ``rag-app ingest``. ``create=True`` (the writer) makes them.

    Raises:
        ValueError: a bad collection name, or ``port`` without ``host``.
        IndexNotFoundError: ``create=False`` and there is nothing to open.
        StoreError: the folder, the server or the collection cannot be used (the message says which).
    """
    check_collection_name(collection)
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be a positive integer, got {max_batch_size}")
    if port is not None and host is None:
        raise ValueError(f"port={port} given without host: pass host to use a Chroma server")
    db_dir = Path(db_dir)
    if not create and (missing := missing_index(db_dir, collection, host)):
        raise IndexNotFoundError(missing)
    if create:
        try:
            db_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the db folder {db_dir}: {one_line(exc)}") from exc

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
            raise StoreError(f"cannot open the Chroma db in {db_dir}: {one_line(exc)}") from exc
        raise StoreError(
            f"cannot reach the Chroma server at {server} ({one_line(exc)}); start one with "
            f"`chroma run --path DIR --host {host} --port {port}` or leave host unset for embedded Chroma"
        ) from exc

    where = f"Chroma server {server}" if server else f"Chroma db {db_dir}"
    if not create:
        try:
            client.get_collection(collection)
        except Exception as exc:  # chromadb raises NotFoundError (a ValueError subclass in some versions)
            client.close()
            if "does not exist" in str(exc) or type(exc).__name__ in ("NotFoundError", "InvalidCollectionException"):
                raise IndexNotFoundError(
                    f"no collection {collection!r} in {where}: {ingest_hint(db_dir, collection, host)}") from None
            raise StoreError(f"cannot open collection {collection!r} in {where}: {one_line(exc)}") from exc
    try:
        vector_store = (vector_store_class or BatchedChroma)(
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
        raise StoreError(f"cannot open collection {collection!r} in {where}: {one_line(exc)}") from exc
    namespace = f"chroma/{collection}" if server is None else f"chroma/{collection}@{host}:{port}"
    return ChromaConnection(vector_store, db_dir, collection, server, namespace)
