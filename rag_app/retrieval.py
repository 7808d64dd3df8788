"""Build the retriever and reranker the settings ask for, over an ingested collection, and the score threshold.

Dense retrieval asks Chroma alone and keeps its similarity (cosine, for our collections) as each passage's
``relevance_score``; hybrid adds BM25 over the collection's chunks (read once, when the retriever is built) and
fuses both by reciprocal rank fusion (``fused_score``, which reflects ranks only). The reranker, when
configured, reorders the ``k`` candidates, replaces ``relevance_score`` with its own score and keeps ``top_n``.

The chain drops passages scoring below the threshold of :func:`min_score_for`, so an off-topic question can be
left with no passage, and the chain answers that the documents do not say without calling the model. A score
is on its scorer's own scale, so a calibrated threshold belongs to one scorer: :data:`CALIBRATED_MIN_SCORES`.

The defaults (dense retrieval, no reranker) were chosen by ``benchmarks/rerankers.py``; see the README's
"Reranker choice, threshold and query latency".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict, Field

from rag_app.config import RetrievalSettings, Settings
from rag_app.indexes import IndexHandle, open_index
from retrievers.langchain import HybridRetriever, LangchainReranker

__all__ = [
    "CALIBRATED_MIN_SCORES",
    "DenseRetriever",
    "RetrievalStack",
    "build_retrieval",
    "min_score_for",
    "reranker_from_settings",
]

_KIND_OPTIONS = {"colbert": {"colbert": True}, "llm": {"causal_lm": True}, "cross-encoder": {}}
RELEVANCE_SCORE_KEY = "relevance_score"  # retrievers.langchain.RELEVANCE_SCORE_KEY, read by rag_app.chain
FUSED_SCORE_KEY = "fused_score"

CALIBRATED_MIN_SCORES: dict[tuple[str, str], float] = {
    ("minilm", "dense"): 0.45,
    ("minilm", "colbert"): 0.46,
}
"""``(model, how it scores) -> min_score``: the lowest best-passage score for which the chain still answers.

The key is ``(retrieval.reranker, retrieval.reranker_kind)`` with a reranker, and ``(retrieval.embedder,
"dense")`` for dense retrieval without one (the cosine similarity). Measured by
``benchmarks/calibrate_min_score.py`` on python-faq (k = 20 dense candidates, contextual ingest): the lowest
threshold on the best passage's score that keeps at least 95 % of the 39 answerable test questions and rejects
as many of 30 off-topic questions as any such threshold does (rounded up to 0.01); then checked on 40 held-out
FAQ questions and on the sample documents (``examples/data``: 12 questions worded as a user would, and the
off-topic ones). The lowest such threshold, because the FAQ's questions are its headings and score higher than
users' questions: a false "the documents do not say" costs more than a weak passage the prompt can refuse.

===============  =========  ==========  ===========  ========  ===========  ==================
scorer           min_score  FAQ kept    FAQ          held-out  sample docs  sample docs
                                        off-topic    kept      kept         off-topic rejected
                                        rejected
===============  =========  ==========  ===========  ========  ===========  ==================
minilm, dense    0.45       39/39       30/30        39/40     11/12        30/30
minilm, colbert  0.46       38/39       30/30        38/40     12/12        30/30
===============  =========  ==========  ===========  ========  ===========  ==================

Every other scorer (the SmolLM2 yes/no reranker, a fine-tuned folder, a hub cross-encoder, another embedder)
is uncalibrated: no threshold unless ``retrieval.min_score`` is set. Hybrid retrieval without a reranker has
none either: its fused RRF score reflects ranks, not relevance.
"""


class DenseRetriever(BaseRetriever):
    """Vector-store search that keeps the similarity: each returned copy carries ``relevance_score``.

    The score is the store's relevance score (``similarity_search_with_relevance_scores``): for our Chroma
    collections, in cosine space, the cosine similarity of the query and the embedded chunk, higher is better.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    vectorstore: VectorStore
    k: int = Field(default=20, ge=1)

    @staticmethod
    def _scored(pairs: list[tuple[Document, float]]) -> list[Document]:
        return [doc.model_copy(update={"metadata": {**doc.metadata, RELEVANCE_SCORE_KEY: float(score)}})
                for doc, score in pairs]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        with warnings.catch_warnings():  # a cosine below 0 is a valid score here, not a bug worth a warning
            warnings.filterwarnings("ignore", message="Relevance scores must be between")
            return self._scored(self.vectorstore.similarity_search_with_relevance_scores(query, k=self.k))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Relevance scores must be between")
            return self._scored(await self.vectorstore.asimilarity_search_with_relevance_scores(query, k=self.k))


