"""Collators: turn a list of validated examples into the tensors one training step needs.

Text preparation is the model's own (``AutoModelForEmbedding.tokenize``, ``ColBERT.tokenize``,
``tokenize_pairs`` of the cross-encoder and LLM rankers), so instructions, truncation, EOS and padding are
exactly those used at inference and saved with the checkpoint.

Groups: a triplet becomes its query's positive followed by ``group_size - 1`` negatives drawn from its
negatives (repeated when it has fewer, as FlagEmbedding does, so every group has the same size and can be
gathered across processes). For pair-scoring rankers (cross-encoder, LLM), pairs get ``group_size - 1``
random negatives from other examples' positives. Sampling uses a seeded generator.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import torch

from finetune.data import DATA_KINDS, Example, PairExample, ScoredExample, TripletExample

__all__ = ["ColbertCollator", "EmbedderCollator", "PairScoringCollator", "TwoTowerCollator", "text_keys"]


def text_keys(texts: Sequence[str]) -> torch.Tensor:
    """Stable 63-bit ids of texts (the same in every process, unlike ``hash``), to spot duplicate documents."""
    return torch.tensor(
        [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "big") >> 1 for t in texts],
        dtype=torch.long,
    )


def _sample(rng: random.Random, items: Sequence[str], k: int) -> list[str]:
    """``k`` items without repetition while they last, then repeated."""
    if k <= 0:
        return []
    if len(items) >= k:
        return rng.sample(list(items), k)
    pool = list(items) * (k // len(items) + 1)
    return rng.sample(pool, k)


class _GroupingCollator:
    def __init__(self, kind: str, group_size: int, seed: int) -> None:
        if kind not in DATA_KINDS:
            raise ValueError(f"kind must be {', '.join(DATA_KINDS[:-1])} or {DATA_KINDS[-1]}; got {kind!r}.")
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
            raise ValueError(f"group_size must be an integer >= 2 (one positive and at least one negative); got {group_size!r}.")
        self.kind = kind
        self.group_size = group_size
        self.rng = random.Random(seed)

    def _documents(self, example: PairExample | TripletExample, negatives: Sequence[str] | None) -> list[str]:
        positive = self.rng.choice(example.positives)
        if negatives is None:
            return [positive]
        return [positive, *_sample(self.rng, negatives, self.group_size - 1)]

    def _check(self, examples: Sequence[Example]) -> None:
        expected = {"pairs": PairExample, "triplets": TripletExample, "scored": ScoredExample}[self.kind]
        for example in examples:
            if not isinstance(example, expected):
                raise TypeError(f"This collator takes {self.kind} ({expected.__name__}); got {type(example).__name__}.")


class TwoTowerCollator(_GroupingCollator):
    """Queries and documents tokenised separately, by ``model.tokenize(texts, is_query=...)``: the embedder's
    or ColBERT's own (their instructions and query and document lengths)."""

    def __init__(self, model: Any, kind: str, group_size: int = 4, seed: int = 0) -> None:
        super().__init__(kind, group_size, seed)
        self.model = model

    def __call__(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        self._check(examples)
        batch: dict[str, torch.Tensor] = {}
        if self.kind == "scored":
            docs = [e.document for e in examples]  # type: ignore[union-attr]
            batch["labels"] = torch.tensor([e.label for e in examples], dtype=torch.float32)  # type: ignore[union-attr]
        else:
            docs = [d for e in examples for d in self._documents(e, getattr(e, "negatives", None))]  # type: ignore[arg-type]
            batch["doc_keys"] = text_keys(docs)  # (B*G,)
        for prefix, texts, is_query in (("query", [e.query for e in examples], True), ("doc", docs, False)):
            for key, value in self.model.tokenize(texts, is_query=is_query).items():
                batch[f"{prefix}_{key}"] = value  # (B, T) / (B*G, T)
        return batch


class EmbedderCollator(TwoTowerCollator):
    """Examples -> ``query_*``/``doc_*`` features (plus ``doc_keys`` or ``labels``) for an embedder.

    Pairs give one positive per query (documents of other queries are the negatives); triplets give
    ``group_size`` documents per query, positive first; scored pairs give one document and a label each.
    """


class ColbertCollator(TwoTowerCollator):
    """As :class:`EmbedderCollator`, tokenised by ``ColBERT.tokenize`` (query and document lengths of ColBERT)."""


class PairScoringCollator(_GroupingCollator):
    """Examples -> (query, document) pair features for a cross-encoder or LLM ranker.

    Scored pairs keep their label (pointwise loss); pairs and triplets become groups of ``group_size``
    pairs per query, positive first (listwise loss). ``negative_pool`` holds the texts pairs draw random
    negatives from (every positive of the training data).
    """

    def __init__(
        self, ranker: Any, kind: str, group_size: int = 4, seed: int = 0, negative_pool: Sequence[str] = ()
    ) -> None:
        super().__init__(kind, group_size, seed)
        self.ranker = ranker
        self.negative_pool = list(dict.fromkeys(negative_pool))
        if kind == "pairs" and len(self.negative_pool) < 2:
            raise ValueError("Training a ranker on pairs needs at least two distinct positives to draw negatives from.")

    def _pair_negatives(self, example: PairExample) -> list[str]:
        own = set(example.positives)
        picked: list[str] = []
        for _ in range(100 * self.group_size):
            if len(picked) == self.group_size - 1:
                break
            candidate = self.rng.choice(self.negative_pool)
            if candidate not in own:
                picked.append(candidate)
        if len(picked) < self.group_size - 1:
            raise ValueError(f"Could not draw {self.group_size - 1} negatives for query {example.query!r:.80}.")
        return picked

    def __call__(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        self._check(examples)
        if self.kind == "scored":
            pairs = [(e.query, e.document) for e in examples]  # type: ignore[union-attr]
            labels = torch.tensor([e.label for e in examples], dtype=torch.float32)  # type: ignore[union-attr]
            return {**self.ranker.tokenize_pairs(pairs), "labels": labels}
        pairs = []
        for e in examples:
            negatives = e.negatives if isinstance(e, TripletExample) else self._pair_negatives(e)  # type: ignore[arg-type]
            pairs += [(e.query, d) for d in self._documents(e, negatives)]  # type: ignore[arg-type]
        return dict(self.ranker.tokenize_pairs(pairs))  # (B*G, T) features, positive first in each group
