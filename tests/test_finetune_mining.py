"""Hard-negative mining: rank window, margins, positives never negatives, caps, seeded determinism."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from finetune.data import DataError, PairExample, TripletExample, load_examples, write_jsonl
from finetune.mining import mine_hard_negatives, parse_rank_range


class VectorEmbedder:
    """An embedder whose vectors are given per text: cosine scores are known exactly."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls: list[tuple[str, int]] = []

    def _encode(self, texts: list[str], side: str) -> torch.Tensor:
        self.calls.append((side, len(texts)))
        out = torch.tensor([self.vectors[t] for t in texts], dtype=torch.float32)
        return torch.nn.functional.normalize(out, dim=-1)

    def encode_queries(self, texts: list[str], **_: object) -> torch.Tensor:
        return self._encode(texts, "query")

    def encode_documents(self, texts: list[str], **_: object) -> torch.Tensor:
        return self._encode(texts, "document")


def _at(cosine: float) -> list[float]:
    """A unit vector whose cosine with the query [1, 0] is ``cosine``."""
    return [cosine, math.sqrt(1 - cosine**2)]


# Query "q" is [1, 0]; each document's score is its cosine with it.
SCORES = {"P": 0.9, "P2": 0.3, "D1": 0.95, "D2": 0.85, "D3": 0.82, "D4": 0.805, "D5": 0.7, "D6": 0.6,
          "D7": 0.5, "D8": 0.4, "D9": 0.2}


def _geometry() -> VectorEmbedder:
    vectors = {"q": [1.0, 0.0], "other": [0.0, 1.0]} | {t: _at(s) for t, s in SCORES.items()}
    vectors["P  \n"] = vectors["P"]  # the positive again, with different whitespace
    return VectorEmbedder(vectors)


CORPUS = ["D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9", "P  \n"]


def test_rank_window_and_absolute_margin() -> None:
    # Without the positive P (and its whitespace twin), the ranking is D1 D2 D3 D4 D5 D6 D7 D8 P2 D9.
    result = mine_hard_negatives(_geometry(), [PairExample("q", ("P",)), PairExample("other", ("P2",))], CORPUS,
                                 rank_range=(2, 6), margin=0.1, per_query=7, show_progress=False)
    first = result.triplets[0]
    # Ranks 2-6: D2 .85, D3 .82, D4 .805, D5 .70, D6 .60; a negative must score below 0.9 - 0.1.
    assert first == TripletExample("q", ("P",), ("D5", "D6"))
    # "other" is [0, 1]: its ranking is D9 D8 D7 D6 D5 D4 ..., and 0.954 - 0.1 drops D8 (.917) and D7 (.866).
    assert result.triplets[1] == TripletExample("other", ("P2",), ("D6", "D5", "D4"))
    assert result.stats.dropped_by_margin == 3 + 2
    assert result.stats.corpus_size == 12  # the 10 corpus texts, plus the positives P and P2


def test_relative_margin_is_a_fraction_of_the_positive_score() -> None:
    result = mine_hard_negatives(_geometry(), [PairExample("q", ("P",))], CORPUS, rank_range=(2, 6),
                                 margin=0.1, relative=True, show_progress=False)
    # 0.9 - 0.1 * 0.9 = 0.81: D4 (.805) now passes, D3 (.82) still does not.
    assert result.triplets[0].negatives == ("D4", "D5", "D6")


def test_positives_of_every_record_with_the_same_query_are_never_negatives() -> None:
    pairs = [PairExample("q", ("P",)), PairExample("q", ("D5",))]  # two answers to the same question
    result = mine_hard_negatives(_geometry(), pairs, CORPUS, rank_range=(1, 20), margin=0.0, show_progress=False)
    for triplet in result.triplets:
        assert not {"P", "P  \n", "D5"} & set(triplet.negatives)
    # Record 1's positive scores 0.9: only documents below it qualify, hardest first.
    assert result.triplets[0].negatives == ("D2", "D3", "D4", "D6", "D7", "D8", "D9")
    # Record 2's positive D5 scores 0.7, so its margin keeps only what scores below 0.7.
    assert result.triplets[1].negatives == ("D6", "D7", "D8", "D9")


def test_top_strategy_takes_the_hardest_and_per_query_caps() -> None:
    result = mine_hard_negatives(_geometry(), [PairExample("q", ("P",))], CORPUS, rank_range=(1, 20), margin=0.06,
                                 per_query=2, strategy="top", show_progress=False)
    assert result.triplets[0].negatives == ("D3", "D4")


def test_query_without_any_candidate_gets_no_triplet_and_is_counted() -> None:
    pairs = [PairExample("q", ("P",)), PairExample("q", ("D9",))]
    # D9 scores 0.2: with a margin of 0.45 nothing is low enough for the second record; D8 (.4) is for the first.
    result = mine_hard_negatives(_geometry(), pairs, CORPUS, rank_range=(1, 20), margin=0.45, show_progress=False)
    assert [(t.positives, t.negatives) for t in result.triplets] == [(("P",), ("D8",))]
    assert result.stats.without_negatives == 1 and result.queries_without_negatives == ["q"]
    assert result.stats.triplets == 1 and result.stats.queries == 2


