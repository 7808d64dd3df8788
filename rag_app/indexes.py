"""Wire our models into the ingest layer: the embedder's LangChain wrapper, its tokenizer and length limit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.indexing import DEFAULT_COLLECTION, DEFAULT_DB_DIR, IndexStore, open_store
from ingest.pipeline import Ingestor
from retrievers import AutoModelForEmbedding
from retrievers.langchain import LangchainEmbedding

__all__ = ["IndexHandle", "open_index"]



@dataclass
class IndexHandle:
    """An open collection and the embedder that fills it."""

    store: IndexStore
    embedder: AutoModelForEmbedding

    def ingestor(self, *, chunk_size: int = 200, chunk_overlap: int = 40, pdf_password: str | None = None) -> Ingestor:
        return Ingestor(
            self.store, self.embedder.tokenizer, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
            max_tokens=self.embedder.max_length, pdf_password=pdf_password,
            extra_settings=f"embedder={self.embedder.base_model}",
        )


def open_index(
    db: Path = DEFAULT_DB_DIR,
    collection: str = DEFAULT_COLLECTION,
    embedder: str | AutoModelForEmbedding = "minilm",
    *,
    host: str | None = None,
    port: int | None = None,
) -> IndexHandle:
    model = embedder if isinstance(embedder, AutoModelForEmbedding) else AutoModelForEmbedding.from_pretrained(embedder)
    store = open_store(Path(db), collection, LangchainEmbedding(model=model), host=host, port=port)
    return IndexHandle(store, model)
