"""Rerankers on the bundled models: SmolLM2-135M-Instruct (GGUF) as an LLM yes/no ranker, MiniLM as ColBERT.

These load real weights (SmolLM2 takes ~15 s to de-quantise), so each model is loaded once per module.
SmolLM2-135M is a very small model that was never trained to rerank: its zero-shot ordering is right for
clear cases like the one below, but not reliable in general (see retrievers/rerankers/llm_ranker.py).
"""

from __future__ import annotations

import pytest

from retrievers.rerankers import AutoModelForRanking, ColBERT, LLMRanker

pytestmark = pytest.mark.integration

QUERY = "What is the capital of France?"
DOCS = [
    "Bananas are a good source of potassium.",
    "The capital city of France is Paris, home of the Eiffel Tower.",
    "Cats sleep for most of the day.",
]
FILLER = " ".join(["Bananas are yellow fruits that grow in bunches on tall plants in warm countries."] * 12)


@pytest.fixture(scope="module")
def smollm2() -> LLMRanker:
    return AutoModelForRanking.from_pretrained("smollm2", causal_lm=True)


@pytest.fixture(scope="module")
def minilm_colbert() -> ColBERT:
    return AutoModelForRanking.from_pretrained("minilm", colbert=True)


def test_smollm2_ranks_the_relevant_document_first(smollm2: LLMRanker) -> None:
    assert isinstance(smollm2, LLMRanker)
    assert smollm2.prompt_template.startswith("<|im_start|>system\nGiven a query")  # its chat template
    assert smollm2.prompt_template.endswith("<|im_start|>assistant\n")
    result = smollm2.rerank(QUERY, DOCS)
    assert result.indices[0] == 1, result
    # Padding and batch do not change a real model's scores either.
    alone = [smollm2.compute_score((QUERY, d)) for d in DOCS]
    assert smollm2.compute_score([(QUERY, d) for d in DOCS], batch_size=3) == pytest.approx(alone, abs=1e-3)


def test_minilm_colbert_ranks_the_relevant_document_first(minilm_colbert: ColBERT) -> None:
    assert minilm_colbert.colbert_dim == 384  # no colbert_linear.pt: MiniLM's own token vectors
    result = minilm_colbert.rerank(QUERY, DOCS)
    assert result.indices[0] == 1, result
    assert 0 < result.scores[0] <= 1.0 + 1e-6  # MaxSim averaged over query tokens of unit vectors


def test_minilm_colbert_finds_a_sentence_beyond_the_first_window(minilm_colbert: ColBERT) -> None:
    ranker = ColBERT(
        minilm_colbert.model, minilm_colbert.tokenizer, minilm_colbert.colbert_linear, max_length=64, window_overlap=8
    )
    with_answer = FILLER + " Paris is the capital of France."
    assert len(ranker.tokenizer(with_answer)["input_ids"]) > 3 * 64  # the answer is three windows in
    scores = ranker.compute_score([(QUERY, FILLER), (QUERY, with_answer), (QUERY, "Paris is the capital of France.")])
    # Both documents have the same first windows: only the last window can lift the second one.
    assert scores[1] > scores[0] + 0.2
    assert ranker.rerank(QUERY, [FILLER, with_answer]).indices[0] == 1
