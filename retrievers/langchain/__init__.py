"""LangChain wrappers: our embedders as ``Embeddings``, our rerankers as a ``BaseDocumentCompressor``, and a
hybrid BM25 + dense ``BaseRetriever``.

Only these adapters live here; the models themselves are in :mod:`retrievers.embedder` and
:mod:`retrievers.rerankers`, the metadata keys they write in :mod:`retrievers.names` (re-exported here).
Names are imported on first use (see :mod:`retrievers.lazy`): reading a score key loads no model library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrievers.lazy import lazy_exports

if TYPE_CHECKING:
    from retrievers.langchain.embeddings import LangchainEmbedding
    from retrievers.langchain.hybrid import HybridRetriever, reciprocal_rank_fusion, simple_tokenize
    from retrievers.langchain.reranker import LangchainReranker
    from retrievers.names import BM25_RANK_KEY, DENSE_RANK_KEY, FUSED_SCORE_KEY, RELEVANCE_SCORE_KEY

__all__ = [
    "BM25_RANK_KEY",
    "DENSE_RANK_KEY",
    "FUSED_SCORE_KEY",
    "HybridRetriever",
    "LangchainEmbedding",
    "LangchainReranker",
    "RELEVANCE_SCORE_KEY",
    "reciprocal_rank_fusion",
    "simple_tokenize",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "retrievers.names": ("BM25_RANK_KEY", "DENSE_RANK_KEY", "FUSED_SCORE_KEY", "RELEVANCE_SCORE_KEY"),
    "retrievers.langchain.embeddings": ("LangchainEmbedding",),
    "retrievers.langchain.hybrid": ("HybridRetriever", "reciprocal_rank_fusion", "simple_tokenize"),
    "retrievers.langchain.reranker": ("LangchainReranker",),
})
