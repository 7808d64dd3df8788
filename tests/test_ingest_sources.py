"""Source names follow one rule (ingest.sources): the path relative to the collection root the first ingest
records, whatever folder or file a later command names; a file outside the root is its absolute path; the
same content under a second name is reported; an index written before roots were recorded keeps its names."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ingest.indexing import IndexStore, open_store
from ingest.pipeline import Ingestor
from ingest.sources import collection_root, infer_root, name_candidates, source_name
from tests.indexing_support import HashEmbeddings


@pytest.fixture()
def tokenizer(tiny_encoder_dir: Path):  # noqa: ANN201
    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


def _docs(root: Path) -> Path:
    docs = root / "docs"
    (docs / "misc").mkdir(parents=True)
    (docs / "guide.md").write_text("# Guide\n\nRun the installer and follow the steps.\n", encoding="utf-8")
    (docs / "misc" / "a.md").write_text("# Misc\n\nThe spare fuse is under the lid.\n", encoding="utf-8")
    return docs


def _store(root: Path) -> IndexStore:
    return open_store(root / "db", "docs", HashEmbeddings())


def _ingestor(store: IndexStore, tokenizer) -> Ingestor:  # noqa: ANN001
    return Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64)


def test_the_rule_by_hand(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    assert collection_root([docs]) == docs
    assert collection_root([docs / "misc" / "a.md"]) == docs / "misc"
    assert collection_root([docs / "misc", docs / "guide.md"]) == docs
    assert collection_root([tmp_path / "missing"]) is None
    assert source_name(docs / "misc" / "a.md", docs) == "misc/a.md"
    assert source_name(docs / "misc" / ".." / "guide.md", docs) == "guide.md"  # '..' folded
    assert source_name(tmp_path / "elsewhere.md", docs) == (tmp_path / "elsewhere.md").as_posix()
    # A symlinked root still names the files under its target the same way.
    (tmp_path / "link").symlink_to(docs)
    assert source_name(docs / "misc" / "a.md", tmp_path / "link") == "misc/a.md"
    assert name_candidates(str(docs / "misc" / "a.md"), docs)[:2] == [("misc/a.md", True),
                                                                       (str(docs / "misc" / "a.md")[1:], False)]
    assert name_candidates(str(docs / "misc" / "a.md"), None)[-2:] == [("misc/a.md", False), ("a.md", False)]
    assert infer_root(docs / "misc", {"guide.md", "misc/a.md"}) == docs
    assert infer_root(docs / "misc", {"/abs/x.md"}) == docs / "misc"


def test_the_same_file_reached_two_ways_is_one_source(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _docs(tmp_path)
    store = _store(tmp_path)
    ingestor = _ingestor(store, tokenizer)
    first = ingestor.ingest([docs])
    assert first.root == docs.as_posix() and store.root == docs
    assert [(f.source, f.status) for f in first.files] == [("guide.md", "ingested"), ("misc/a.md", "ingested")]

    # The file itself, its folder, a relative path with '..': the same source, unchanged.
    for given in (docs / "misc" / "a.md", docs / "misc", docs / "misc" / ".." / "misc" / "a.md"):
        again = ingestor.ingest([given])
        assert [(f.source, f.status) for f in again.files] == [("misc/a.md", "unchanged")], given
    assert dict(store.sources()).keys() == {"guide.md", "misc/a.md"}

    # An edit reached through the file alone replaces the same source's chunks.
    (docs / "misc" / "a.md").write_text("# Misc\n\nThe spare fuse is in the drawer now.\n", encoding="utf-8")
    edited = ingestor.ingest([docs / "misc" / "a.md"])
    assert [(f.source, f.status, f.chunks_deleted) for f in edited.files] == [("misc/a.md", "ingested", 1)]
    texts = store.vector_store.get(where={"source": "misc/a.md"}, include=["documents"])["documents"]
    assert texts == ["The spare fuse is in the drawer now."]
    assert store.root == docs  # a later ingest never moves the root


def test_a_file_outside_the_root_and_a_second_name_are_reported(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _docs(tmp_path)
    store = _store(tmp_path)
    ingestor = _ingestor(store, tokenizer)
    ingestor.ingest([docs])
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(docs / "misc" / "a.md", other / "a.md")
    (other / "b.md").write_text("# B\n\nSomething else entirely.\n", encoding="utf-8")

    report = ingestor.ingest([other])
    outside = (other / "a.md").as_posix()
    assert [(f.source, f.status, f.warnings) for f in report.files] == [
        (outside, "ingested", ["same content as 'misc/a.md', indexed under that name too: its text is in the index "
                               "twice (`rag-app remove` the name you do not want)"]),
        ((other / "b.md").as_posix(), "ingested", []),
    ]
    assert store.find_source(outside) == outside

    # Uploads are named by their file name, as files in the root: a copy of guide.md is one more name.
    upload = tmp_path / "db" / "uploads" / "20250101-000000-abcd" / "guide-copy.md"
    upload.parent.mkdir(parents=True)
    shutil.copy(docs / "guide.md", upload)
    uploaded = ingestor.ingest_files([(upload, "guide-copy.md")])
    assert [(f.source, f.status) for f in uploaded.files] == [("guide-copy.md", "ingested")]
    assert uploaded.files[0].warnings[0].startswith("same content as 'guide.md', indexed under that name too")
    assert store.find_source(str(upload), upload_folder=tmp_path / "db" / "uploads") == "guide-copy.md"


def test_find_source_takes_a_name_or_a_path(tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    docs = _docs(tmp_path)
    store = _store(tmp_path)
    _ingestor(store, tokenizer).ingest([docs])
    assert store.find_source("misc/a.md") == "misc/a.md"
    assert store.find_source(str(docs / "misc" / "a.md")) == "misc/a.md"
    monkeypatch.chdir(docs / "misc")
    assert store.find_source("a.md") == "misc/a.md"  # a relative path, from where the command runs
    assert store.find_source("../guide.md") == "guide.md"
    assert store.find_source(str(tmp_path / "nothing.md")) is None
    assert store.remove_source(store.find_source(str(docs / "misc" / "a.md"))) == 1
    assert dict(store.sources()).keys() == {"guide.md"}


def _write_old_index(tmp_path: Path, tokenizer, docs: Path) -> None:  # noqa: ANN001
    """An index as the code before roots wrote it: `ingest docs/` named files relative to docs, and
    `ingest docs/misc/a.md` named that file `a.md`; records.sqlite without the collection_info table."""
    store = _store(tmp_path)
    ingestor = _ingestor(store, tokenizer)
    ingestor.ingest_files([(docs / "guide.md", "guide.md"), (docs / "misc" / "a.md", "misc/a.md")])
    ingestor.ingest_files([(docs / "misc" / "a.md", "a.md")])
    assert store.root is None
    store.close()
    with sqlite3.connect(tmp_path / "db" / "records.sqlite") as conn:
        conn.execute("DROP TABLE collection_info")
    conn.close()


def test_an_index_with_the_old_names_keeps_working(tmp_path: Path, tokenizer) -> None:  # noqa: ANN001
    docs = _docs(tmp_path)
    _write_old_index(tmp_path, tokenizer, docs)

    store = _store(tmp_path)
    embedding = store.vector_store.embeddings
    assert store.root is None and dict(store.sources()).keys() == {"a.md", "guide.md", "misc/a.md"}
    # The first ingest after the upgrade names only the file, yet the root is found where the old names are.
    report = _ingestor(store, tokenizer).ingest([docs / "misc" / "a.md"])
    assert store.root == docs
    assert [(f.source, f.status) for f in report.files] == [("misc/a.md", "unchanged")]
    again = _ingestor(store, tokenizer).ingest([docs])
    assert [(f.source, f.status) for f in again.files] == [("guide.md", "unchanged"), ("misc/a.md", "unchanged")]
    assert embedding.calls == []  # nothing re-embedded

    # `remove` by path finds the old single-file name by its content, and the rule's name by the root.
    assert store.find_source("a.md") == "a.md"
    (docs / "elsewhere").mkdir()
    shutil.copy(docs / "misc" / "a.md", docs / "elsewhere" / "a.md")
    assert store.find_source(str(docs / "misc" / "a.md")) == "misc/a.md"
    store.remove_source("misc/a.md")
    assert store.find_source(str(docs / "misc" / "a.md")) == "a.md"  # trailing parts, same content
    (docs / "misc" / "a.md").write_text("changed", encoding="utf-8")
    assert store.find_source(str(docs / "misc" / "a.md")) is None  # trailing parts, other content: not it
    # --prune drops the old second name.
    (docs / "misc" / "a.md").write_text("# Misc\n\nThe spare fuse is under the lid.\n", encoding="utf-8")
    pruned = _ingestor(store, tokenizer).ingest([docs], prune=True)
    assert [(f.source, f.status) for f in pruned.files if f.status == "pruned"] == [("a.md", "pruned")]
    assert dict(store.sources()).keys() == {"elsewhere/a.md", "guide.md", "misc/a.md"}
