"""LangchainReranker: ordering, top_n, the score in metadata, copies not mutations, argument handling and
async. The wrapper is tested with a deterministic word-overlap ranker (a real BaseRanker subclass), so each
expected order and score is countable by hand; the tests with a real model are at the end."""

from __future__ import annotations

import asyncio
import copy
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from pydantic import ValidationError

from retrievers.langchain import LangchainReranker
from retrievers.rerankers.base import BaseRanker


class OverlapRanker(BaseRanker):
    """Score = number of distinct lowercase words the query and the document share."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batch_sizes: list[int] = []

    def compute_score(
        self, sentence_pairs: Sequence[tuple[str, str]] | tuple[str, str], batch_size: int = 16, **kwargs: Any
    ) -> list[float] | float:
        time.sleep(self.delay)
        self.batch_sizes.append(batch_size)
        single = isinstance(sentence_pairs, tuple)
        pairs = [sentence_pairs] if single else list(sentence_pairs)
        scores = [float(len(set(q.lower().split()) & set(d.lower().split()))) for q, d in pairs]
        return scores[0] if single else scores


QUERY = "how do i reset the router"


def documents() -> list[Document]:
    return [
        Document(page_content="cats sleep all day", metadata={"source": "cats.md", "page": 1}, id="cats"),  # 0
        Document(page_content="reset the router and wait", metadata={"source": "router.md"}, id="router"),  # 3
        Document(page_content="the warranty covers the router", metadata={"source": "warranty.md", "tags": ["x"]}),  # 2
        Document(page_content="how do i reset the router", metadata={"source": "faq.md"}, id="faq"),  # 6
        Document(page_content="the end", metadata={}),  # 1
    ]


def test_best_first_top_n_with_scores_and_metadata_kept() -> None:
    docs = documents()
    result = LangchainReranker(ranker=OverlapRanker(), top_n=3).compress_documents(docs, QUERY)
    assert [d.page_content for d in result] == [docs[3].page_content, docs[1].page_content, docs[2].page_content]
    assert [d.metadata["relevance_score"] for d in result] == [6.0, 3.0, 2.0]
    assert all(type(d.metadata["relevance_score"]) is float for d in result)
    assert result[0].metadata == {"source": "faq.md", "relevance_score": 6.0}
    assert result[2].metadata == {"source": "warranty.md", "tags": ["x"], "relevance_score": 2.0}
    assert [d.id for d in result] == ["faq", "router", None]


def test_the_callers_documents_are_not_modified() -> None:
    docs = documents()
    docs[1].metadata["relevance_score"] = -1.0  # a score from an earlier stage
    before = copy.deepcopy(docs)
    result = LangchainReranker(ranker=OverlapRanker(), top_n=None).compress_documents(docs, QUERY)
    assert docs == before
    assert all(r is not d for r in result for d in docs)
    assert all(r.metadata is not d.metadata for r in result for d in docs)
    router = next(r for r in result if r.id == "router")
    assert router.metadata["relevance_score"] == 3.0  # the new score replaces the old one in the copy
    assert docs[1].metadata["relevance_score"] == -1.0


@pytest.mark.parametrize(("top_n", "expected"), [(None, 5), (0, 0), (1, 1), (5, 5), (50, 5)])
def test_top_n(top_n: int | None, expected: int) -> None:
    result = LangchainReranker(ranker=OverlapRanker(), top_n=top_n).compress_documents(documents(), QUERY)
    assert len(result) == expected
    scores = [d.metadata["relevance_score"] for d in result]
    assert scores == sorted(scores, reverse=True)


def test_default_top_n_is_three() -> None:
    assert len(LangchainReranker(ranker=OverlapRanker()).compress_documents(documents(), QUERY)) == 3


def test_ties_keep_the_input_order() -> None:
    docs = [Document(page_content=f"router {name}", metadata={"name": name}) for name in ("b", "a", "c")]
    result = LangchainReranker(ranker=OverlapRanker(), top_n=None).compress_documents(docs, "router")
    assert [d.metadata["name"] for d in result] == ["b", "a", "c"]
    assert [d.metadata["relevance_score"] for d in result] == [1.0, 1.0, 1.0]


def test_empty_input_calls_no_model() -> None:
    ranker = OverlapRanker()
    assert LangchainReranker(ranker=ranker).compress_documents([], QUERY) == []
    assert ranker.batch_sizes == []


def test_batch_size_reaches_the_ranker() -> None:
    ranker = OverlapRanker()
    LangchainReranker(ranker=ranker, batch_size=7).compress_documents(documents(), QUERY)
    assert ranker.batch_sizes == [7]


def test_bad_inputs() -> None:
    reranker = LangchainReranker(ranker=OverlapRanker())
    with pytest.raises(TypeError, match="query must be a string"):
        reranker.compress_documents(documents(), ["not", "a", "string"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"documents\[1\] must be a langchain Document"):
        reranker.compress_documents([documents()[0], "plain text"], QUERY)  # type: ignore[list-item]


def test_works_inside_contextual_compression_retriever() -> None:
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.retrievers import BaseRetriever

    class Fixed(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            return documents()

    retriever = ContextualCompressionRetriever(
        base_compressor=LangchainReranker(ranker=OverlapRanker(), top_n=2), base_retriever=Fixed()
    )
    result = retriever.invoke(QUERY)
    assert [(d.id, d.metadata["relevance_score"]) for d in result] == [("faq", 6.0), ("router", 3.0)]


# ---------------------------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a model: pass model_name_or_path"),
        ({"ranker": OverlapRanker(), "model_name_or_path": "some-reranker"}, "not both"),
        ({"ranker": OverlapRanker(), "causal_lm": True}, "causal_lm are options for loading a model"),
        ({"ranker": OverlapRanker(), "top_k": 2}, "did you mean 'top_n'"),
        ({"ranker": OverlapRanker(), "batchsize": 2}, "did you mean 'batch_size'"),
        ({"ranker": OverlapRanker(), "top_n": -1}, "top_n"),
        ({"ranker": OverlapRanker(), "batch_size": 0}, "batch_size"),
        ({"ranker": "not a ranker"}, "ranker"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LangchainReranker(**kwargs)


def test_model_name_given_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="given twice"):
        LangchainReranker("a", model_name_or_path="b")


@pytest.fixture
def fake_auto(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Stand in for retrievers.rerankers.auto: records what the wrapper asks it to load (no model needed)."""
    loads: list[tuple[str, dict[str, Any]]] = []

    class FakeAutoModelForRanking:
        @classmethod
        def from_pretrained(cls, name: str, **kwargs: Any) -> BaseRanker:
            loads.append((name, kwargs))
            return OverlapRanker()

    module = types.ModuleType("retrievers.rerankers.auto")
    module.AutoModelForRanking = FakeAutoModelForRanking  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "retrievers.rerankers.auto", module)
    return loads


