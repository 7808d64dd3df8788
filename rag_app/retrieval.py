"""The one retrieval step every front end runs: retrieve → rerank → keep ``top_n`` → threshold.

:class:`PassageRetriever` is an LCEL runnable (a ``BaseRetriever``) from a question to the scored passages
the model is given. ``rag-app retrieve`` prints its output and the chain (``ask``, ``chat``, the server, the
demo) feeds it to the model, so the two cannot disagree. Names mean one thing: ``k`` is the number of
candidates retrieved, ``top_n`` the number of passages kept after reranking.

The candidates: dense retrieval (:class:`DenseRetriever`) asks Chroma alone and keeps its similarity (cosine,
for our collections) as each passage's ``relevance_score``; hybrid adds BM25 over the collection's committed
chunks (read when the retriever is built) and fuses both by reciprocal rank fusion (``fused_score``, which
reflects ranks only). The reranker, when configured, reorders the ``k`` candidates and replaces
``relevance_score`` with its own score. Passages scoring below ``min_score`` are dropped, so an off-topic
question can be left with none, and the chain answers that the documents do not say without calling the model.
A score is on its scorer's own scale, so a calibrated threshold belongs to one scorer:
:data:`CALIBRATED_MIN_SCORES`.

The defaults (dense retrieval, no reranker) were chosen by ``benchmarks/rerankers.py``; see the README's
"Reranker choice, threshold and query latency".

Not here: opening the index or loading models (:mod:`rag_app.pipeline`), the prompt and the budget
(:mod:`rag_app.chain`).
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict, Field

from rag_app.config import RetrievalSettings, Settings
from retrievers.fusion import zscore_fusion
from retrievers.names import (
    COMBINED_SCORE_KEY,
    FIRST_STAGE_SCORE_KEY,
    FUSED_SCORE_KEY,
    RELEVANCE_SCORE_KEY,
    RerankerKind,
)

if TYPE_CHECKING:
    from ingest.reader import IndexReader

__all__ = [
    "CALIBRATED_MIN_SCORES",
    "DenseRetriever",
    "PassageRetriever",
    "build_candidates",
    "build_reranker",
    "min_score_for",
    "passage_score",
    "reranker_dtype",
]

CALIBRATED_MIN_SCORES: dict[tuple[str, str], float] = {
    ("minilm", "dense"): 0.41,
    ("minilm", "colbert"): 0.48,
}
"""``(model, how it scores) -> min_score``: the lowest best-passage score for which the chain still answers.

The key is ``(retrieval.reranker, retrieval.reranker_kind)`` with a reranker, and ``(retrieval.embedder,
"dense")`` for dense retrieval without one (the cosine similarity). Measured by
``benchmarks/calibrate_min_score.py`` on manual-shaped documents (k = 20 dense candidates, ``rag-app ingest``'s
defaults): the lowest threshold on the best passage's score that keeps at least 95 % of the train questions of
the Debian Reference and the Debian Policy manuals (40 + 25, worded as users would, pooled) and rejects as many
of 30 generic off-topic questions on each manual as any such threshold does (rounded up to 0.01). Checked, not
chosen, on the manuals' test questions, python-faq's test questions and the sample documents
(``rag_app/sample_data``, ``benchmarks/data/sample-docs/questions.jsonl``: 47 answerable questions; its 10
unanswerable ones, 8 of them near misses about the same product). Margin: the 5th percentile of the answerable
scores minus the highest off-topic score (negative: they overlap). The earlier values (0.45, 0.46) were chosen
on python-faq, whose questions are its headings and score high; the dense one refused 18 of the 47 answerable
sample questions.

================  =========  ================  ===========  ===========  ==========  ============  ============
scorer            min_score  manuals' train    Reference    Policy test  FAQ test    sample docs   sample docs
                             kept / rejected   test kept    kept         kept /      kept          own off-topic
                             (margin)          (margin)     (margin)     rejected    (margin vs    rejected
                                                                                     generic)      (margin)
