"""Build the retriever and reranker the settings ask for, over an ingested collection.

Dense retrieval asks Chroma alone; hybrid adds BM25 over the collection's chunks (read once, when the
retriever is built) and fuses both by reciprocal rank fusion. The reranker, when configured, reorders the
``k`` candidates and keeps ``top_n``.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever

from rag_app.config import Settings
from rag_app.indexes import IndexHandle, open_index
from retrievers.langchain import HybridRetriever, LangchainReranker

__all__ = ["RetrievalStack", "build_retrieval", "reranker_from_settings"]

_KIND_OPTIONS = {"colbert": {"colbert": True}, "llm": {"causal_lm": True}, "cross-encoder": {}}


@dataclass
class RetrievalStack:
    """What answers a query: the index, the retriever over it and the optional reranker."""

    index: IndexHandle
    retriever: BaseRetriever
    reranker: BaseDocumentCompressor | None
    top_n: int

    def search(self, query: str) -> list[Document]:
        """The ``top_n`` passages for ``query``, best first, after reranking."""
        candidates = self.retriever.invoke(query)
        if self.reranker is None:
            return candidates[: self.top_n]
        return list(self.reranker.compress_documents(candidates, query))[: self.top_n]


def reranker_from_settings(settings: Settings) -> BaseDocumentCompressor | None:
    name = settings.retrieval.reranker
    if not name:
        return None
    options = _KIND_OPTIONS[settings.retrieval.reranker_kind]
    return LangchainReranker(model_name_or_path=name, top_n=settings.retrieval.top_n, **options)


def build_retrieval(settings: Settings, *, k: int | None = None) -> RetrievalStack:
    """Open the collection and build the retriever (dense or hybrid) and reranker of ``settings``."""
    index = settings.index
    handle = open_index(index.db, index.collection, settings.retrieval.embedder, host=index.chroma_host,
                        port=index.chroma_port if index.chroma_host else None)
    stored = handle.store.vector_store.get(include=["documents", "metadatas"])
    if not stored["ids"]:
        raise LookupError(
            f"The collection {index.collection!r} in {handle.store.location} is empty: run `rag-app ingest PATH` first."
        )
    chunks = [Document(page_content=text, metadata=meta, id=id_)
              for id_, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)]
    hybrid = settings.retrieval.mode == "hybrid"
    retriever = HybridRetriever(
        vectorstore=handle.store.vector_store, documents=chunks, k=k or settings.retrieval.k,
        bm25_weight=1.0 if hybrid else 0.0,
    )
    return RetrievalStack(handle, retriever, reranker_from_settings(settings), settings.retrieval.top_n)
