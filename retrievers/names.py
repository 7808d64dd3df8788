"""The names every package agrees on: metadata score keys, checkpoint kinds and reranker kinds.

This is the one definition of each: ``retrievers`` writes these keys and kinds, ``finetune`` trains and
evaluates by them, ``rag_app`` reads them from its settings and its documents' metadata. The module imports
only the standard library, so ``import retrievers.names`` loads neither torch nor transformers (the chain and
the CLI read the keys without paying for a model library).

- Score keys: what :class:`~retrievers.langchain.LangchainReranker` and
  :class:`~retrievers.langchain.HybridRetriever` put in each returned document's metadata.
- :class:`RerankerKind`: the three reranker families (``"cross-encoder"``, ``"colbert"``, ``"llm"``), as
  configuration, the CLI and saved checkpoints spell them. :meth:`RerankerKind.parse` also accepts
  ``"cross_encoder"``, the spelling checkpoints saved before this module recorded; new checkpoints record the
  enum value. :data:`RANKER_OPTIONS` says what ``AutoModelForRanking.from_pretrained`` needs to load each kind.

It does not load, score or validate models: see :mod:`retrievers.rerankers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "BM25_RANK_KEY",
    "COMBINED_SCORE_KEY",
    "DENSE_RANK_KEY",
    "EMBEDDER_CHECKPOINT",
    "FIRST_STAGE_SCORE_KEY",
    "FUSED_SCORE_KEY",
    "RANKER_CHECKPOINT",
    "RANKER_OPTIONS",
    "RELEVANCE_SCORE_KEY",
    "RERANKER_KINDS",
    "RerankerKind",
    "RerankerKindName",
]

#: A reranker's score of a document (and, before reranking, the dense similarity), higher is better.
RELEVANCE_SCORE_KEY = "relevance_score"
#: The reciprocal-rank-fusion score of hybrid retrieval: it reflects ranks only, not similarities.
FUSED_SCORE_KEY = "fused_score"
#: A candidate's first-stage score (dense similarity or hybrid RRF), kept when a reranker replaces it.
FIRST_STAGE_SCORE_KEY = "first_stage_score"
#: The reranker's and the first stage's z-scores combined (``retrieval.fusion_weight``): the order of the passages.
COMBINED_SCORE_KEY = "combined_score"
#: A document's 1-based rank in the BM25 list of hybrid retrieval (``None`` when BM25 did not find it).
BM25_RANK_KEY = "bm25_rank"
#: A document's 1-based rank in the dense list of hybrid retrieval (``None`` when dense search did not find it).
DENSE_RANK_KEY = "dense_rank"

#: ``"kind"`` in a checkpoint's ``retrievers_config.json``: an embedder's folder or a ranker's.
EMBEDDER_CHECKPOINT = "embedder"
RANKER_CHECKPOINT = "ranker"


class RerankerKind(StrEnum):
    """A reranker family. Members are strings: ``RerankerKind.COLBERT == "colbert"``.

    >>> RerankerKind.parse("cross_encoder")  # the legacy spelling of saved checkpoints
    <RerankerKind.CROSS_ENCODER: 'cross-encoder'>
    >>> RerankerKind("llm").ranker_options
    {'causal_lm': True}
    """

    CROSS_ENCODER = "cross-encoder"
    COLBERT = "colbert"
    LLM = "llm"

    @classmethod
    def _missing_(cls, value: object) -> RerankerKind | None:
        return _LEGACY.get(value) if isinstance(value, str) else None

    @classmethod
    def parse(cls, value: Any, what: str = "reranker kind") -> RerankerKind:
        """``value`` as a kind, legacy spelling included; a ``ValueError`` naming ``what`` and the valid values."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"{what} must be one of {', '.join(RERANKER_KINDS)}; got {value!r}.") from None

    @property
    def class_name(self) -> str:
        """The ranker class of this kind, for messages: ``CrossEncoderRanker``, ``ColBERT``, ``LLMRanker``."""
        return _CLASS_NAMES[self]

    @property
    def ranker_options(self) -> dict[str, bool]:
        """Keyword arguments of ``AutoModelForRanking.from_pretrained`` that load this kind (a fresh dict)."""
        return dict(RANKER_OPTIONS[self])


#: The kinds' values, in order: for ``choices`` lists and messages.
RERANKER_KINDS: tuple[str, ...] = tuple(kind.value for kind in RerankerKind)
#: The kinds as a ``Literal``, for pydantic fields and signatures that take the plain string.
RerankerKindName = Literal["cross-encoder", "colbert", "llm"]

#: kind -> what ``AutoModelForRanking.from_pretrained`` needs to load that kind and no other: a folder holding
#: ``colbert_linear.pt`` or saved as another kind is then an error, not silently another kind.
RANKER_OPTIONS: Mapping[RerankerKind, Mapping[str, bool]] = MappingProxyType({
    RerankerKind.CROSS_ENCODER: MappingProxyType({"colbert": False}),
    RerankerKind.COLBERT: MappingProxyType({"colbert": True}),
    RerankerKind.LLM: MappingProxyType({"causal_lm": True}),
})

_LEGACY = {"cross_encoder": RerankerKind.CROSS_ENCODER}
_CLASS_NAMES = {RerankerKind.CROSS_ENCODER: "CrossEncoderRanker", RerankerKind.COLBERT: "ColBERT",
                RerankerKind.LLM: "LLMRanker"}
