"""The embedded text of a chunk: title and heading path in front, shortened (never the chunk) to fit."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from transformers import AutoTokenizer

from ingest.chunking import chunk_file
from ingest.contextual import contextual_text, contextual_texts
from ingest.types import LoadedFile, TextBlock
from retrievers.model_names import resolve_model


@pytest.fixture(scope="module")
def minilm():
    return AutoTokenizer.from_pretrained(resolve_model("minilm").path)


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])


def test_title_and_heading_path_in_front():
    doc = Document("Run it.", metadata={"title": "Guide", "heading": "Setup > Linux"})
    assert contextual_text(doc) == "Guide > Setup > Linux\n\nRun it."
    assert doc.page_content == "Run it."  # the stored text stays the chunk


def test_missing_parts_are_left_out():
    assert contextual_text(Document("Run it.")) == "Run it."
    assert contextual_text(Document("Run it.", metadata={"title": "Guide"})) == "Guide\n\nRun it."
    assert contextual_text(Document("Run it.", metadata={"heading": "Setup"})) == "Setup\n\nRun it."


def test_fits_untouched_when_there_is_room(minilm):
    doc = Document("one two three.", metadata={"title": "guide", "heading": "setup > linux"})
    assert contextual_text(doc, minilm, 256) == "guide > setup > linux\n\none two three."


def test_outer_headings_go_first_then_the_title_then_words(minilm):
    chunk = " ".join(["word"] * 20)  # 20 tokens + [CLS] [SEP]
    doc = Document(chunk, metadata={"title": "guide", "heading": "one > two > three four five"})
    # Full context: guide > one > two > three four five = 9 tokens; with the chunk, 31.
    assert n_tokens(minilm, contextual_text(doc)) == 31
    assert contextual_text(doc, minilm, 31) == f"guide > one > two > three four five\n\n{chunk}"
    assert contextual_text(doc, minilm, 30) == f"guide > two > three four five\n\n{chunk}"
    assert contextual_text(doc, minilm, 28) == f"guide > three four five\n\n{chunk}"
    assert contextual_text(doc, minilm, 26) == f"three four five\n\n{chunk}"
    assert contextual_text(doc, minilm, 24) == f"three four\n\n{chunk}"
    assert contextual_text(doc, minilm, 23) == f"three\n\n{chunk}"
    assert contextual_text(doc, minilm, 22) == chunk
    assert contextual_text(doc, minilm, 10) == chunk  # the chunk alone is too long: never cut


def test_every_embedded_text_fits_and_ends_with_its_chunk(minilm):
    long_heading = " ".join(["section"] * 100)
    blocks = [TextBlock(" ".join(["alpha beta gamma."] * 300), (long_heading, "details"))]
    loaded = LoadedFile("g.md", "markdown", blocks, title="A rather long document title")
    docs = chunk_file(loaded, minilm, chunk_size=240, chunk_overlap=20, max_tokens=256)
    texts = contextual_texts(docs, minilm, 256)
    assert len(texts) == len(docs) > 3
    for doc, text in zip(docs, texts, strict=True):
        assert text.endswith("\n\n" + doc.page_content)
        assert n_tokens(minilm, text) <= 256
    assert texts[0].startswith("A rather long document title > details\n\n")


def test_tokenizer_and_max_tokens_go_together(minilm):
    with pytest.raises(ValueError, match="both tokenizer and max_tokens"):
        contextual_texts([Document("x")], minilm)
    with pytest.raises(ValueError, match="max_tokens must be an integer >= 1"):
        contextual_texts([Document("x")], minilm, 0)
