"""HybridRetriever and reciprocal_rank_fusion: fusion arithmetic by hand, and a five-document corpus whose
dense ranking is fixed by hand-placed vectors, so every expected rank and fused score below is worked out
from the numbers in this file."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from pydantic import ValidationError

from retrievers.langchain import HybridRetriever, reciprocal_rank_fusion, simple_tokenize

# ---------------------------------------------------------------------------------------------- RRF by hand


def test_rrf_sums_reciprocal_ranks_with_k_60() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]])
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    assert dict(fused) == pytest.approx(expected, rel=1e-12)


def test_rrf_weights_and_k_zero() -> None:
    # k=0: score = weight / rank.  x: 2/1 + 1/2 = 2.5;  y: 2/2 + 1/1 = 2.0
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]], k=0, weights=[2.0, 1.0]) == [("x", 2.5), ("y", 2.0)]
    # The same lists with equal weights tie; the tie goes to the first id met reading rank by rank.
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]], k=0) == [("x", 1.5), ("y", 1.5)]
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]], k=0, weights=[0.0, 1.0]) == [("y", 1.0), ("x", 0.5)]


def test_rrf_ties_are_broken_rank_by_rank_then_list_order() -> None:
    # a and c both score 1/61; c (rank 1 of list 2) is met before b (rank 2 of list 1).
    fused = reciprocal_rank_fusion([["a", "b"], ["c"]])
    assert [item for item, _ in fused] == ["a", "c", "b"]
    assert [item for item, _ in reciprocal_rank_fusion([["c"], ["a", "b"]])] == ["c", "a", "b"]


def test_rrf_counts_a_repeated_id_once_at_its_first_rank() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "a", "b"]], k=0))
    assert fused == {"a": 1.0, "b": pytest.approx(1 / 3)}


def test_rrf_empty_inputs() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "k must be"),
        ({"k": math.inf}, "k must be"),
        ({"weights": [1.0]}, "one weight per ranking"),
        ({"weights": [1.0, -0.5]}, r"weights\[1\]"),
    ],
)
def test_rrf_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reciprocal_rank_fusion([["a"], ["b"]], **kwargs)


def test_simple_tokenize() -> None:
    assert simple_tokenize("The Router, the MODEM: ZX-81!") == ["router", "modem", "zx", "81"]
    assert simple_tokenize("The Router", stopwords=None) == ["the", "router"]
    assert simple_tokenize("router modem", stopwords=["modem"]) == ["router"]
    with pytest.raises(ValueError, match="stopwords must be"):
        simple_tokenize("x", stopwords="klingon")


# ---------------------------------------------------------------------------------------------- the corpus

A = "Reset the router by holding the button for ten seconds."
B = "Error ZX81 means the firmware image is corrupt and must be flashed again."
C = "If the network drops, restart your wireless access point."
D = "Cats sleep for most of the day."
E = "The warranty covers hardware faults for two years."

Q_PARAPHRASE = "how do I reboot my modem"  # no word in common with the corpus: BM25 finds nothing
Q_CODE = "what does zx81 mean"  # the rare token zx81 is in B only; the dense side ranks B last
Q_BOTH = "router firmware"  # BM25: A then B (B is longer); dense: A, C, B, E, D

# Unit vectors on a circle: cosine similarity falls with the angle between them, so the dense ranking of
# each query is the order of angular distance, written beside it.
ANGLES = {
    A: 10, B: 300, C: 20, D: 250, E: 120,
    Q_PARAPHRASE: 22,  # C 2°, A 12°, B 82°, E 98°, D 132°
    Q_CODE: 125,  # E 5°, C 105°, A 115°, D 125°, B 175°
    Q_BOTH: 14,  # A 4°, C 6°, B 74°, E 106°, D 124°
}
SOURCES = {A: "router.md", B: "errors.md", C: "network.md", D: "cats.md", E: "warranty.md"}


class AngleEmbeddings(Embeddings):
    """Fixed 2-d vectors for the texts above; any other text is a test bug and raises."""

    def _vector(self, text: str) -> list[float]:
        radians = math.radians(ANGLES[text])
        return [math.cos(radians), math.sin(radians)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def corpus() -> list[Document]:
    return [
        Document(page_content=text, metadata={"source": SOURCES[text], "page": i})
        for i, text in enumerate([A, B, C, D, E])
    ]


def texts(documents: Iterable[Document]) -> list[str]:
    return [d.page_content for d in documents]


@pytest.fixture
def retriever() -> HybridRetriever:
    return HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=5)


# ---------------------------------------------------------------------------------------------- retrieval


def test_bm25_finds_the_rare_code_the_dense_side_ranks_last(retriever: HybridRetriever) -> None:
    assert texts(retriever.bm25_search(Q_CODE, 10)) == [B]
    assert texts(retriever.vectorstore.similarity_search(Q_CODE, k=5)) == [E, C, A, D, B]
    docs = retriever.invoke(Q_CODE)
    # B: 1/61 (BM25 rank 1) + 1/65 (dense rank 5) beats E's 1/61 (dense rank 1 only).
    assert texts(docs) == [B, E, C, A, D]
    scores = [d.metadata["fused_score"] for d in docs]
    assert scores == pytest.approx([1 / 61 + 1 / 65, 1 / 61, 1 / 62, 1 / 63, 1 / 64], rel=1e-9)
    assert [(d.metadata["bm25_rank"], d.metadata["dense_rank"]) for d in docs] == [
        (1, 5), (None, 1), (None, 2), (None, 3), (None, 4),
    ]


def test_dense_finds_the_paraphrase_bm25_misses(retriever: HybridRetriever) -> None:
    assert retriever.bm25_search(Q_PARAPHRASE, 10) == []
    docs = retriever.invoke(Q_PARAPHRASE, k=2)
    assert texts(docs) == [C, A]
    assert [d.metadata["dense_rank"] for d in docs] == [1, 2]
    assert [d.metadata["bm25_rank"] for d in docs] == [None, None]
    assert docs[0].metadata["fused_score"] == pytest.approx(1 / 61)


def test_fused_top_set_holds_the_best_of_each_side() -> None:
    retriever = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=2)
    # Neither side alone returns {B, E} as its top two: BM25 has only B, dense has E and C.
    assert {d.page_content for d in retriever.invoke(Q_CODE)} == {B, E}


def test_ranks_from_both_sides_are_merged_per_document(retriever: HybridRetriever) -> None:
    assert texts(retriever.bm25_search(Q_BOTH, 10)) == [A, B]  # same tf and idf; B is longer
    docs = retriever.invoke(Q_BOTH)
    assert texts(docs) == [A, B, C, E, D]
    ranks = {d.page_content: (d.metadata["bm25_rank"], d.metadata["dense_rank"]) for d in docs}
    assert ranks == {A: (1, 1), B: (2, 3), C: (None, 2), E: (None, 4), D: (None, 5)}
    scores = {d.page_content: d.metadata["fused_score"] for d in docs}
    assert scores[A] == pytest.approx(2 / 61)
    assert scores[B] == pytest.approx(1 / 62 + 1 / 63)
    assert scores[C] == pytest.approx(1 / 62)


def test_k_is_respected_in_the_constructor_and_per_call() -> None:
    assert len(HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=3).invoke(Q_BOTH)) == 3
    retriever = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=1)
    assert texts(retriever.invoke(Q_BOTH)) == [A]
    assert len(retriever.invoke(Q_BOTH, k=4)) == 4
    assert len(retriever.invoke(Q_BOTH, k=50)) == 5  # no more than the corpus
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        retriever.invoke(Q_BOTH, k=0)


def test_fetch_k_limits_the_candidates_of_each_side() -> None:
    retriever = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=2, fetch_k=2)
    docs = retriever.invoke(Q_CODE, k=3)  # fetch_k is raised to k: dense E, C, A; BM25 B
    assert texts(docs) == [B, E, C]
    assert docs[0].metadata["dense_rank"] is None  # B is 5th for the dense side, outside its 3 candidates
    assert docs[0].metadata["fused_score"] == pytest.approx(1 / 61)


def test_weights_change_the_fusion() -> None:
    dense_only = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=5, bm25_weight=0)
    docs = dense_only.invoke(Q_CODE)
    assert texts(docs) == [E, C, A, D, B]
    assert all(d.metadata["bm25_rank"] is None for d in docs)
    bm25_only = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=5, dense_weight=0)
    docs = bm25_only.invoke(Q_CODE)
    assert texts(docs) == [B]  # only documents sharing a token with the query
    assert docs[0].metadata == {
        "source": "errors.md", "page": 1, "fused_score": pytest.approx(1 / 61), "bm25_rank": 1, "dense_rank": None,
    }
    heavy_dense = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=1, dense_weight=3.0, rrf_k=0)
    # rrf_k=0: B = 1/1 + 3/5 = 1.6 < E = 3/1
    assert texts(heavy_dense.invoke(Q_CODE)) == [E]
    with pytest.raises(ValidationError, match="both 0"):
        HybridRetriever.from_documents(corpus(), AngleEmbeddings(), bm25_weight=0, dense_weight=0)


def test_stopwords_setting() -> None:
    default = HybridRetriever.from_documents(corpus(), AngleEmbeddings())
    assert default.bm25_search("the", 10) == []
    keep_all = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), stopwords=None)
    assert set(texts(keep_all.bm25_search("the", 10))) == {A, B, C, D, E}
    own = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), stopwords=["router"])
    assert own.bm25_search("router", 10) == []


def test_returned_documents_are_copies() -> None:
    documents = corpus()
    retriever = HybridRetriever.from_documents(documents, AngleEmbeddings(), k=5)
    first = retriever.invoke(Q_BOTH)
    second = retriever.invoke(Q_BOTH)
    assert [d.metadata for d in first] == [d.metadata for d in second]
    # Neither the caller's documents nor the stored ones gained the fusion keys.
    assert all(d.id is None and set(d.metadata) == {"source", "page"} for d in documents)
    assert all(set(d.metadata) == {"source", "page"} for d in retriever.documents)
    stored = retriever.vectorstore.similarity_search(Q_BOTH, k=5)
    assert all(set(d.metadata) == {"source", "page"} for d in stored)
    # from_documents gave every document an id, the same on both sides.
    assert all(d.id for d in first)
    assert {d.id for d in first} == {d.id for d in retriever.documents}


@pytest.mark.asyncio
async def test_ainvoke_gives_the_same_result(retriever: HybridRetriever) -> None:
    expected = retriever.invoke(Q_BOTH, k=3)
    got = await retriever.ainvoke(Q_BOTH, k=3)
    assert texts(got) == texts(expected)
    assert [d.metadata for d in got] == [d.metadata for d in expected]


@pytest.mark.asyncio
async def test_ainvoke_with_one_side_off() -> None:
    retriever = HybridRetriever.from_documents(corpus(), AngleEmbeddings(), k=5, dense_weight=0)
    assert texts(await retriever.ainvoke(Q_CODE)) == [B]


# ---------------------------------------------------------------------------------------------- identity


class FixedStore(VectorStore):
    """A vector store that answers every query with the same documents: the dense list is set by the test."""

    def __init__(self, results: list[Document]) -> None:
        self.results = results

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any) -> list[str]:
        raise NotImplementedError

    @classmethod
    def from_texts(
        cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, **kwargs: Any
    ) -> FixedStore:
        raise NotImplementedError

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return self.results[:k]


def test_existing_store_with_ids_matches_bm25_documents_without_ids() -> None:
    store = InMemoryVectorStore(AngleEmbeddings())
    ids = store.add_documents(corpus(), ids=["a", "b", "c", "d", "e"])
    retriever = HybridRetriever(vectorstore=store, documents=corpus(), k=5)  # BM25 copies have no id
    docs = retriever.invoke(Q_BOTH)
    assert texts(docs) == [A, B, C, E, D]  # five, not seven: A and B were matched across the lists
    assert [d.id for d in docs] == ["a", "b", "c", "e", "d"]
    assert set(ids) == {"a", "b", "c", "d", "e"}
    assert (docs[1].metadata["bm25_rank"], docs[1].metadata["dense_rank"]) == (2, 3)


def test_same_text_from_another_source_is_another_document() -> None:
    other = Document(page_content=A, metadata={"source": "copy.md"})
    bm25_side = [
        Document(page_content=A, metadata={"source": "router.md"}),
        Document(page_content=D, metadata={"source": "cats.md"}),
    ]
    retriever = HybridRetriever(vectorstore=FixedStore([other]), documents=bm25_side, k=5)
    docs = retriever.invoke("router")
    assert [(d.metadata["source"], d.metadata["bm25_rank"], d.metadata["dense_rank"]) for d in docs] == [
        ("router.md", 1, None), ("copy.md", None, 1),
    ]


def test_different_ids_are_different_documents_even_with_the_same_text() -> None:
    bm25_side = [Document(id="x", page_content=A, metadata={"source": "router.md"})]
    dense_side = [Document(id="y", page_content=A, metadata={"source": "router.md"})]
    docs = HybridRetriever(vectorstore=FixedStore(dense_side), documents=bm25_side).invoke("router")
    assert sorted(d.id for d in docs) == ["x", "y"]
    same = HybridRetriever(vectorstore=FixedStore([bm25_side[0].model_copy()]), documents=bm25_side).invoke("router")
    assert [(d.id, d.metadata["bm25_rank"], d.metadata["dense_rank"]) for d in same] == [("x", 1, 1)]


def test_a_match_without_id_takes_the_id_of_its_other_copy() -> None:
    bm25_side = [Document(id="a1", page_content=A, metadata={"source": "router.md"})]
    dense_side = [Document(page_content=A, metadata={"source": "router.md", "from": "store"})]
    docs = HybridRetriever(vectorstore=FixedStore(dense_side), documents=bm25_side).invoke("router")
    assert len(docs) == 1
    assert docs[0].id == "a1"
    assert docs[0].metadata["from"] == "store"  # the vector store's copy is the one returned


# ---------------------------------------------------------------------------------------------- construction


def test_construction_errors() -> None:
    store = FixedStore([])
    with pytest.raises(ValidationError, match="documents is empty"):
        HybridRetriever(vectorstore=store, documents=[])
    with pytest.raises(ValidationError, match="repeats the id 'x'"):
        twice = [Document(id="x", page_content="a"), Document(id="x", page_content="b")]
        HybridRetriever(vectorstore=store, documents=twice)
    with pytest.raises(ValidationError, match="fetchk"):
        HybridRetriever(vectorstore=store, documents=corpus(), fetchk=3)
    with pytest.raises(ValidationError, match="rrf_k"):
        HybridRetriever(vectorstore=store, documents=corpus(), rrf_k=-1)
    with pytest.raises(ValueError, match="documents is empty"):
        HybridRetriever.from_documents([], AngleEmbeddings())


def test_corpus_without_any_token_still_retrieves_dense() -> None:
    docs = [Document(page_content="the and of"), Document(page_content="")]
    retriever = HybridRetriever(vectorstore=FixedStore(docs[::-1]), documents=docs, k=2)
    assert retriever.bm25_search("the", 5) == []
    assert [d.page_content for d in retriever.invoke("the")] == ["", "the and of"]


# ---------------------------------------------------------------------------------------------- Chroma + minilm


@pytest.mark.integration
def test_minilm_with_chroma(tmp_path: Any) -> None:
    from langchain_chroma import Chroma

    from retrievers.langchain import LangchainEmbedding

    embedding = LangchainEmbedding("minilm")
    store = Chroma(collection_name="hybrid", embedding_function=embedding, persist_directory=str(tmp_path))
    store.add_documents(corpus(), ids=["a", "b", "c", "d", "e"])
    retriever = HybridRetriever(vectorstore=store, documents=corpus(), k=2)  # BM25 copies without ids

    docs = retriever.invoke(Q_CODE)
    # BM25 ranks B first and B is among the dense candidates (the whole corpus), so B leads the fusion.
    assert docs[0].page_content == B
    assert docs[0].id == "b"
    assert docs[0].metadata["bm25_rank"] == 1
    assert docs[0].metadata["fused_score"] == pytest.approx(1 / 61 + 1 / (60 + docs[0].metadata["dense_rank"]))

    docs = asyncio.run(retriever.ainvoke(Q_PARAPHRASE))
    assert all(d.metadata["bm25_rank"] is None for d in docs)
    assert docs[0].page_content in {A, C}  # the router and the access point, not cats or the warranty
    assert [d.metadata["dense_rank"] for d in docs] == [1, 2]

    built = HybridRetriever.from_documents(
        corpus(), embedding, k=2, vectorstore_cls=Chroma,
        vectorstore_kwargs={"collection_name": "built", "persist_directory": str(tmp_path / "built")},
    )
    assert isinstance(built.vectorstore, Chroma)
    assert [d.page_content for d in built.invoke(Q_CODE)][0] == B
    assert {d.id for d in built.invoke(Q_CODE)} <= {d.id for d in built.documents}
