"""The contract every reranker kind implements: score (query, document) pairs, rerank a list.

A pair's score depends only on that pair: not on the other pairs in its batch, not on padding. Documents
longer than the model's window are cut into overlapping windows and scored by their best window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RerankResult", "BaseRanker"]


@dataclass(frozen=True)
class RerankResult:
    """Documents best first, with their scores and their positions in the input list."""

    documents: list[str]
    scores: list[float]
    indices: list[int]

    def __len__(self) -> int:
        return len(self.documents)


class BaseRanker:
    """Subclasses implement :meth:`compute_score`; :meth:`rerank` is shared."""

    def compute_score(
        self, sentence_pairs: Sequence[tuple[str, str]] | tuple[str, str], batch_size: int = 16, **kwargs
    ) -> list[float] | float:
        raise NotImplementedError

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None, batch_size: int = 16) -> RerankResult:
        """Score ``documents`` against ``query`` and return the ``top_n`` best, best first (ties keep input order)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}.")
        documents = list(documents)
        if top_n is not None and top_n < 0:
            raise ValueError(f"top_n must be >= 0 or None; got {top_n}.")
        if not documents:
            return RerankResult([], [], [])
        scores = self.compute_score([(query, d) for d in documents], batch_size=batch_size)
        order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
        if top_n is not None:
            order = order[:top_n]
        return RerankResult([documents[i] for i in order], [float(scores[i]) for i in order], order)
