"""LangChain wrappers: our embedders as ``Embeddings``, our rerankers as a ``BaseDocumentCompressor``, and a
hybrid BM25 + dense ``BaseRetriever``.

Only these adapters live here; the models themselves are in :mod:`retrievers.embedder` and
:mod:`retrievers.rerankers`.
"""

from retrievers.langchain.embeddings import LangchainEmbedding
from retrievers.langchain.hybrid import (
    BM25_RANK_KEY,
    DENSE_RANK_KEY,
    FUSED_SCORE_KEY,
    HybridRetriever,
    reciprocal_rank_fusion,
    simple_tokenize,
)
from retrievers.langchain.reranker import RELEVANCE_SCORE_KEY, LangchainReranker

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
