"""Score fusion of two rankers over the same candidates: z-scores, weighted.

Why: a reranker and the first-stage retriever are each right where the other is wrong (on manuals, ColBERT
MaxSim over MiniLM finds the sentence that answers; on an FAQ whose headings are the questions, the dense
score of the heading-prefixed chunk is the better signal). Their scores live on different scales, so each list
is standardised over the candidates (mean 0, standard deviation 1) before a weighted sum. Reciprocal rank
fusion (:func:`retrievers.langchain.hybrid.reciprocal_rank_fusion`) throws the margins away; z-scores keep
them: a first-stage score far above the rest stays first unless the reranker disagrees as strongly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["standardise", "zscore_fusion"]


def standardise(scores: Sequence[float]) -> list[float]:
    """``(s - mean) / std`` (population standard deviation); all zeros when every score is the same."""
    if not scores:
        return []
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [0.0 if std == 0 else (s - mean) / std for s in scores]


def zscore_fusion(first: Sequence[float], second: Sequence[float], weight: float) -> list[float]:
    """``(1 - weight) * z(first) + weight * z(second)``, per candidate; ``weight`` in [0, 1] is the second
    scorer's share (1: the second alone, 0: the first alone)."""
    if len(first) != len(second):
        raise ValueError(f"fusion needs one score per candidate from each scorer; got {len(first)} and {len(second)}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the fusion weight must lie in [0, 1]; got {weight!r}")
    return [(1 - weight) * a + weight * b for a, b in zip(standardise(first), standardise(second), strict=True)]
