"""Embedding a chunk's context while storing the chunk itself, and re-embedding when that choice changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from transformers import AutoTokenizer

from ingest.contextual import contextual_text
from ingest.indexing import open_store
from ingest.pipeline import Ingestor
from tests.indexing_support import HashEmbeddings


def _context(text: str, metadata: dict) -> str:
    return contextual_text(Document(page_content=text, metadata=metadata))


def test_vectors_come_from_the_contextual_text_and_documents_stay_the_chunk(tmp_path: Path) -> None:
    embedding = HashEmbeddings()
    store = open_store(tmp_path / "db", "docs", embedding, embed_text=_context, max_batch_size=2)
    chunks = [
        Document(page_content=f"Paragraph {i}.", metadata={"source": "a.md", "title": "Guide", "heading": "Setup > Power", "chunk_index": i})
        for i in range(3)
    ]
    store.index_file("a.md", chunks)
    got = store.vector_store.get(include=["documents", "embeddings", "metadatas"])
    by_text = dict(zip(got["documents"], got["embeddings"], strict=True))
    assert sorted(by_text) == ["Paragraph 0.", "Paragraph 1.", "Paragraph 2."]
    for text, vector in by_text.items():
        assert np.allclose(vector, embedding.vector(f"Guide > Setup > Power\n\n{text}"), atol=1e-6)
    assert embedding.embedded == [f"Guide > Setup > Power\n\nParagraph {i}." for i in range(3)]


def test_changing_the_embedding_tag_re_embeds_unchanged_files(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\nSome text here.\n\nMore text there.\n")
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    embedding = HashEmbeddings()
    store = open_store(tmp_path / "db", "docs", embedding)
    first = Ingestor(store, tokenizer, chunk_size=8, chunk_overlap=2, max_tokens=64, chunk_metadata={"embedding": "m"}).ingest([tmp_path / "docs"])
    calls = len(embedding.embedded)
    same = Ingestor(store, tokenizer, chunk_size=8, chunk_overlap=2, max_tokens=64, chunk_metadata={"embedding": "m"}).ingest([tmp_path / "docs"])
    assert same.files_unchanged == 1 and len(embedding.embedded) == calls
    other = Ingestor(store, tokenizer, chunk_size=8, chunk_overlap=2, max_tokens=64, chunk_metadata={"embedding": "m+context"}).ingest([tmp_path / "docs"])
    assert other.files_ingested == 1
    assert other.chunks_added == first.chunks_added == other.chunks_deleted
    assert len(embedding.embedded) == 2 * calls
    metas = store.vector_store.get(include=["metadatas"])["metadatas"]
    assert {m["embedding"] for m in metas} == {"m+context"}
