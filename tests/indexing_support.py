"""Helpers for the indexing tests, and the worker process that the crash test kills.

- :class:`HashEmbeddings`: deterministic vectors from SHA-256, counting every call; it can sleep, fail
  on a chosen call, and append a line to a progress file per call (how a parent process knows where
  a child is before killing it).
- :func:`ingest_folder`: a minimal stand-in for the ingest pipeline (skip unchanged files, chunk by
  paragraph, index file by file, prune), so these tests depend on nothing but ``ingest.indexing``.
- :func:`snapshot` / :func:`bookkeeping`: the full state of a collection and of its records, to
  compare two indexes exactly.

``python -m tests.indexing_support DB FOLDER PROGRESS [DELAY]`` ingests FOLDER slowly into DB (see :func:`main`).
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ingest.indexing import FileResult, IndexStore, file_fingerprint, open_store

COLLECTION = "docs"
WORKER_BATCH = 4  # max batch size the worker uses: a 10-paragraph file is 3 embedding calls (4, 4, 2)


class EmbeddingFailure(RuntimeError):
    pass


class HashEmbeddings(Embeddings):
    """Unit vectors derived from SHA-256 of the text; records each ``embed_documents`` call."""

    def __init__(
        self,
        dim: int = 16,
        *,
        delay: float = 0.0,
        fail_on_call: int | None = None,
        progress: Path | None = None,
    ) -> None:
        self.dim = dim
        self.delay = delay
        self.fail_on_call = fail_on_call
        self.progress = progress
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> list[str]:
        return [text for call in self.calls for text in call]

    def vector(self, text: str) -> list[float]:
        raw = hashlib.sha256(text.encode()).digest() * (1 + self.dim // 32)
        values = [byte / 127.5 - 1.0 for byte in raw[: self.dim]]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        if self.progress is not None:
            with self.progress.open("a") as handle:
                handle.write(f"{len(texts)}\n")
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on_call == len(self.calls):
            raise EmbeddingFailure(f"embedding call {len(self.calls)} failed")
        return [self.vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vector(text)


def chunk_text(source: str, text: str) -> list[Document]:
    """One chunk per paragraph, with the metadata the real chunker gives."""
    chunks = []
    start = 0
    for index, paragraph in enumerate(p for p in text.split("\n\n") if p.strip()):
        start = text.index(paragraph, start)
        chunks.append(
            Document(
                page_content=paragraph,
                metadata={
                    "source": source,
                    "heading": "Title",
                    "chunk_index": index,
                    "start_index": start,
                    "end_index": start + len(paragraph),
                    "content_hash": hashlib.sha256(paragraph.encode()).hexdigest()[:16],
                },
            )
        )
        start += len(paragraph)
    return chunks


def write_corpus(folder: Path, files: int = 8, paragraphs: int = 10) -> None:
    """``files`` Markdown files of ``paragraphs`` distinct paragraphs, some in a subfolder."""
    for f in range(files):
        path = folder / ("sub" if f % 3 == 2 else "") / f"doc{f:02d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "\n\n".join(f"Document {f} paragraph {p}: " + "lorem ipsum " * (p + 1) for p in range(paragraphs))
        )


def ingest_folder(store: IndexStore, folder: Path, *, prune: bool = True) -> dict[str, FileResult | None]:
    """Index every file under ``folder`` (``None`` for files skipped as unchanged), then prune."""
    results: dict[str, FileResult | None] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        source = path.relative_to(folder).as_posix()
        if store.is_unchanged(source, path):
            results[source] = None
            continue
        stamp = file_fingerprint(path)
        results[source] = store.index_file(source, chunk_text(source, path.read_text()), stamp=stamp)
    if prune:
        store.prune(set(results))
    return results


def snapshot(store: IndexStore) -> dict[str, tuple[str, dict[str, Any], tuple[float, ...]]]:
    """id -> (text, metadata, embedding as stored: float32) of every chunk in the collection."""
    data = store.vector_store.collection.get(include=["documents", "metadatas", "embeddings"])
    assert len(data["ids"]) == len(set(data["ids"])) == store.count()
    return {
        id_: (doc, dict(meta), tuple(np.asarray(emb, dtype=np.float32).tolist()))
        for id_, doc, meta, emb in zip(
            data["ids"], data["documents"], data["metadatas"], data["embeddings"], strict=True
        )
    }


def bookkeeping(db_dir: Path, namespace: str = f"chroma/{COLLECTION}") -> dict[str, Any]:
    """Records (key -> source), file states and journal rows of a db, read straight from SQLite."""
    with sqlite3.connect(db_dir / "records.sqlite") as conn:
        records = dict(conn.execute("SELECT key, group_id FROM records WHERE namespace = ?", (namespace,)))
        files = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT source, size, mtime_ns, sha256, chunks, settings FROM files WHERE namespace = ?",
                (namespace,),
            )
        }
        journal = conn.execute("SELECT source, op FROM journal WHERE namespace = ?", (namespace,)).fetchall()
    conn.close()
    return {"records": records, "files": files, "journal": journal}


def main(argv: list[str]) -> int:
    """Worker: ingest FOLDER into DB with a slow embedder (DELAY s a call, default 0.2; batches of 4),
    logging each embedding call to PROGRESS, so that a parent can SIGKILL it at a known point."""
    db_dir, folder, progress = (Path(arg) for arg in argv[:3])
    delay = float(argv[3]) if len(argv) > 3 else 0.2
    store = open_store(
        db_dir, COLLECTION, HashEmbeddings(delay=delay, progress=progress), max_batch_size=WORKER_BATCH
    )
    ingest_folder(store, folder)
    store.close()
    with progress.open("a") as handle:
        handle.write("done\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main(sys.argv[1:]))