def test_unknown_keyword_arguments_go_to_from_pretrained(fake_auto: list[tuple[str, dict[str, Any]]]) -> None:
    reranker = LangchainReranker("my-llm-reranker", top_n=2, causal_lm=True, model_kwargs={"device": "cpu"})
    assert fake_auto == [("my-llm-reranker", {"device": "cpu", "causal_lm": True})]
    assert reranker.model_kwargs == {"device": "cpu", "causal_lm": True}
    assert reranker.top_n == 2
    assert isinstance(reranker.reranker, OverlapRanker)
    assert [d.id for d in reranker.compress_documents(documents(), QUERY)] == ["faq", "router"]


def test_an_argument_given_twice_through_model_kwargs_is_refused(fake_auto: list[tuple[str, dict[str, Any]]]) -> None:
    with pytest.raises(ValidationError, match="causal_lm given both as an argument and in model_kwargs"):
        LangchainReranker("x", causal_lm=True, model_kwargs={"causal_lm": False})
    assert fake_auto == []


def test_the_model_loads_once(fake_auto: list[tuple[str, dict[str, Any]]]) -> None:
    reranker = LangchainReranker(model_name_or_path="x")
    for _ in range(3):
        reranker.compress_documents(documents(), QUERY)
    assert len(fake_auto) == 1


# ---------------------------------------------------------------------------------------------- async


@pytest.mark.asyncio
async def test_acompress_documents_does_not_block_the_event_loop() -> None:
    reranker = LangchainReranker(ranker=OverlapRanker(delay=0.3), top_n=2)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    result = await reranker.acompress_documents(documents(), QUERY)
    during = ticks - start
    stop.set()
    await task
    assert during >= 10  # ~60 possible in 0.3 s; a blocked loop gives 0 or 1
    assert [(d.id, d.metadata["relevance_score"]) for d in result] == [("faq", 6.0), ("router", 3.0)]


# ---------------------------------------------------------------------------------------------- a real model


def _auto_model_for_ranking() -> Any:
    from retrievers.rerankers.auto import AutoModelForRanking

    return AutoModelForRanking


def test_cross_encoder_scores_are_the_models(tiny_cross_encoder_dir: Path) -> None:
    AutoModelForRanking = _auto_model_for_ranking()
    docs = documents()
    reranker = LangchainReranker(str(tiny_cross_encoder_dir), top_n=None)
    result = reranker.compress_documents(docs, QUERY)
    model = AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir)
    expected = model.compute_score([(QUERY, d.page_content) for d in docs])
    by_text = {d.page_content: d.metadata["relevance_score"] for d in result}
    assert len(result) == len(docs)
    for doc, score in zip(docs, expected, strict=True):
        assert by_text[doc.page_content] == pytest.approx(float(score), abs=1e-5)
    scores = [d.metadata["relevance_score"] for d in result]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) > 1  # a random model still tells the documents apart


def test_cross_encoder_top_n_and_a_shared_ranker_agree(tiny_cross_encoder_dir: Path) -> None:
    AutoModelForRanking = _auto_model_for_ranking()
    by_name = LangchainReranker(str(tiny_cross_encoder_dir), top_n=2).compress_documents(documents(), QUERY)
    shared = LangchainReranker(ranker=AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir), top_n=2)
    by_ranker = shared.compress_documents(documents(), QUERY)
    assert len(by_name) == 2
    assert [d.page_content for d in by_name] == [d.page_content for d in by_ranker]
    assert [d.metadata["relevance_score"] for d in by_name] == pytest.approx(
        [d.metadata["relevance_score"] for d in by_ranker], abs=1e-5
    )


def test_extra_keyword_arguments_reach_the_real_loader(tiny_decoder_dir: Path) -> None:
    """``causal_lm=True`` is not a field: it must reach AutoModelForRanking and give an LLM yes/no reranker."""
    AutoModelForRanking = _auto_model_for_ranking()
    docs = documents()
    reranker = LangchainReranker(str(tiny_decoder_dir), top_n=None, causal_lm=True, device="cpu")
    assert type(reranker.reranker).__name__ == "LLMRanker"
    model = AutoModelForRanking.from_pretrained(tiny_decoder_dir, causal_lm=True, device="cpu")
    expected = model.compute_score([(QUERY, d.page_content) for d in docs])
    by_text = {d.page_content: d.metadata["relevance_score"] for d in reranker.compress_documents(docs, QUERY)}
    for doc, score in zip(docs, expected, strict=True):
        assert by_text[doc.page_content] == pytest.approx(float(score), abs=1e-5)
