"""Retrieval models: embedders, rerankers, pooling, model loading, LangChain wrappers, hybrid retrieval.

This package imports nothing else of the framework; ``finetune``, ``ingest`` and ``rag_app`` build on it.
The LangChain wrappers live in :mod:`retrievers.langchain`.
"""

from retrievers.embedder import DEFAULT_LLM_QUERY_INSTRUCTION, AutoModelForEmbedding
from retrievers.model_names import BUNDLED_ALIASES, ModelNotFoundError, ResolvedModel, resolve_model
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
    "RerankResult",
    "ResolvedModel",
    "maxsim",
    "maxsim_matrix",
    "pool",
    "resolve_model",
]
