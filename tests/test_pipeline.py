"""The whole ingest pipeline on a folder of real files: good ones, bad ones, changes, pruning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ingest.indexing import IndexStore, open_store
from ingest.pipeline import Ingestor
from tests.fixtures_docs import build_handbook_pdf, build_simple_pdf
from tests.indexing_support import HashEmbeddings

GOOD = {
    "guide.md": "# Guide\n\n## Install\n\nRun the installer and follow the steps.\n\n## Use\n\nOpen the app and pick a file.\n",
    "notes.txt": "First paragraph of notes.\n\nSecond paragraph of notes.\n",
    "page.html": "<html><head><title>Page</title></head><body><nav>Home | About</nav><main><h1>Title</h1>"
    "<p>Main text of the page.</p></main></body></html>",
}


@pytest.fixture()
def tokenizer(tiny_encoder_dir: Path):  # noqa: ANN201
    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


def _folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    for name, text in GOOD.items():
        (docs / name).write_text(text, encoding="utf-8")
    build_handbook_pdf(docs / "sub" / "handbook.pdf")
    return docs


def _store(root: Path, embedding: HashEmbeddings) -> IndexStore:
    return open_store(root / "db", "docs", embedding)


def _indexed(store: IndexStore) -> dict[str, int]:
    return dict(store.sources())


def test_ingest_then_reingest_unchanged_embeds_nothing(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _folder(tmp_path)
    embedding = HashEmbeddings()
    store = _store(tmp_path, embedding)
    report = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64).ingest([docs])
    assert report.files_failed == []
    assert (report.files_seen, report.files_ingested, report.files_unchanged) == (4, 4, 0)
    assert set(_indexed(store)) == {"guide.md", "notes.txt", "page.html", "sub/handbook.pdf"}
    assert report.chunks_added == report.chunks_total == store.count() > 4
    got = store.vector_store.get(include=["metadatas", "documents"])
    for meta, text in zip(got["metadatas"], got["documents"], strict=True):
        assert {"source", "chunk_index", "start_index", "end_index", "content_hash", "mtime"} <= set(meta)
        assert all(v is not None for v in meta.values())
        if meta["source"].endswith(".pdf"):
            assert meta["page"] >= 1
        assert "Home | About" not in text  # navigation dropped
    calls = len(embedding.calls)

    again = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64).ingest([docs])
    assert (again.files_ingested, again.files_unchanged, again.chunks_added, again.chunks_deleted) == (0, 4, 0, 0)
    assert len(embedding.calls) == calls
    # Other chunking settings make the same files stale: they are re-chunked and replaced.
    changed = Ingestor(store, tokenizer, chunk_size=20, chunk_overlap=4, max_tokens=64).ingest([docs])
    assert changed.files_ingested == 4 and changed.chunks_deleted > 0
    # Chunks identical under both settings are kept; every other old chunk is gone.
    assert changed.chunks_total == store.count() == changed.chunks_added + report.chunks_total - changed.chunks_deleted


def test_changed_file_is_replaced_and_prune_removes_deleted_files(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _folder(tmp_path)
    embedding = HashEmbeddings()
    store = _store(tmp_path, embedding)
    ingestor = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64)
    ingestor.ingest([docs])
    before = _indexed(store)

    (docs / "notes.txt").write_text("Only one new paragraph.\n", encoding="utf-8")
    os.utime(docs / "notes.txt", ns=(1, 1))
    embedding.calls.clear()
    report = ingestor.ingest([docs])
    assert (report.files_ingested, report.files_unchanged) == (1, 3)
    assert embedding.embedded == ["Only one new paragraph."]
    texts = store.vector_store.get(where={"source": "notes.txt"}, include=["documents"])["documents"]
    assert texts == ["Only one new paragraph."]

    (docs / "page.html").unlink()
    kept = ingestor.ingest([docs])
    assert "page.html" in _indexed(store) and kept.chunks_deleted == 0  # without --prune nothing is removed
    pruned = ingestor.ingest([docs], prune=True)
    assert pruned.chunks_deleted == before["page.html"]
    assert set(_indexed(store)) == {"guide.md", "notes.txt", "sub/handbook.pdf"}


def test_bad_files_are_reported_one_line_each_and_the_rest_is_ingested(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _folder(tmp_path)
    (docs / "empty.txt").write_bytes(b"")
    (docs / "junk.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    build_simple_pdf(docs / "locked.pdf", ["Secret text here."], user_password="pw")
    os.symlink(docs, docs / "sub" / "loop")
    store = _store(tmp_path, HashEmbeddings())
    report = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64).ingest([docs])
    failed = {f.source: f.error for f in report.files_failed}
    assert set(failed) == {"empty.txt", "junk.txt", "corrupt.pdf", "locked.pdf", "sub/loop"}
    assert all(reason and "\n" not in reason for reason in failed.values())
    assert "empty" in failed["empty.txt"]
    assert "password" in failed["locked.pdf"]
    assert "loop" in failed["sub/loop"]
    assert set(_indexed(store)) == {"guide.md", "notes.txt", "page.html", "sub/handbook.pdf"}
    assert report.files_ingested == 4 and not report.ok

    # With the password the encrypted PDF loads; a file that turns bad loses its old chunks.
    ok = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64, pdf_password="pw").ingest([docs])
    assert "locked.pdf" not in {f.source for f in ok.files_failed}
    assert "locked.pdf" in _indexed(store)
    (docs / "notes.txt").write_bytes(b"\x00\x01\x02" * 100)
    broken = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64, pdf_password="pw").ingest([docs])
    assert "notes.txt" in {f.source for f in broken.files_failed}
    assert "notes.txt" not in _indexed(store)


def test_json_report_has_the_documented_keys(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _folder(tmp_path)
    (docs / "empty.txt").write_bytes(b"")
    report = Ingestor(_store(tmp_path, HashEmbeddings()), tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64).ingest([docs])
    data = report.to_json()
    assert list(data) == ["files_ingested", "files_unchanged", "files_failed", "chunks_added", "chunks_deleted", "chunks_total"]
    assert data["files_failed"] == [{"source": "empty.txt", "error": report.files_failed[0].error}]
    assert data["files_ingested"] == 4 and data["chunks_total"] == data["chunks_added"]
