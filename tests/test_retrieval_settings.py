"""retrieval.min_score: validation, resolution per reranker (calibrated table, explicit value, -inf), the
threshold in PassageRetriever over dense and hybrid candidates, and NO_ANSWER through the chain without a model
call."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from rag_app import retrieval
from rag_app.chain import NO_ANSWER, build_chain
from rag_app.config import RetrievalSettings, load_settings
from rag_app.retrieval import CALIBRATED_MIN_SCORES, PassageRetriever, build_candidates, min_score_for
from tests.test_chain import FixedRetriever, TableReranker, fake_llm


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("RAG_APP_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


DOCS = [
    Document("Pip installs packages.", metadata={"source": "a.md"}),
    Document("Venv makes environments.", metadata={"source": "b.md"}),
    Document("Bread needs flour.", metadata={"source": "c.md"}),
]
SCORES = {"Pip installs packages.": 0.9, "Venv makes environments.": 0.4, "Bread needs flour.": 0.1}


def test_unset_min_score_resolves_to_the_value_calibrated_for_the_scorer() -> None:
    defaults = load_settings()  # dense candidates reranked by ColBERT: its MaxSim score is the score
    assert (defaults.retrieval.mode, defaults.retrieval.reranker, defaults.retrieval.reranker_kind,
            defaults.retrieval.min_score) == ("dense", "minilm", "colbert", None)
    assert ("minilm", "colbert") in CALIBRATED_MIN_SCORES, "the default scorer must have a calibrated threshold"
    assert min_score_for(defaults) == CALIBRATED_MIN_SCORES[("minilm", "colbert")]
    assert min_score_for(RetrievalSettings(reranker="smollm2", reranker_kind="llm")) is None  # not calibrated
    assert min_score_for(RetrievalSettings(reranker="minilm", reranker_kind="colbert")) == CALIBRATED_MIN_SCORES[("minilm", "colbert")]
    assert min_score_for(RetrievalSettings(mode="dense", reranker=None)) == CALIBRATED_MIN_SCORES[("minilm", "dense")]
    # Another scale: the same model read as another kind, a fine-tuned folder, another embedder, fused RRF scores.
    assert min_score_for(RetrievalSettings(reranker="minilm", reranker_kind="cross-encoder")) is None
    assert min_score_for(RetrievalSettings(reranker="./checkpoints/my-reranker", reranker_kind="cross-encoder")) is None
    assert min_score_for(RetrievalSettings(mode="dense", embedder="BAAI/bge-small-en-v1.5", reranker=None)) is None
    assert min_score_for(load_settings(retrieval={"mode": "hybrid", "reranker": ""})) is None


def test_an_explicit_min_score_overrides_and_minus_inf_turns_it_off() -> None:
    assert min_score_for(load_settings(retrieval={"min_score": 0.25})) == 0.25
    assert min_score_for(load_settings(retrieval={"min_score": -10.0, "reranker": ""})) == -10.0
    assert min_score_for(load_settings(retrieval={"min_score": -math.inf})) is None


def _passages(min_score: float | None, reranker: Any = None, top_n: int = 2) -> PassageRetriever:
    return PassageRetriever(candidates=FixedRetriever(documents=DOCS), reranker=reranker, top_n=top_n,
                            min_score=min_score)


def test_passage_retriever_reranks_keeps_top_n_then_drops_passages_below_min_score() -> None:
    reranker = TableReranker(scores=SCORES)
    both = ["Pip installs packages.", "Venv makes environments."]
    assert [d.page_content for d in _passages(None, reranker).invoke("q")] == both
    assert [d.page_content for d in _passages(0.5, reranker).invoke("q")] == ["Pip installs packages."]
    assert _passages(0.95, reranker).invoke("q") == []
    # top_n cuts before the threshold: the third passage (0.1) never comes back, whatever the threshold.
    assert [d.page_content for d in _passages(0.05, reranker, top_n=2).invoke("q")] == both
    assert [d.metadata["relevance_score"] for d in _passages(None, reranker, top_n=3).invoke("q")] == [0.9, 0.4, 0.1]
    # Without a reranker the fused score is compared; a passage with no score at all is kept.
    fused = [d.model_copy(update={"metadata": {**d.metadata, "fused_score": s}}) for d, s in zip(DOCS, (0.03, 0.01, None), strict=True)]
    passages = PassageRetriever(candidates=FixedRetriever(documents=fused), top_n=3, min_score=0.02)
    assert [d.page_content for d in passages.invoke("q")] == ["Pip installs packages.", "Bread needs flour."]


def test_with_top_n_keeps_more_passages_and_raises_the_candidates_k() -> None:
    from rag_app.retrieval import DenseRetriever

    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=8))
    passages = PassageRetriever(candidates=DenseRetriever(vectorstore=store, k=3), top_n=2)
    wider = passages.with_top_n(5)
    assert (wider.top_n, wider.candidates.k) == (5, 5) and (passages.top_n, passages.candidates.k) == (2, 3)
    assert passages.with_top_n(None) is passages and passages.with_top_n(3).candidates.k == 3


class _StoreWithGet(InMemoryVectorStore):
    """The in-memory store with Chroma's ``get`` (what build_retrieval reads the chunks with) and, like our Chroma
    collections, the cosine similarity as relevance score (the in-memory store's own score is the cosine)."""

    def _select_relevance_score_fn(self) -> Any:
        return lambda score: score

    def get(self, include: list[str] | None = None) -> dict[str, list[Any]]:
        docs = list(self.store.values())
        return {"ids": [d["id"] for d in docs], "documents": [d["text"] for d in docs],
                "metadatas": [d["metadata"] for d in docs]}


def _over_fake_index(settings: Any) -> PassageRetriever:
    """The passage retriever of ``settings`` over an in-memory store holding DOCS, embedded with deterministic
    random vectors (a reader's ``vector_store`` and ``chunks``)."""
    store = _StoreWithGet(DeterministicFakeEmbedding(size=16))
    store.add_documents(DOCS, ids=["a", "b", "c"])
    reader = SimpleNamespace(vector_store=store, chunks=lambda: [d.model_copy(update={"id": i}) for d, i in zip(DOCS, "abc", strict=True)])
    return PassageRetriever(candidates=build_candidates(settings, reader), top_n=settings.retrieval.top_n,  # type: ignore[arg-type]
                            min_score=min_score_for(settings))


def test_dense_retrieval_scores_by_cosine_and_applies_the_calibrated_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CALIBRATED_MIN_SCORES, ("minilm", "dense"), 0.99)
    stack = _over_fake_index(load_settings(retrieval={"mode": "dense", "reranker": "", "top_n": 3, "k": 3}))
    assert isinstance(stack.candidates, retrieval.DenseRetriever) and stack.min_score == 0.99
    ranked = stack.candidates.invoke("Venv makes environments.")
    assert ranked[0].page_content == "Venv makes environments."
    assert ranked[0].metadata["relevance_score"] == pytest.approx(1.0)  # the same text: cosine 1
    assert all(d.metadata["relevance_score"] < 0.99 for d in ranked[1:])
    assert [d.page_content for d in stack.invoke("Venv makes environments.")] == ["Venv makes environments."]
    assert stack.invoke("Something else entirely") == []  # nothing reaches 0.99


