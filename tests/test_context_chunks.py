"""The generator's context widened by the chunks around each passage (``generator.context_chunks``): overlap
written once, only the passage's section, stopping at gaps; the chain and the pipeline pass the wider text to
the answer while scores and citations stay the passage's."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever

from rag_app.chain import build_chain
from rag_app.context import join_chunks, with_neighbours

TEXT = ("Open the lid. Remove the filter. Rinse the filter in warm water. Let it dry for an hour. "
        "Put the filter back and close the lid.")


def chunk(index: int, start: int, end: int, heading: str = "Care > Filter", source: str = "guide.md") -> Document:
    return Document(TEXT[start:end], metadata={"source": source, "heading": heading, "chunk_index": index,
                                               "start_index": start, "end_index": end})


# Overlapping chunks of TEXT as a chunker makes them: each starts a few characters before the previous ends.
CHUNKS = [chunk(0, 0, 47), chunk(1, 31, 89), chunk(2, 64, len(TEXT))]


def fetch_from(chunks: Sequence[Document]):
    calls: list[tuple[str, list[int]]] = []

    def fetch(source: str, indices: Sequence[int]) -> list[Document]:
        calls.append((source, list(indices)))
        return [c for c in chunks if c.metadata["source"] == source and c.metadata["chunk_index"] in indices]

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


def test_join_writes_each_overlap_once():
    assert join_chunks(CHUNKS) == TEXT


def test_join_without_offsets_keeps_both_texts_apart():
    a, b = Document("First part."), Document("Second part.")
    assert join_chunks([a, b]) == "First part.\n\nSecond part."


def test_a_passage_gets_its_neighbours_and_keeps_its_own_metadata():
    passage = CHUNKS[1].model_copy(update={"metadata": {**CHUNKS[1].metadata, "relevance_score": 0.7}})
    fetch = fetch_from(CHUNKS)
    [wide] = with_neighbours([passage], fetch, 1)
    assert wide.page_content == TEXT
    assert wide.metadata["relevance_score"] == 0.7 and wide.metadata["chunk_index"] == 1
    assert wide.metadata["context_chunks"] == "0-2"
    assert fetch.calls == [("guide.md", [0, 2])]


def test_only_the_passage_section_is_added_and_a_gap_stops_the_widening():
    other_section = [chunk(0, 0, 47, heading="Care > Lid"), CHUNKS[1], CHUNKS[2]]
    [wide] = with_neighbours([CHUNKS[1]], fetch_from(other_section), 1)
    assert wide.page_content == TEXT[31:]
    assert wide.metadata["context_chunks"] == "1-2"
    # chunk 3 is missing: with n = 2 the widening after chunk 1 stops at chunk 2, before the gap
    [wide] = with_neighbours([CHUNKS[0]], fetch_from([CHUNKS[0], CHUNKS[1], chunk(3, 64, len(TEXT))]), 2)
    assert wide.page_content == TEXT[:89]


def test_zero_and_passages_without_positions_are_left_alone():
    plain = Document("A passage from a retriever that knows no chunk index.", metadata={"source": "x.md"})
    assert with_neighbours([CHUNKS[1]], fetch_from(CHUNKS), 0) == [CHUNKS[1]]
    assert with_neighbours([plain], fetch_from(CHUNKS), 1) == [plain]


class Fixed(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [doc.model_copy(deep=True) for doc in self.documents]


def test_the_chain_answers_from_the_widened_text():
    """The matching chunk names the filter; the step that answers ("an hour") is only in the next chunk."""
    passage = CHUNKS[0].model_copy(update={"metadata": {**CHUNKS[0].metadata, "relevance_score": 0.9}})
    llm = GenericFakeChatModel(messages=iter([AIMessage("unused")]))
    question = "How long must the filter dry after rinsing?"
    narrow = build_chain(Fixed(documents=[passage]), llm, answer_mode="extract").invoke({"question": question})
    wide = build_chain(Fixed(documents=[passage]), llm, answer_mode="extract",
                       context=lambda docs: with_neighbours(docs, fetch_from(CHUNKS), 1)).invoke({"question": question})
    assert "an hour" not in narrow["answer"]
    assert wide["sources"][0]["text"] == TEXT[:89].rstrip()
    assert "Let it dry for an hour." in wide["answer"] and wide["sources"][0]["score"] == 0.9


def test_neighbours_come_from_chroma_by_source_and_index():
    """Through a real Chroma collection: chunks of the named source and indices only."""
    import uuid

    from langchain_chroma import Chroma
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag_app.context import chroma_chunks

    store = Chroma(collection_name=f"t{uuid.uuid4().hex}", embedding_function=DeterministicFakeEmbedding(size=8))
    other = chunk(2, 64, len(TEXT), source="other.md")
    store.add_documents([*CHUNKS, other], ids=["a0", "a1", "a2", "b2"])
    got = chroma_chunks(store)("guide.md", [0, 2])
    assert sorted((d.metadata["source"], d.metadata["chunk_index"], d.page_content) for d in got) == [
        ("guide.md", 0, CHUNKS[0].page_content), ("guide.md", 2, CHUNKS[2].page_content)]
    assert chroma_chunks(store)("guide.md", []) == []
