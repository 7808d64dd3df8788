"""Hard-negative mining: turn (query, positive) pairs into triplets with negatives an embedder finds close.

For each query, the corpus (plus every positive of the data, as in sentence-transformers'
``mine_hard_negatives``) is ranked by cosine similarity to the query. Candidates are the documents at ranks
``rank_range`` (1-based, inclusive, counted once the query's positives are set aside), which skips the very
top, where unlabelled answers to the query (false negatives) crowd. A candidate is dropped when

- its text is one of the query's positives (whitespace-normalised; every record with the same query text
  counts, since the same question may have several answers);
- it does not score below the positive by more than the margin: ``score < positive - margin``, or with
  ``relative=True`` ``score < positive - |positive| * margin`` (NV-Retriever's "TopK-PercPos"), where
  ``positive`` is the lowest score of the record's positives.

Then ``per_query`` negatives are kept: a seeded random sample (``strategy="random"``, the same output for the
same seed, whatever the order of the other records) or the hardest (``"top"``), listed hardest first. A
query left without any negative gets no triplet and is counted in :class:`MiningStats`.

sentence-transformers' own function needs a ``SentenceTransformer`` and a two-column ``Dataset``; this one
takes any :class:`~retrievers.AutoModelForEmbedding` (encoders and decoder LLMs, with their instructions) and
our multi-positive pairs, and reports instead of printing. Scoring is exact (no approximate index).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from finetune.data import PairExample, TripletExample, load_examples

__all__ = ["MiningResult", "MiningStats", "mine_hard_negatives", "parse_rank_range"]

Strategy = Literal["random", "top"]


@dataclass(frozen=True)
class MiningStats:
    """What the mining did: how many candidates each filter dropped and how many queries got nothing."""

    queries: int
    triplets: int
    negatives: int
    corpus_size: int
    dropped_by_margin: int
    without_negatives: int

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MiningResult:
    """Triplets (one per record that kept a negative), statistics, and the queries that got none."""

    triplets: list[TripletExample]
    stats: MiningStats
    queries_without_negatives: list[str] = field(default_factory=list, repr=False)


def parse_rank_range(text: str | Sequence[int]) -> tuple[int, int]:
    """``"10-50"`` (or ``(10, 50)``) into 1-based inclusive ranks; the first must be >= 1 and <= the last."""
    if isinstance(text, str):
        parts = text.replace(" ", "").split("-")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"rank range must look like '10-50' (first and last rank, 1-based); got {text!r}.")
        low, high = int(parts[0]), int(parts[1])
    else:
        values = list(text)
        if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"rank range must be two integers (first, last); got {text!r}.")
        low, high = values
    if low < 1 or high < low:
        raise ValueError(f"rank range needs 1 <= first <= last; got {low}-{high}.")
    return low, high


def _normal(text: str) -> str:
    return " ".join(text.split())


def mine_hard_negatives(
    embedder: Any,
    pairs: Any,
    corpus: Iterable[str] | Mapping[str, str] | None = None,
    rank_range: str | Sequence[int] = (10, 50),
    margin: float = 0.1,
    relative: bool = False,
    per_query: int = 7,
    strategy: Strategy = "random",
    seed: int = 0,
    batch_size: int = 32,
    show_progress: bool = True,
) -> MiningResult:
    """Mine hard negatives for ``pairs`` (anything :func:`~finetune.data.load_examples` reads as pairs).

    ``corpus`` holds the candidate texts (a list, or ``{doc_id: text}``); None uses the positives of
    ``pairs``. See the module docstring for the rules.

    Example::

        result = mine_hard_negatives(AutoModelForEmbedding.from_pretrained("minilm"), "pairs.jsonl", seed=1)
        write_jsonl("triplets.jsonl", result.triplets)
    """
    low, high = parse_rank_range(rank_range)
    if isinstance(per_query, bool) or not isinstance(per_query, int) or per_query < 1:
        raise ValueError(f"per_query must be an integer >= 1; got {per_query!r}.")
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not margin >= 0:
        raise ValueError(f"margin must be a number >= 0; got {margin!r}.")
    if relative and margin >= 1:
        raise ValueError(f"a relative margin is a fraction of the positive's score, below 1; got {margin!r}.")
    if strategy not in ("random", "top"):
        raise ValueError(f"strategy must be 'random' or 'top'; got {strategy!r}.")
    records: list[PairExample] = list(load_examples(pairs, kind="pairs").examples)  # type: ignore[arg-type]

    extra = list(corpus.values()) if isinstance(corpus, Mapping) else list(corpus or [])
    texts = list(dict.fromkeys([*extra, *(p for r in records for p in r.positives)]))
    index = {t: i for i, t in enumerate(texts)}
    normal_index: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        normal_index.setdefault(_normal(t), []).append(i)
    # Every record with the same query text shares its positives: none of them may become a negative.
    positives_of: dict[str, set[int]] = {}
    for r in records:
        positives_of.setdefault(r.query, set()).update(i for p in r.positives for i in normal_index[_normal(p)])
    queries = list(positives_of)

    documents = embedder.encode_documents(texts, batch_size=batch_size, show_progress_bar=show_progress,
                                          convert_to_tensor=True, normalize_embeddings=True)  # (D, H)
    vectors = embedder.encode_queries(queries, batch_size=batch_size, show_progress_bar=show_progress,
                                      convert_to_tensor=True, normalize_embeddings=True)  # (Q, H)
    documents = torch.as_tensor(documents, dtype=torch.float32)
    vectors = torch.as_tensor(vectors, dtype=torch.float32).reshape(len(queries), -1)
    scores = vectors @ documents.T  # (Q, D); exact, float32
    row_of = {q: i for i, q in enumerate(queries)}

    triplets: list[TripletExample] = []
    without: list[str] = []
    dropped_margin = total = 0
    for record in records:
        row = scores[row_of[record.query]].clone()  # (D,)
        excluded = sorted(positives_of[record.query])
        positive_score = float(row[[index[p] for p in record.positives]].min())
        row[excluded] = float("-inf")
        depth = min(high, len(texts) - len(excluded))
        if depth >= low:
            values, order = torch.topk(row, depth)
            ranked = list(zip(order[low - 1 :].tolist(), values[low - 1 :].tolist(), strict=True))
        else:
            ranked = []
        threshold = positive_score - (abs(positive_score) * margin if relative else margin)
        candidates = [i for i, value in ranked if value < threshold]
        dropped_margin += len(ranked) - len(candidates)
        if strategy == "top" or len(candidates) <= per_query:
            chosen = candidates[:per_query]
        else:
            rng = random.Random("\x00".join([str(seed), record.query, *record.positives]))
            keep = sorted(rng.sample(range(len(candidates)), per_query))
            chosen = [candidates[j] for j in keep]
        if not chosen:
            without.append(record.query)
            continue
        total += len(chosen)
        triplets.append(TripletExample(record.query, record.positives, tuple(texts[i] for i in chosen)))
    stats = MiningStats(
        queries=len(records), triplets=len(triplets), negatives=total, corpus_size=len(texts),
        dropped_by_margin=dropped_margin, without_negatives=len(without),
    )
    return MiningResult(triplets=triplets, stats=stats, queries_without_negatives=without)