def test_hybrid_retrieval_has_no_calibrated_threshold_and_takes_an_explicit_one() -> None:
    stack = _over_fake_index(load_settings(retrieval={"mode": "hybrid", "reranker": "", "top_n": 3, "k": 3}))
    assert stack.min_score is None and len(stack.invoke("pip installs packages")) == 3
    # BM25 and dense agree on the exact match (fused 2/61); the others rank lower in one list or both.
    threshold = 2 / 61 - 1e-9
    stack = _over_fake_index(load_settings(retrieval={"mode": "hybrid", "reranker": "", "top_n": 3, "k": 3,
                                                      "min_score": threshold}))
    assert stack.min_score == threshold
    assert [d.page_content for d in stack.invoke("Pip installs packages.")] == ["Pip installs packages."]


def test_chain_answers_no_answer_without_calling_the_model_below_the_threshold() -> None:
    settings = load_settings(retrieval={"min_score": 0.95})
    llm, recorder = fake_llm("Pip installs packages [1].")
    chain = build_chain(FixedRetriever(documents=DOCS), llm, reranker=TableReranker(scores=SCORES),
                        min_score=min_score_for(settings))
    result = chain.invoke({"question": "How do I bake a cake?"})
    assert result["answer"] == NO_ANSWER and result["sources"] == []
    assert recorder.calls == []

    settings = load_settings(retrieval={"min_score": 0.5})
    llm, recorder = fake_llm("Pip installs packages [1].")
    chain = build_chain(FixedRetriever(documents=DOCS), llm, reranker=TableReranker(scores=SCORES),
                        min_score=min_score_for(settings))
    result = chain.invoke({"question": "How do I install a package?"})
    assert result["answer"] == "Pip installs packages [1]."
    assert [s["text"] for s in result["sources"]] == ["Pip installs packages."] and len(recorder.calls) == 1


def test_reranker_dtype_auto_is_bfloat16_only_on_a_cpu_with_native_bfloat16(monkeypatch):
    from rag_app import retrieval
    from rag_app.config import RetrievalSettings

    auto = RetrievalSettings(reranker="minilm")
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(retrieval, "_native_bf16_cpu", lambda native=native: native)
        assert retrieval.reranker_dtype(auto) == expected
    monkeypatch.setattr(retrieval, "_native_bf16_cpu", lambda: True)
    assert retrieval.reranker_dtype(RetrievalSettings(reranker="minilm", reranker_dtype="float32")) == "float32"


def test_the_bfloat16_reranker_scores_like_the_float32_one(tiny_encoder_dir):
    import torch
    from langchain_core.documents import Document

    from rag_app.config import RetrievalSettings
    from rag_app.retrieval import build_reranker

    docs = [Document("Use truncate to empty a log file."), Document("The kernel boots from the boot loader.")]
    scores = {}
    for dtype in ("float32", "bfloat16"):
        reranker = build_reranker(RetrievalSettings(reranker=str(tiny_encoder_dir), reranker_kind="colbert",
                                                    reranker_dtype=dtype))
        assert next(reranker.reranker.model.parameters()).dtype == getattr(torch, dtype)
        scores[dtype] = [d.metadata["relevance_score"] for d in reranker.compress_documents(docs, "empty a log file")]
    assert scores["bfloat16"] == pytest.approx(scores["float32"], abs=0.02)