================  =========  ================  ===========  ===========  ==========  ============  ============
minilm, dense     0.41       62/65, 60/60      80/80        50/50        39/39,      33/47         5/10
                             (+0.016)          (+0.047)     (+0.090)     29/30       (-0.050)      (-0.273)
minilm, colbert   0.48       64/65, 60/60      75/80        50/50        38/39,      44/47         3/10
                             (+0.025)          (+0.002)     (+0.107)     30/30       (+0.123)      (-0.197)
================  =========  ================  ===========  ===========  ==========  ============  ============

Both reject every generic off-topic question on the manuals and the sample documents (on python-faq the dense
cosine lets one through: a C++ question, 0.446). The dense margin is thin on the manuals and negative on the
sample documents, where 14 answerable questions score below 0.41 (down to 0.18); ColBERT keeps them apart from
the generic off-topic questions there, but its margin on the Reference test questions is +0.002. Near-miss
questions (about the product, on a point the documents do not cover) score like answerable ones (dense up to
0.56, ColBERT up to 0.67): no passage threshold can catch them; that is the answer step's job.

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


def passage_score(doc: Document) -> float | None:
    """A passage's score: ``relevance_score`` (dense similarity or reranker), else ``fused_score`` (hybrid RRF);
    ``None`` when it has neither."""
    for key in (RELEVANCE_SCORE_KEY, FUSED_SCORE_KEY):
        value = doc.metadata.get(key)
        if value is not None:
            return float(value)
    return None