def _random_case(n_queries: int = 12, n_docs: int = 60) -> tuple[VectorEmbedder, list[PairExample], list[str]]:
    rng = np.random.default_rng(0)
    vectors: dict[str, list[float]] = {}
    pairs = []
    for i in range(n_queries):
        vectors[f"query {i}"] = rng.normal(size=8).tolist()
        vectors[f"answer {i}"] = (np.array(vectors[f"query {i}"]) + rng.normal(scale=0.3, size=8)).tolist()
        pairs.append(PairExample(f"query {i}", (f"answer {i}",)))
    corpus = []
    for j in range(n_docs):
        vectors[f"doc {j}"] = rng.normal(size=8).tolist()
        corpus.append(f"doc {j}")
    return VectorEmbedder(vectors), pairs, corpus


def test_random_sampling_is_seeded_and_independent_of_record_order() -> None:
    embedder, pairs, corpus = _random_case()
    options = {"rank_range": (1, 40), "margin": 0.0, "per_query": 3, "show_progress": False}
    first = mine_hard_negatives(embedder, pairs, corpus, seed=7, **options).triplets
    again = mine_hard_negatives(embedder, pairs, corpus, seed=7, **options).triplets
    assert first == again
    shuffled = pairs[:]
    random.Random(1).shuffle(shuffled)
    reordered = {t.query: t for t in mine_hard_negatives(embedder, shuffled, corpus, seed=7, **options).triplets}
    assert all(reordered[t.query] == t for t in first)
    other = mine_hard_negatives(embedder, pairs, corpus, seed=8, **options).triplets
    assert [t.negatives for t in other] != [t.negatives for t in first]
    # Every sample is 3 of the candidates, listed in rank order (hardest first).
    top = {t.query: t.negatives for t in mine_hard_negatives(embedder, pairs, corpus, strategy="top",
                                                                 **(options | {"per_query": 40})).triplets}
    for t in first:
        positions = [top[t.query].index(n) for n in t.negatives]
        assert len(t.negatives) == 3 and positions == sorted(positions)


def test_without_a_corpus_the_other_positives_are_the_candidates() -> None:
    embedder, pairs, _ = _random_case(n_queries=6)
    result = mine_hard_negatives(embedder, pairs, None, rank_range=(1, 10), margin=0.0, show_progress=False)
    answers = {p for pair in pairs for p in pair.positives}
    for t in result.triplets:
        assert set(t.negatives) <= answers - set(t.positives)
    assert result.stats.corpus_size == 6


def test_bad_options_and_data_are_reported() -> None:
    embedder, pairs, corpus = _random_case(n_queries=2, n_docs=5)
    with pytest.raises(ValueError, match="rank range needs 1 <= first <= last"):
        mine_hard_negatives(embedder, pairs, corpus, rank_range=(5, 2))
    with pytest.raises(ValueError, match="per_query must be an integer >= 1"):
        mine_hard_negatives(embedder, pairs, corpus, per_query=0)
    with pytest.raises(ValueError, match="relative margin"):
        mine_hard_negatives(embedder, pairs, corpus, margin=1.5, relative=True)
    with pytest.raises(DataError, match=r"<records>\[1\]: has none of the fields"):
        mine_hard_negatives(embedder, [{"query": "a", "positive": ["b"]}, {"query": "c"}], corpus)


def test_parse_rank_range() -> None:
    assert parse_rank_range("10-50") == (10, 50)
    assert parse_rank_range(" 1 - 1 ") == (1, 1)
    for bad in ("10", "a-b", "0-5", "-3-5"):
        with pytest.raises(ValueError, match="rank range"):
            parse_rank_range(bad)


def test_mining_with_a_real_embedder_round_trips_through_jsonl(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from retrievers import AutoModelForEmbedding

    embedder = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)
    pairs = [PairExample(f"how do i install package {i} ?", (f"use pip install with the package name {i} .",))
             for i in range(8)]
    corpus = [f"the cat sat on the mat {j} times ." for j in range(20)]
    result = mine_hard_negatives(embedder, pairs, corpus, rank_range=(1, 15), margin=0.0, per_query=3, seed=3,
                                 show_progress=False)
    assert result.triplets, result.stats
    path = write_jsonl(tmp_path / "triplets.jsonl", result.triplets)
    loaded = load_examples(path)
    assert loaded.kind == "triplets" and loaded.examples == result.triplets
    # Each kept negative scores below its positive under the real model.
    for t in result.triplets:
        q = embedder.encode_queries([t.query], normalize_embeddings=True)
        docs = embedder.encode_documents([*t.positives, *t.negatives], normalize_embeddings=True)
        scores = (q @ docs.T)[0]
        assert (scores[1:] < scores[0] + 1e-6).all()
        assert len(t.negatives) <= 3 and not set(t.negatives) & set(t.positives)