@dataclass
class RetrievalStack:
    """What answers a query: the index, the retriever over it and the optional reranker."""

    index: IndexHandle
    retriever: BaseRetriever
    reranker: BaseDocumentCompressor | None
    top_n: int
    min_score: float | None = None
    """The chain's threshold (:func:`min_score_for`): passages scoring below it are not given to the model."""

    def search(self, query: str, *, apply_min_score: bool = False) -> list[Document]:
        """The ``top_n`` passages for ``query``, best first, after reranking, each with its score.

        ``apply_min_score`` also drops those below :attr:`min_score`, as the chain does; by default they are kept,
        so that ``rag-app retrieve`` shows what the threshold would cut.
        """
        candidates = self.retriever.invoke(query)
        if self.reranker is not None and candidates:
            candidates = list(self.reranker.compress_documents(candidates, query))
        threshold = self.min_score if apply_min_score else None
        return [doc for doc in candidates[: self.top_n] if _passes(doc, threshold)]


def _passes(doc: Document, min_score: float | None) -> bool:
    """The chain's rule: ``relevance_score``, else ``fused_score``, compared to ``min_score``; no score passes."""
    if min_score is None:
        return True
    score = next((doc.metadata[key] for key in (RELEVANCE_SCORE_KEY, FUSED_SCORE_KEY)
                  if doc.metadata.get(key) is not None), None)
    return score is None or float(score) >= min_score


def min_score_for(settings: Settings | RetrievalSettings) -> float | None:
    """The score threshold to use: ``retrieval.min_score`` when set (``-inf``: none), else the value calibrated
    for the scorer of the settings (:data:`CALIBRATED_MIN_SCORES`), else ``None`` (no threshold).

    Pass the result to :func:`rag_app.chain.build_chain` as ``min_score`` (``build_retrieval`` also keeps it as
    ``RetrievalStack.min_score``).
    """
    retrieval = settings.retrieval if isinstance(settings, Settings) else settings
    if retrieval.min_score is not None:
        return None if retrieval.min_score == -math.inf else retrieval.min_score
    if retrieval.reranker:
        key = (retrieval.reranker, retrieval.reranker_kind)
    elif retrieval.mode == "dense":
        key = (retrieval.embedder, "dense")
    else:
        return None
    return CALIBRATED_MIN_SCORES.get(key)


def reranker_from_settings(settings: Settings) -> BaseDocumentCompressor | None:
    name = settings.retrieval.reranker
    if not name:
        return None
    options = _KIND_OPTIONS[settings.retrieval.reranker_kind]
    return LangchainReranker(model_name_or_path=name, top_n=settings.retrieval.top_n, **options)


def build_retrieval(settings: Settings, *, k: int | None = None) -> RetrievalStack:
    """Open the collection and build the retriever (dense or hybrid), reranker and threshold of ``settings``."""
    index = settings.index
    handle = open_index(index.db, index.collection, settings.retrieval.embedder, host=index.chroma_host,
                        port=index.chroma_port if index.chroma_host else None)
    if handle.store.count() == 0:
        raise LookupError(
            f"The collection {index.collection!r} in {handle.store.location} is empty: run `rag-app ingest PATH` first."
        )
    k = k or settings.retrieval.k
    retriever: BaseRetriever
    if settings.retrieval.mode == "dense":
        retriever = DenseRetriever(vectorstore=handle.store.vector_store, k=k)
    else:
        retriever = HybridRetriever(vectorstore=handle.store.vector_store, documents=_stored_chunks(handle), k=k)
    return RetrievalStack(handle, retriever, reranker_from_settings(settings), settings.retrieval.top_n,
                          min_score_for(settings))


def _stored_chunks(handle: IndexHandle) -> list[Document]:
    """Every chunk of the collection, for BM25."""
    stored: dict[str, Any] = handle.store.vector_store.get(include=["documents", "metadatas"])
    return [Document(page_content=text, metadata=meta, id=id_)
            for id_, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)]