class PassageRetriever(BaseRetriever):
    """Retrieve ``k`` candidates, rerank them, keep the first ``top_n``, drop those scoring below ``min_score``.

    The output is what the model is given (before the chain fits it to the token budget), best first, each
    passage with its score in its metadata (:func:`passage_score`). A passage without a score is kept.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    candidates: BaseRetriever
    """Finds the candidates (dense or hybrid); its own ``k`` says how many."""
    reranker: BaseDocumentCompressor | None = None
    """Reorders the candidates and sets ``relevance_score``; ``None``: retrieval order. Should keep them all
    (no ``top_n`` of its own): the cut is made here."""
    top_n: int = Field(default=4, ge=1)
    min_score: float | None = None
    """Passages scoring below it are dropped; ``None``: no threshold. On the scorer's scale."""
    fusion_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    """With a reranker, the order is ``(1 - w) * z(first stage) + w * z(reranker)`` over the candidates
    (:func:`retrievers.fusion.zscore_fusion`); 1: the reranker alone. ``relevance_score`` stays the reranker's
    (``min_score`` is on its scale); the combination is ``combined_score``."""
    max_per_section: int | None = Field(default=None, ge=1)
    """At most this many passages of one (source, heading) before the others; the rest move down."""

    def with_top_n(self, top_n: int | None) -> PassageRetriever:
        """A copy keeping ``top_n`` passages (``None``: this one); the candidates' ``k`` is raised to ``top_n``
        when it is smaller, as there cannot be fewer candidates than passages kept."""
        if top_n is None or top_n == self.top_n:
            return self
        candidates = self.candidates
        if getattr(candidates, "k", top_n) < top_n:
            candidates = candidates.model_copy(update={"k": top_n})
        return self.model_copy(update={"top_n": top_n, "candidates": candidates})

    def _before_rerank(self, docs: list[Document]) -> list[Document]:
        if self.fusion_weight >= 1.0:
            return docs
        return [doc.model_copy(update={"metadata": {**doc.metadata, FIRST_STAGE_SCORE_KEY: passage_score(doc)}})
                for doc in docs]

    def _after_rerank(self, docs: list[Document]) -> list[Document]:
        if self.fusion_weight >= 1.0 or not docs:
            return docs
        first = [doc.metadata.get(FIRST_STAGE_SCORE_KEY) for doc in docs]
        second = [passage_score(doc) for doc in docs]
        if any(score is None for score in first + second):  # a scorer that gives no score: keep its order
            return docs
        combined = zscore_fusion(first, second, self.fusion_weight)
        order = sorted(range(len(docs)), key=lambda i: -combined[i])  # stable: ties keep the reranker's order
        return [docs[i].model_copy(update={"metadata": {**docs[i].metadata, COMBINED_SCORE_KEY: combined[i]}})
                for i in order]

    def _spread(self, docs: list[Document]) -> list[Document]:
        """Move passages beyond ``max_per_section`` of one section after the others, keeping each group's order."""
        if self.max_per_section is None:
            return docs
        seen: dict[tuple[object, object], int] = {}
        first, later = [], []
        for doc in docs:
            section = (doc.metadata.get("source"), doc.metadata.get("heading"))
            seen[section] = seen.get(section, 0) + 1
            (first if seen[section] <= self.max_per_section else later).append(doc)
        return first + later

    def _keep(self, docs: list[Document]) -> list[Document]:
        kept = self._spread(docs)[: self.top_n]
        if self.min_score is None:
            return kept
        return [doc for doc in kept if (score := passage_score(doc)) is None or score >= self.min_score]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        docs = self.candidates.invoke(query, {"callbacks": run_manager.get_child()})
        if self.reranker is not None and docs:
            docs = self._before_rerank(docs)
            docs = self._after_rerank(list(self.reranker.compress_documents(docs, query, callbacks=run_manager.get_child())))
        return self._keep(docs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = await self.candidates.ainvoke(query, {"callbacks": run_manager.get_child()})
        if self.reranker is not None and docs:
            docs = self._before_rerank(docs)
            reranked = await self.reranker.acompress_documents(docs, query, callbacks=run_manager.get_child())
            docs = self._after_rerank(list(reranked))
        return self._keep(docs)


def min_score_for(settings: Settings | RetrievalSettings) -> float | None:
    """The score threshold to use: ``retrieval.min_score`` when set (``-inf``: none), else the value calibrated
    for the scorer of the settings (:data:`CALIBRATED_MIN_SCORES`), else ``None`` (no threshold).

    :class:`PassageRetriever` takes it as ``min_score`` (:func:`rag_app.pipeline.build_pipeline` does that).
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


def build_reranker(settings: Settings | RetrievalSettings) -> BaseDocumentCompressor | None:
    """The reranker ``retrieval.reranker`` names (loaded now), keeping every candidate; ``None`` when unset."""
    retrieval = settings.retrieval if isinstance(settings, Settings) else settings
    if not retrieval.reranker:
        return None
    from retrievers.langchain import LangchainReranker

    options: dict[str, Any] = RerankerKind(retrieval.reranker_kind).ranker_options
    if reranker_dtype(retrieval) == "bfloat16":
        import torch

        options["dtype"] = torch.bfloat16
    return LangchainReranker(model_name_or_path=retrieval.reranker, top_n=None, **options)


def reranker_dtype(retrieval: RetrievalSettings) -> str:
    """``retrieval.reranker_dtype`` with ``auto`` resolved: bfloat16 where the CPU computes it natively (the
    reranker runs on the CPU here unless the user's model options say otherwise), else float32. Emulated
    bfloat16 is slower than float32, so it is never chosen on other CPUs."""
    if retrieval.reranker_dtype != "auto":
        return retrieval.reranker_dtype
    return "bfloat16" if _native_bf16_cpu() else "float32"


def _native_bf16_cpu() -> bool:
    """Whether the CPU has bfloat16 instructions (Linux ``/proc/cpuinfo`` flags; False where it cannot tell)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"\b(?:avx512_bf16|amx_bf16)\b", flags))


def build_candidates(settings: Settings | RetrievalSettings, reader: IndexReader) -> BaseRetriever:
    """The candidate retriever of ``retrieval.mode`` over ``reader``: dense, or hybrid (BM25 over every
    committed chunk, read now, fused with dense)."""
    retrieval = settings.retrieval if isinstance(settings, Settings) else settings
    if retrieval.mode == "dense":
        return DenseRetriever(vectorstore=reader.vector_store, k=retrieval.k)
    from retrievers.langchain import HybridRetriever

    return HybridRetriever(vectorstore=reader.vector_store, documents=reader.chunks(), k=retrieval.k)
