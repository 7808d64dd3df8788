"""The whole ingest pipeline on a folder of real files: good ones, bad ones, changes, pruning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ingest.indexing import IndexStore, open_store
from ingest.loaders import open_file
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


def _manual(sections: int, edit: int | None = None) -> str:
    """A Markdown manual of ``sections`` sections of three paragraphs each; ``edit`` lengthens the middle
    paragraph of that section, which moves everything after it."""
    out = ["# Manual"]
    for s in range(sections):
        out.append(f"## Part {s}")
        for p in range(3):
            extra = " Since the last model, check the belt too." if (s, p) == (edit, 1) else ""
            out.append(f"Part {s} step {p}: oil the axle {'and wipe it ' * 3}weekly.{extra}")
    return "\n\n".join(out) + "\n"


def test_editing_one_paragraph_re_embeds_only_chunks_of_its_section(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    manual = docs / "manual.md"
    manual.write_text(_manual(8), encoding="utf-8")
    embedding = HashEmbeddings()
    store = _store(tmp_path, embedding)
    ingestor = Ingestor(store, tokenizer, chunk_size=64, chunk_overlap=0, max_tokens=96)
    first = ingestor.ingest([docs])
    before = store.vector_store.get(include=["metadatas", "documents", "embeddings"])
    old = {t: (m, list(v)) for t, m, v in zip(before["documents"], before["metadatas"], before["embeddings"], strict=True)}
    assert len(old) == first.chunks_added >= 16  # several chunks in every section, all distinct

    manual.write_text(_manual(8, edit=3), encoding="utf-8")
    embedding.calls.clear()
    report = ingestor.ingest([docs])

    after = store.vector_store.get(include=["metadatas", "documents", "embeddings"])
    new_texts = [t for t in after["documents"] if t not in old]
    assert report.files_ingested == 1 and report.chunks_added == len(embedding.embedded)
    assert sorted(embedding.embedded) == sorted(new_texts)  # only chunks whose text is new were embedded
    assert any("check the belt" in t for t in new_texts)
    edited_section = [m for m in after["metadatas"] if m["heading"] == "Manual > Part 3"]
    assert 1 <= len(new_texts) <= len(edited_section) < first.chunks_added / 4
    assert {m["heading"] for t, m in zip(after["documents"], after["metadatas"], strict=True) if t in new_texts} == {
        "Manual > Part 3"
    }
    assert report.chunks_deleted == len(old) - (len(after["ids"]) - len(new_texts))
    text = "\n\n".join(block.text for block in open_file(manual, source="manual.md").blocks)  # what offsets index
    moved = 0
    for doc, meta, vector in zip(after["documents"], after["metadatas"], after["embeddings"], strict=True):
        # Every chunk, re-embedded or not, points at where its text now is in the file.
        assert text[meta["start_index"] : meta["end_index"]] == doc
        assert meta["mtime"] == int(manual.stat().st_mtime)
        if doc in old:
            old_meta, old_vector = old[doc]
            assert list(vector) == old_vector
            moved += meta["start_index"] != old_meta["start_index"]
    assert moved >= 4 * 3  # parts 4-7 moved and kept their vectors, with their new offsets written in place
    assert sorted(m["chunk_index"] for m in after["metadatas"]) == list(range(len(after["ids"])))


def test_repeated_text_in_a_file_keeps_every_copy(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("# A\n\nUnplug it first.\n\n# B\n\nOther.\n\n# A\n\nUnplug it first.\n", encoding="utf-8")
    store = _store(tmp_path, HashEmbeddings())
    Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=0, max_tokens=64).ingest([docs])
    assert _chunk_texts(store).count("Unplug it first.") == 2


def _chunk_texts(store: IndexStore) -> list[str]:
    return store.vector_store.get(include=["documents"])["documents"]


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

    # With the password the encrypted PDF loads.
    ok = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64, pdf_password="pw").ingest([docs])
    assert "locked.pdf" not in {f.source for f in ok.files_failed}
    assert "locked.pdf" in _indexed(store)


@pytest.mark.parametrize("corruption", [b"\x00\x01\x02" * 100, b"   \n\n  "])  # binary junk; no text at all
def test_a_file_that_turns_bad_keeps_its_last_good_version_until_fixed(
    tmp_path: Path, tokenizer, corruption: bytes  # noqa: ANN001
) -> None:
    docs = _folder(tmp_path)
    store = _store(tmp_path, HashEmbeddings())
    ingestor = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64)
    ingestor.ingest([docs])
    good = sorted(_chunk_texts_of(store, "notes.txt"))
    assert good and all("notes" in text for text in good)

    (docs / "notes.txt").write_bytes(corruption)  # e.g. a sync client mid-write
    broken = ingestor.ingest([docs])
    failure = next(f for f in broken.files_failed if f.source == "notes.txt")
    assert failure.kept_previous and broken.chunks_deleted == 0
    assert sorted(_chunk_texts_of(store, "notes.txt")) == good  # still retrievable
    assert {"source": "notes.txt", "error": failure.error, "kept_previous": True} in broken.to_json()["files_failed"]
    again = ingestor.ingest([docs])  # still broken: tried again, still kept
    assert [f.kept_previous for f in again.files_failed if f.source == "notes.txt"] == [True]

    (docs / "notes.txt").write_text("Fixed notes, one paragraph.\n", encoding="utf-8")
    fixed = ingestor.ingest([docs])
    assert fixed.files_failed == [] and fixed.files_ingested == 1
    assert _chunk_texts_of(store, "notes.txt") == ["Fixed notes, one paragraph."]

    # A file that never loaded has nothing to keep; a deleted one is still pruned.
    (docs / "new.txt").write_bytes(corruption)
    assert [f.kept_previous for f in ingestor.ingest([docs]).files_failed] == [False]
    (docs / "notes.txt").unlink()
    (docs / "new.txt").unlink()
    assert "notes.txt" in _indexed(store)  # without --prune a deleted file stays
    ingestor.ingest([docs], prune=True)
    assert "notes.txt" not in _indexed(store)


def _chunk_texts_of(store: IndexStore, source: str) -> list[str]:
    return store.vector_store.get(where={"source": source}, include=["documents"])["documents"]


def test_json_report_has_the_documented_keys(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _folder(tmp_path)
    (docs / "empty.txt").write_bytes(b"")
    report = Ingestor(_store(tmp_path, HashEmbeddings()), tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64).ingest([docs])
    data = report.to_json()
    assert list(data) == ["files_ingested", "files_unchanged", "files_failed", "files_pruned", "chunks_added",
                          "chunks_deleted", "chunks_total", "root", "files"]
    assert data["files_failed"] == [{"source": "empty.txt", "error": report.files_failed[0].error, "kept_previous": False}]
    assert data["files_ingested"] == 4 and data["chunks_total"] == data["chunks_added"]
    assert data["files_pruned"] == 0 and data["root"] == docs.as_posix()
    added = {"guide.md": 2, "notes.txt": 2, "page.html": 1, "sub/handbook.pdf": 16}
    assert data["files"] == [
        {"source": "empty.txt", "status": "failed", "chunks_added": 0, "chunks_deleted": 0, "warnings": [],
         "error": "empty file"},
        *({"source": s, "status": "ingested", "chunks_added": added[s], "chunks_deleted": 0, "warnings": [], "error": None}
          for s in ("guide.md", "notes.txt", "page.html", "sub/handbook.pdf")),
    ]
    assert sum(added.values()) == data["chunks_added"]
