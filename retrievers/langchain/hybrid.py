"""Hybrid retrieval: BM25 and a dense vector store, fused by reciprocal rank fusion (RRF).

Why: dense retrieval finds paraphrases ("reboot the modem" → "restart the access point") but misses rare exact
tokens (error codes, part numbers, names) that BM25 finds at once; BM25 misses paraphrases. RRF combines the
two ranked lists using ranks only, so BM25 scores and vector similarities (or distances: stores disagree on
which) never have to be put on one scale. A document's fused score is
``sum over lists of weight / (rrf_k + rank)``, rank starting at 1 (Cormack et al., SIGIR 2009).

What it handles: the BM25 index over the given documents (``bm25s``; lowercase word tokens, optional English
stop words, and Chinese, Japanese and Korean text cut by :func:`retrievers.lexical.lexical_tokenize`: Han
characters one by one, Kana and Hangul runs as character bigrams), the dense search through any LangChain
``VectorStore`` (Chroma, the in-memory store, ...), and matching the same document across the two lists (by
``Document.id`` when both copies have one, else by text and ``source``). Each returned document is a copy
carrying ``fused_score``, ``bm25_rank`` and ``dense_rank``.

What it does not do: keep the BM25 index in step with the vector store (rebuild the retriever after ingesting),
save the BM25 index, or rerank (put a :class:`~retrievers.langchain.LangchainReranker` after it).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from typing import Any

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from retrievers.lexical import lexical_tokenize
from retrievers.names import BM25_RANK_KEY, DENSE_RANK_KEY, FUSED_SCORE_KEY

__all__ = [
    "BM25_RANK_KEY",
    "DENSE_RANK_KEY",
    "FUSED_SCORE_KEY",
    "HybridRetriever",
    "reciprocal_rank_fusion",
    "simple_tokenize",
]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: float = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Fuse ranked lists of ids into one list of ``(id, score)``, best first.

    ``score(id) = sum over lists containing id of weights[list] / (k + rank)``, with ``rank`` starting at 1.
    An id repeated within one list counts once, at its best rank. Ties are broken by first appearance when
    the lists are read rank by rank (rank 1 of every list in order, then rank 2, ...), so the result is
    deterministic.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    if not (isinstance(k, int | float) and math.isfinite(k) and k >= 0):
        raise ValueError(f"k must be a finite number >= 0 (60 is the usual value); got {k!r}.")
    rankings = [list(ranking) for ranking in rankings]
    if weights is None:
        weights = [1.0] * len(rankings)
    weights = list(weights)
    if len(weights) != len(rankings):
        raise ValueError(
            f"weights must hold one weight per ranking: got {len(weights)} weights for {len(rankings)} rankings."
        )
    for i, weight in enumerate(weights):
        if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weights[{i}] must be a finite number >= 0; got {weight!r}.")

    scores: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    seen_per_list: list[set[str]] = [set() for _ in rankings]
    for rank in range(1, max((len(r) for r in rankings), default=0) + 1):
        for li, ranking in enumerate(rankings):
            if rank > len(ranking):
                continue
            item = ranking[rank - 1]
            if item in seen_per_list[li]:
                continue
            seen_per_list[li].add(item)
            first_seen.setdefault(item, len(first_seen))
            scores[item] = scores.get(item, 0.0) + weights[li] / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))


def _resolve_stopwords(stopwords: str | Sequence[str] | None) -> frozenset[str]:
    if stopwords is None:
        return frozenset()
    if isinstance(stopwords, str):
        if stopwords.lower() in ("en", "english"):
            return frozenset(STOPWORDS_EN)
        raise ValueError(f"stopwords must be 'en' (bm25s' English list), a list of words, or None; got {stopwords!r}.")
    return frozenset(word.lower() for word in stopwords)


def simple_tokenize(text: str, stopwords: str | Sequence[str] | None = "en") -> list[str]:
    """The BM25 tokenizer of :class:`HybridRetriever`: lowercase words (``\\w+``) without stop words, and CJK
    text as Han characters and Kana/Hangul bigrams (:func:`retrievers.lexical.lexical_tokenize`).

    >>> simple_tokenize("Error ZX-81: the firmware is corrupt")
    ['error', 'zx', '81', 'firmware', 'corrupt']
    >>> simple_tokenize("X2 充满电")
    ['x2', '充', '满', '电']
    """
    return lexical_tokenize(text, _resolve_stopwords(stopwords))


class _Identity:
    """Give the same number to the same document seen in different lists.

    Two copies are the same document when both have an ``id`` and the ids are equal, or when at least one has
    no id and their ``page_content`` and ``metadata["source"]`` are equal (BM25 documents given by the user often
    have no id while the vector store's copies do).
    """

    def __init__(self) -> None:
        self.ids: list[str | None] = []
        self._by_id: dict[str, int] = {}
        self._by_text: dict[tuple[str, Any], int] = {}

    def __call__(self, document: Document) -> int:
        text_key = (document.page_content, _hashable(document.metadata.get("source")))
        if document.id is not None and document.id in self._by_id:
            return self._by_id[document.id]
        entry = self._by_text.get(text_key)
        if entry is not None and (document.id is None or self.ids[entry] is None):
            if document.id is not None:
                self.ids[entry] = document.id
                self._by_id[document.id] = entry
            return entry
        entry = len(self.ids)
        self.ids.append(document.id)
        if document.id is not None:
            self._by_id[document.id] = entry
        self._by_text.setdefault(text_key, entry)
        return entry


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


class HybridRetriever(BaseRetriever):
    """Retrieve with BM25 and a vector store, fuse the two rankings by RRF, return the ``k`` best.

    Build it from documents (an in-memory vector store is made and filled)::

        retriever = HybridRetriever.from_documents(chunks, LangchainEmbedding("minilm"), k=4)

    or over an existing store, giving the same documents for BM25::

        retriever = HybridRetriever(vectorstore=chroma, documents=chunks, k=4)
        docs = retriever.invoke("what does error ZX-81 mean?")            # or invoke(query, k=8)
        docs[0].metadata["fused_score"], docs[0].metadata["bm25_rank"], docs[0].metadata["dense_rank"]

    Metadata of each returned copy: ``fused_score`` (float), ``bm25_rank`` and ``dense_rank`` (1-based ``int``,
    or ``None`` when the document was not among that list's ``fetch_k`` candidates). ``None`` rather than a
    missing key or ``-1``: the keys are always there, and ``None`` cannot be mistaken for a rank. These copies
    are results; do not write them back to Chroma, whose metadata cannot hold ``None``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    vectorstore: VectorStore
    """The dense side: any LangChain vector store holding (embeddings of) the same documents."""

    documents: list[Document]
    """The documents BM25 searches: the same ones the vector store holds. Indexed once, at construction: after
    changing the documents (or ``stopwords``), build a new retriever."""

    k: int = Field(default=4, ge=1)
    """How many fused documents to return."""

    fetch_k: int = Field(default=20, ge=1)
    """How many candidates each side contributes before fusion (at least ``k`` are always fetched)."""

    rrf_k: float = Field(default=60.0, ge=0)
    """The RRF constant: larger values flatten the difference between high and low ranks."""

    bm25_weight: float = Field(default=1.0, ge=0)
    """Weight of the BM25 ranking in the fusion; ``0`` turns BM25 off."""

    dense_weight: float = Field(default=1.0, ge=0)
    """Weight of the dense ranking in the fusion; ``0`` turns the vector store search off."""

    stopwords: str | list[str] | None = "en"
    """Words BM25 ignores: ``"en"`` (bm25s' English list), your own list, or ``None`` for none. They apply to
    words only, never to the tokens of Chinese, Japanese or Korean text."""

    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for ``vectorstore.similarity_search`` (e.g. a metadata ``filter``). BM25 does
    not see them. The plain ``similarity_search`` is used because the fusion needs the order only: stores
    disagree on whether their scores are distances or similarities."""

    _bm25: bm25s.BM25 | None = PrivateAttr(default=None)
    _stopwords: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @field_validator("documents")
    @classmethod
    def _check_documents(cls, documents: list[Document]) -> list[Document]:
        if not documents:
            raise ValueError("documents is empty: give the documents the vector store holds, so BM25 can index them.")
        seen: set[str] = set()
        for i, document in enumerate(documents):
            if document.id is not None:
                if document.id in seen:
                    raise ValueError(f"documents[{i}] repeats the id {document.id!r}; ids must be unique.")
                seen.add(document.id)
        return documents

    @model_validator(mode="after")
    def _build_bm25(self) -> HybridRetriever:
        if self.bm25_weight == 0 and self.dense_weight == 0:
            raise ValueError("bm25_weight and dense_weight are both 0: give at least one of them a positive weight.")
        self._stopwords = _resolve_stopwords(self.stopwords)
        corpus = [self._tokenize(d.page_content) for d in self.documents]
        self._bm25 = None
        if any(corpus):  # bm25s cannot index a corpus without a single token
            bm25 = bm25s.BM25()
            bm25.index(corpus, show_progress=False)
            self._bm25 = bm25
        return self

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[Document],
        embedding: Embeddings,
        *,
        vectorstore_cls: type[VectorStore] = InMemoryVectorStore,
        vectorstore_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> HybridRetriever:
        """Embed ``documents`` into a new vector store (in memory by default) and index them for BM25.

        Documents without an ``id`` get a fresh one (on copies; the caller's documents are not modified), so
        the two sides match by id. ``kwargs`` are the retriever's fields (``k``, ``fetch_k``, ``rrf_k``, ...).
        """
        documents = list(documents)
        if not documents:
            raise ValueError("documents is empty: give at least one document to index.")
        with_ids = [d if d.id is not None else d.model_copy(update={"id": str(uuid.uuid4())}) for d in documents]
        store = vectorstore_cls.from_documents(
            with_ids, embedding, ids=[d.id for d in with_ids], **(vectorstore_kwargs or {})
        )
        return cls(vectorstore=store, documents=with_ids, **kwargs)

    # ------------------------------------------------------------------ the two rankings
    def _tokenize(self, text: str) -> list[str]:
        return lexical_tokenize(text, self._stopwords)

    def bm25_search(self, query: str, fetch_k: int) -> list[Document]:
        """The BM25 ranking: documents sharing at least one query token, best first (ties in corpus order)."""
        if self._bm25 is None:
            return []
        token_ids = self._bm25.get_tokens_ids(self._tokenize(query))
        if not token_ids:
            return []
        scores = np.asarray(self._bm25.get_scores_from_ids(token_ids))  # (N,)
        order = np.argsort(-scores, kind="stable")
        return [self.documents[i] for i in order[:fetch_k] if scores[i] > 0]

    def _fuse(self, bm25_docs: list[Document], dense_docs: list[Document], k: int) -> list[Document]:
        identity = _Identity()
        lists = [[identity(d) for d in bm25_docs], [identity(d) for d in dense_docs]]
        ranks: list[dict[int, int]] = [{}, {}]
        copies: dict[int, Document] = {}
        # The dense list comes second, so its copy wins: it is the stored one and carries the stored id.
        for li, (entries, docs) in enumerate(zip(lists, (bm25_docs, dense_docs), strict=True)):
            for rank, (entry, doc) in enumerate(zip(entries, docs, strict=True), start=1):
                if entry in ranks[li]:  # repeated within one list: its first rank counts
                    continue
                ranks[li][entry] = rank
                if li == 1 or entry not in copies:
                    copies[entry] = doc
        fused = reciprocal_rank_fusion(
            [[str(e) for e in entries] for entries in lists],
            k=self.rrf_k,
            weights=[self.bm25_weight, self.dense_weight],
        )
        results = []
        for key, score in fused[:k]:
            entry = int(key)
            doc = copies[entry]
            update: dict[str, Any] = {
                "metadata": {
                    **doc.metadata,
                    FUSED_SCORE_KEY: float(score),
                    BM25_RANK_KEY: ranks[0].get(entry),
                    DENSE_RANK_KEY: ranks[1].get(entry),
                }
            }
            if doc.id is None and identity.ids[entry] is not None:
                update["id"] = identity.ids[entry]
            results.append(doc.model_copy(update=update))
        return results

    def _sizes(self, k: int | None) -> tuple[int, int]:
        k = self.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be an integer >= 1; got {k!r}.")
        return k, max(self.fetch_k, k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        k, fetch_k = self._sizes(k)
        bm25_docs = self.bm25_search(query, fetch_k) if self.bm25_weight > 0 else []
        dense_docs = (
            self.vectorstore.similarity_search(query, k=fetch_k, **self.search_kwargs) if self.dense_weight > 0 else []
        )
        return self._fuse(bm25_docs, dense_docs, k)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        k, fetch_k = self._sizes(k)

        async def bm25() -> list[Document]:
            # BM25 is numpy work over the whole corpus: keep it off the event loop too.
            return await run_in_executor(None, self.bm25_search, query, fetch_k) if self.bm25_weight > 0 else []

        async def dense() -> list[Document]:
            if self.dense_weight == 0:
                return []
            return await self.vectorstore.asimilarity_search(query, k=fetch_k, **self.search_kwargs)

        bm25_docs, dense_docs = await asyncio.gather(bm25(), dense())
        return self._fuse(bm25_docs, dense_docs, k)

