"""Rerankers: cross-encoder, ColBERT (late interaction) and LLM yes/no, behind one contract.

Every kind scores (query, document) pairs with ``compute_score`` and orders documents with ``rerank``
(a :class:`RerankResult`, best first). A pair's score does not depend on its batch or on padding; documents
longer than the model's window are scored in overlapping windows and keep their best window's score.
``AutoModelForRanking.from_pretrained`` picks the kind for a checkpoint; the kinds themselves are named in
:class:`retrievers.names.RerankerKind`. Names are imported on first use (see :mod:`retrievers.lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrievers.lazy import lazy_exports

if TYPE_CHECKING:
    from retrievers.rerankers.auto import AutoModelForRanking
    from retrievers.rerankers.base import BaseRanker, RerankResult, WindowedRanker, split_into_windows
    from retrievers.rerankers.colbert import ColBERT, TokenVectors, maxsim, maxsim_matrix
    from retrievers.rerankers.cross_encoder import CrossEncoderRanker
    from retrievers.rerankers.llm_ranker import DEFAULT_LLM_RANKER_INSTRUCTION, LLMRanker

__all__ = [
    "AutoModelForRanking",
    "BaseRanker",
    "ColBERT",
    "CrossEncoderRanker",
    "DEFAULT_LLM_RANKER_INSTRUCTION",
    "LLMRanker",
    "RerankResult",
    "TokenVectors",
    "WindowedRanker",
    "maxsim",
    "maxsim_matrix",
    "split_into_windows",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "retrievers.rerankers.auto": ("AutoModelForRanking",),
    "retrievers.rerankers.base": ("BaseRanker", "RerankResult", "WindowedRanker", "split_into_windows"),
    "retrievers.rerankers.colbert": ("ColBERT", "TokenVectors", "maxsim", "maxsim_matrix"),
    "retrievers.rerankers.cross_encoder": ("CrossEncoderRanker",),
    "retrievers.rerankers.llm_ranker": ("DEFAULT_LLM_RANKER_INSTRUCTION", "LLMRanker"),
})
