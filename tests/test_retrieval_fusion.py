"""Score fusion of the first stage and the reranker, and the per-section cap, on hand-computed examples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever

from rag_app.config import load_settings
from rag_app.retrieval import PassageRetriever
from retrievers.fusion import standardise, zscore_fusion
from retrievers.names import COMBINED_SCORE_KEY, RELEVANCE_SCORE_KEY

R = math.sqrt(1.5)  # z-score of the top of [1, 2, 3]: (3 - 2) / sqrt(2/3)


def test_standardise_and_fusion_by_hand() -> None:
    assert standardise([1.0, 2.0, 3.0]) == pytest.approx([-R, 0.0, R])
    assert standardise([5.0, 5.0]) == [0.0, 0.0]  # no spread: no opinion
    assert zscore_fusion([1, 2, 3], [3, 1, 2], 0.5) == pytest.approx([0.0, -R / 2, R / 2])
    assert zscore_fusion([1, 2, 3], [3, 1, 2], 0.0) == pytest.approx([-R, 0.0, R])
    assert zscore_fusion([1, 2, 3], [3, 1, 2], 1.0) == pytest.approx([R, -R, 0.0])
    # A first-stage margin survives: 0.9 far above the rest stays first against a mild reranker preference.
    fused = zscore_fusion([0.9, 0.5, 0.49, 0.48], [0.60, 0.62, 0.5, 0.5], 0.5)
    assert max(range(4), key=fused.__getitem__) == 0
    with pytest.raises(ValueError, match="one score per candidate"):
        zscore_fusion([1, 2], [1], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        zscore_fusion([1, 2], [1, 2], 1.5)


class Fixed(BaseRetriever):
    """Returns the given documents, in order, as a dense retriever would (scores in metadata)."""

    docs: list[Document]
    k: int = 20

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return list(self.docs)


class ScoreByText(BaseDocumentCompressor):
    """A reranker that scores each passage by a table, replacing ``relevance_score`` (as ours does)."""

    scores: dict[str, float]

    def compress_documents(self, documents: Sequence[Document], query: str, callbacks=None) -> list[Document]:  # noqa: ANN001
        scored = [d.model_copy(update={"metadata": {**d.metadata, RELEVANCE_SCORE_KEY: self.scores[d.page_content]}})
                  for d in documents]
        return sorted(scored, key=lambda d: -d.metadata[RELEVANCE_SCORE_KEY])


def _doc(text: str, score: float, heading: str = "h") -> Document:
    return Document(page_content=text, metadata={"source": "a.md", "heading": heading, RELEVANCE_SCORE_KEY: score})


CANDIDATES = [_doc("a", 3.0), _doc("b", 2.0), _doc("c", 1.0)]  # dense: a > b > c
RERANKER = {"a": 2.0, "b": 1.0, "c": 3.0}  # reranker: c > a > b


@pytest.mark.parametrize(
    ("weight", "order"),
    [
        (1.0, ["c", "a", "b"]),  # the reranker alone (the default)
        (0.0, ["a", "b", "c"]),  # the first stage alone
        # 0.5: a = (R + 0)/2, b = (0 - R)/2, c = (-R + R)/2 = 0  ->  a > c > b
        (0.5, ["a", "c", "b"]),
    ],
)
def test_passage_retriever_orders_by_the_fused_score(weight: float, order: list[str]) -> None:
    retriever = PassageRetriever(candidates=Fixed(docs=CANDIDATES), reranker=ScoreByText(scores=RERANKER),
                                 top_n=3, fusion_weight=weight)
    got = retriever.invoke("q")
    assert [d.page_content for d in got] == order
    # relevance_score stays the reranker's: min_score is on its scale.
    assert [d.metadata[RELEVANCE_SCORE_KEY] for d in got] == [RERANKER[t] for t in order]
    if weight < 1.0:
        assert got[0].metadata[COMBINED_SCORE_KEY] == pytest.approx(zscore_fusion([3, 2, 1], [2, 1, 3], weight)[
            "abc".index(order[0])])


def test_min_score_applies_to_the_reranker_score_after_fusion() -> None:
    retriever = PassageRetriever(candidates=Fixed(docs=CANDIDATES), reranker=ScoreByText(scores=RERANKER),
                                 top_n=3, fusion_weight=0.5, min_score=1.5)
    assert [d.page_content for d in retriever.invoke("q")] == ["a", "c"]  # b's reranker score 1.0 < 1.5


def test_max_per_section_moves_repeats_down_without_dropping() -> None:
    docs = [_doc("a1", 0.9, "A"), _doc("a2", 0.8, "A"), _doc("a3", 0.7, "A"), _doc("b1", 0.6, "B"), _doc("c1", 0.5, "C")]
    capped = PassageRetriever(candidates=Fixed(docs=docs), top_n=5, max_per_section=1)
    assert [d.page_content for d in capped.invoke("q")] == ["a1", "b1", "c1", "a2", "a3"]
    two = PassageRetriever(candidates=Fixed(docs=docs), top_n=3, max_per_section=2)
    assert [d.page_content for d in two.invoke("q")] == ["a1", "a2", "b1"]
    other_file = [_doc("a1", 0.9, "A"), Document(page_content="x", metadata={"source": "b.md", "heading": "A"})]
    assert len(PassageRetriever(candidates=Fixed(docs=other_file), top_n=2, max_per_section=1).invoke("q")) == 2
    uncapped = PassageRetriever(candidates=Fixed(docs=docs), top_n=3)
    assert [d.page_content for d in uncapped.invoke("q")] == ["a1", "a2", "a3"]


def test_settings_validate_and_reach_the_retriever() -> None:
    settings = load_settings(retrieval={"fusion_weight": 0.3, "max_per_section": 2})
    assert (settings.retrieval.fusion_weight, settings.retrieval.max_per_section) == (0.3, 2)
    with pytest.raises(ValueError, match="fusion_weight"):
        load_settings(retrieval={"fusion_weight": 1.2})
    with pytest.raises(ValueError, match="max_per_section"):
        load_settings(retrieval={"max_per_section": 0})
