"""Retrieval models: embedders, rerankers, pooling, model loading, LangChain wrappers, hybrid retrieval.

This package imports nothing else of the framework; ``finetune``, ``ingest`` and ``rag_app`` build on it.
"""

from retrievers.embedder import DEFAULT_LLM_QUERY_INSTRUCTION, AutoModelForEmbedding
from retrievers.model_names import BUNDLED_ALIASES, ModelNotFoundError, ResolvedModel, resolve_model
from retrievers.pooling import POOLING_METHODS, pool

__all__ = [
    "AutoModelForEmbedding",
    "BUNDLED_ALIASES",
    "DEFAULT_LLM_QUERY_INSTRUCTION",
    "ModelNotFoundError",
    "POOLING_METHODS",
    "ResolvedModel",
    "pool",
    "resolve_model",
]
