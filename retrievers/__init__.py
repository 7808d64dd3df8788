"""Retrieval models: embedders, rerankers, pooling, model loading, LangChain wrappers, hybrid retrieval.

This package imports nothing else of the framework; ``finetune``, ``ingest`` and ``rag_app`` build on it.
The LangChain wrappers live in :mod:`retrievers.langchain`; the shared names (score keys, reranker kinds) in
:mod:`retrievers.names`.

The public names below are imported on first use (PEP 562), so ``import retrievers.names`` or
``from retrievers import resolve_model`` does not import torch or transformers; ``from retrievers import
AutoModelForEmbedding`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrievers.lazy import lazy_exports

if TYPE_CHECKING:
    from retrievers.embedder import DEFAULT_LLM_QUERY_INSTRUCTION, AutoModelForEmbedding
    from retrievers.model_names import BUNDLED_ALIASES, ModelNotFoundError, ResolvedModel, resolve_model
    from retrievers.names import RELEVANCE_SCORE_KEY, RerankerKind
    from retrievers.pooling import POOLING_METHODS, pool
    from retrievers.rerankers import (
        DEFAULT_LLM_RANKER_INSTRUCTION,
        AutoModelForRanking,
        BaseRanker,
        ColBERT,
        CrossEncoderRanker,
        LLMRanker,
        RerankResult,
        maxsim,
        maxsim_matrix,
    )

__all__ = [
    "AutoModelForEmbedding",
    "AutoModelForRanking",
    "BUNDLED_ALIASES",
    "BaseRanker",
    "ColBERT",
    "CrossEncoderRanker",
    "DEFAULT_LLM_QUERY_INSTRUCTION",
    "DEFAULT_LLM_RANKER_INSTRUCTION",
    "LLMRanker",
    "ModelNotFoundError",
    "POOLING_METHODS",
    "RELEVANCE_SCORE_KEY",
    "RerankResult",
    "RerankerKind",
    "ResolvedModel",
    "maxsim",
    "maxsim_matrix",
    "pool",
    "resolve_model",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "retrievers.embedder": ("AutoModelForEmbedding", "DEFAULT_LLM_QUERY_INSTRUCTION"),
    "retrievers.model_names": ("BUNDLED_ALIASES", "ModelNotFoundError", "ResolvedModel", "resolve_model"),
    "retrievers.names": ("RELEVANCE_SCORE_KEY", "RerankerKind"),
    "retrievers.pooling": ("POOLING_METHODS", "pool"),
    "retrievers.rerankers": ("AutoModelForRanking", "BaseRanker", "ColBERT", "CrossEncoderRanker",
                             "DEFAULT_LLM_RANKER_INSTRUCTION", "LLMRanker", "RerankResult", "maxsim", "maxsim_matrix"),
})
