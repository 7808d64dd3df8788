"""The indexing layer: incremental indexing, batching, rollback of failed files, crash recovery.

Every test runs embedded Chroma in a temporary folder with :class:`HashEmbeddings`, which counts what
it embeds, so "embeds nothing" and "only the changed file is embedded" are asserted exactly. The crash
tests compare the whole final index (ids, texts, metadata, vectors) and its records with a clean
ingest into a fresh db.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import pytest
from chromadb.api.client import Client
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings
from langchain_core.documents import Document

from ingest.indexing import (
    FileResult,
    FileState,
    IndexingError,
    IndexStore,
    StoreError,
    file_fingerprint,
    open_store,
)
from tests.indexing_support import (
    COLLECTION,
    WORKER_BATCH,
    EmbeddingFailure,
    HashEmbeddings,
    bookkeeping,
    chunk_text,
    ingest_folder,
    snapshot,
    write_corpus,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


class Crash(BaseException):
    """Stands for the process dying: not an ``Exception``, so no rollback runs."""


def docs(source: str, texts: list[str]) -> list[Document]:
    return chunk_text(source, "\n\n".join(texts))


def ids_of(store: IndexStore, source: str) -> set[str]:
    return set(store.vector_store.collection.get(where={"source": source}, include=[])["ids"])


@pytest.fixture
def embedder() -> HashEmbeddings:
    return HashEmbeddings()


@pytest.fixture
def store(tmp_path: Path, embedder: HashEmbeddings):
    with open_store(tmp_path / "db", COLLECTION, embedder) as opened:
        yield opened


def clean_ingest(folder: Path, db_dir: Path) -> tuple[dict, dict]:
    """Snapshot and bookkeeping of one uninterrupted ingest of ``folder`` into a fresh db."""
    with open_store(db_dir, COLLECTION, HashEmbeddings()) as fresh:
        ingest_folder(fresh, folder)
        state = snapshot(fresh)
    return state, bookkeeping(db_dir)


def assert_same_index(db_dir: Path, store: IndexStore, folder: Path, tmp_path: Path) -> None:
    """``store`` (in ``db_dir``) holds exactly what one clean ingest of ``folder`` gives."""
    expected, expected_books = clean_ingest(folder, tmp_path / "clean-db")
    actual = snapshot(store)
    assert actual.keys() == expected.keys()
    assert actual == expected
    assert store.count() == len(expected)
    books = bookkeeping(db_dir)
    assert books == expected_books
    assert set(books["records"]) == set(actual)
    assert books["journal"] == []


# ---- opening ---------------------------------------------------------------------------------------


def test_open_store_lays_out_the_db_folder(tmp_path: Path, embedder: HashEmbeddings) -> None:
    db_dir = tmp_path / "nested" / "db"
    with open_store(db_dir, COLLECTION, embedder) as store:
        assert store.namespace == "chroma/docs"
        assert store.server is None
        assert store.count() == 0 and store.sources() == []
        assert store.vector_store.collection.configuration_json["hnsw"]["space"] == "cosine"
        assert store.max_batch_size == store.vector_store.client.get_max_batch_size() > 0
        assert store.vector_store.client.get_settings().anonymized_telemetry is False
        store.index_file("a.md", docs("a.md", ["alpha beta", "gamma delta"]))
        hits = store.vector_store.similarity_search_with_score("gamma delta", k=2)
        assert [doc.page_content for doc, _ in hits] == ["gamma delta", "alpha beta"]
        assert hits[0][1] == pytest.approx(0.0, abs=1e-5)  # cosine distance of the identical text
        other = HashEmbeddings().vector("alpha beta")
        cosine = sum(a * b for a, b in zip(other, HashEmbeddings().vector("gamma delta"), strict=True))
        assert hits[1][1] == pytest.approx(1.0 - cosine, abs=1e-5)
    assert (db_dir / "records.sqlite").is_file()
    assert (db_dir / "chroma.sqlite3").is_file()
    assert (db_dir / "ingest.lock").is_file()


def test_open_store_rejects_bad_arguments(tmp_path: Path, embedder: HashEmbeddings) -> None:
    with pytest.raises(ValueError, match="invalid collection name 'x'"):
        open_store(tmp_path, "x", embedder)
    with pytest.raises(ValueError, match="without host"):
        open_store(tmp_path, COLLECTION, embedder, port=8000)
    with pytest.raises(ValueError, match="max_batch_size must be a positive integer"):
        open_store(tmp_path, COLLECTION, embedder, max_batch_size=0)


def test_open_store_names_the_path_it_cannot_use(tmp_path: Path, embedder: HashEmbeddings) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(StoreError, match=rf"cannot create the db folder {not_a_folder}: FileExistsError"):
        open_store(not_a_folder, COLLECTION, embedder)
    (tmp_path / "db" / "records.sqlite").mkdir(parents=True)
    with pytest.raises(
        StoreError, match=rf"cannot open the ingest records {tmp_path / 'db' / 'records.sqlite'}"
    ):
        open_store(tmp_path / "db", COLLECTION, embedder)


def test_open_store_refuses_a_collection_in_another_space(tmp_path: Path, embedder: HashEmbeddings) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    client.create_collection("l2docs", configuration={"hnsw": {"space": "l2"}}, embedding_function=None)
    with pytest.raises(StoreError, match=rf"collection 'l2docs' in Chroma db {tmp_path} uses distance 'l2'"):
        open_store(tmp_path, "l2docs", embedder)


def test_open_store_names_an_unreachable_server(tmp_path: Path, embedder: HashEmbeddings) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match=rf"cannot reach the Chroma server at http://127.0.0.1:{port}"):
        open_store(tmp_path, COLLECTION, embedder, host="127.0.0.1", port=port)


# ---- incremental indexing --------------------------------------------------------------------------


def test_reindexing_unchanged_files_embeds_nothing(store: IndexStore, embedder: HashEmbeddings) -> None:
    files = {f"f{i}.md": docs(f"f{i}.md", [f"file {i} part {j}" for j in range(3)]) for i in range(3)}
    for source, chunks in files.items():
        assert store.index_file(source, chunks) == FileResult(
            source, added=3, updated=0, skipped=0, deleted=0
        )
    assert len(embedder.embedded) == 9
    before = snapshot(store)
    embedder.calls.clear()

    for source, chunks in files.items():
        result = store.index_file(source, chunks)
        assert result == FileResult(source, added=0, updated=0, skipped=3, deleted=0)
        assert result.unchanged
    assert embedder.calls == []
    assert snapshot(store) == before
    assert store.sources() == [("f0.md", 3), ("f1.md", 3), ("f2.md", 3)]
    assert store.count() == 9 == store.journal.record_count()


def test_changed_file_replaces_only_its_own_chunks(store: IndexStore, embedder: HashEmbeddings) -> None:
    store.index_file("a.md", docs("a.md", ["a one", "a two"]))
    store.index_file("b.md", docs("b.md", ["b one", "b two", "b three"]))
    a_before = {k: v for k, v in snapshot(store).items() if v[1]["source"] == "a.md"}
    b_before = ids_of(store, "b.md")
    embedder.calls.clear()

    # "b one" stays, "b three" moves up (same text: same id, kept, its position rewritten), "b two" goes,
    # "b four" is new: only "b four" is embedded.
    result = store.index_file("b.md", docs("b.md", ["b one", "b three", "b four"]))

    assert result == FileResult("b.md", added=1, updated=0, skipped=2, deleted=1)
    assert embedder.embedded == ["b four"]
    b_after = ids_of(store, "b.md")
    assert len(b_after & b_before) == 2 and len(b_after) == 3
    chunks = {d: meta for _id, (d, meta, _v) in snapshot(store).items() if meta["source"] == "b.md"}
    assert {d: meta["chunk_index"] for d, meta in chunks.items()} == {"b one": 0, "b three": 1, "b four": 2}
    assert chunks["b three"]["start_index"] == len("b one\n\n")
    assert {k: v for k, v in snapshot(store).items() if v[1]["source"] == "a.md"} == a_before
    assert set(store.journal.group_keys("b.md")) == b_after
    assert store.sources() == [("a.md", 2), ("b.md", 3)]


def test_a_file_with_no_chunks_left_is_removed(store: IndexStore) -> None:
    store.index_file("a.md", docs("a.md", ["a one", "a two"]))
    store.index_file("b.md", docs("b.md", ["b one"]))
    assert store.index_file("a.md", []) == FileResult("a.md", added=0, updated=0, skipped=0, deleted=2)
    assert store.sources() == [("b.md", 1)]
    assert store.journal.group_keys("a.md") == []


def test_remove_source_and_prune(store: IndexStore) -> None:
    for name in ("a.md", "b.md", "c.md", "d.md"):
        store.index_file(name, docs(name, [f"{name} one", f"{name} two"]))
        store.mark_file(name, size=1, mtime_ns=1, sha256="x")
    assert store.remove_source("b.md") == 2
    assert store.remove_source("b.md") == 0
    assert store.file_state("b.md") is None and store.journal.group_keys("b.md") == []
    assert store.sources() == [("a.md", 2), ("c.md", 2), ("d.md", 2)]

    assert store.stale_sources({"a.md"}) == ["c.md", "d.md"]
    assert store.prune({"a.md", "not-indexed.md"}) == 4
    assert store.sources() == [("a.md", 2)]
    assert store.count() == 2 == store.journal.record_count()
    assert store.known_sources() == {"a.md"}
    assert store.file_state("c.md") is None and store.file_state("a.md") is not None


def test_chunks_of_another_source_are_refused(store: IndexStore) -> None:
    with pytest.raises(ValueError, match=r"chunk 1 of 'a.md' has metadata source 'b.md'"):
        store.index_file("a.md", [*docs("a.md", ["one"]), *docs("b.md", ["two"])])
    assert store.count() == 0
    assert store.journal.pending() == []


def test_a_store_without_embedding_lists_and_removes_but_does_not_index(tmp_path: Path) -> None:
    with open_store(tmp_path, COLLECTION, HashEmbeddings()) as store:
        store.index_file("a.md", docs("a.md", ["one", "two"]))
    with open_store(tmp_path, COLLECTION, None) as store:
        assert store.sources() == [("a.md", 2)]
        with pytest.raises(ValueError, match=r"opened without an embedding: it cannot index 'b.md'"):
            store.index_file("b.md", docs("b.md", ["three"]))
        assert store.remove_source("a.md") == 2
        assert store.count() == 0


# ---- batches ---------------------------------------------------------------------------------------


def test_no_chroma_call_exceeds_the_max_batch_size(
    tmp_path: Path, embedder: HashEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Client, "get_max_batch_size", lambda self: 5)
    collection_type = Collection
    upserts: list[int] = []
    deletes: list[int] = []
    real_upsert, real_delete = collection_type.upsert, collection_type.delete

    def upsert(self, ids, *args, **kwargs):
        upserts.append(len(ids))
        return real_upsert(self, ids, *args, **kwargs)

    def delete(self, ids=None, *args, **kwargs):
        deletes.append(len(ids))
        return real_delete(self, ids, *args, **kwargs)

    monkeypatch.setattr(collection_type, "upsert", upsert)
    monkeypatch.setattr(collection_type, "delete", delete)

    with open_store(tmp_path, COLLECTION, embedder) as store:
        assert store.max_batch_size == 5
        chunks = docs("big.md", [f"paragraph {i}" for i in range(23)])
        assert store.index_file("big.md", chunks).added == 23
        assert upserts == [5, 5, 5, 5, 3]
        assert [len(call) for call in embedder.calls] == [5, 5, 5, 5, 3]  # one index() call: no re-embedding
        assert store.count() == 23 == store.journal.record_count("big.md")
        assert {d for d, _m, _v in snapshot(store).values()} == {f"paragraph {i}" for i in range(23)}

        embedder.calls.clear()
        assert store.index_file("big.md", chunks).skipped == 23
        assert embedder.calls == []

        replacement = docs("big.md", [f"new paragraph {i}" for i in range(12)])
        assert store.index_file("big.md", replacement) == FileResult("big.md", 12, 0, 0, 23)
        assert max(upserts) <= 5 and deletes and max(deletes) <= 5 and sum(deletes) == 23
        assert store.count() == 12
        assert store.sources() == [("big.md", 12)]  # read in pages of 5 as well

        deletes.clear()
        assert store.remove_source("big.md") == 12
        assert deletes == [5, 5, 2]


# ---- failures --------------------------------------------------------------------------------------


def test_a_failed_file_leaves_nothing_and_keeps_the_others(tmp_path: Path) -> None:
    embedder = HashEmbeddings()
    with open_store(tmp_path / "db", COLLECTION, embedder, max_batch_size=5) as store:
        store.index_file("ok.md", docs("ok.md", ["kept one", "kept two"]))
        kept = snapshot(store)
        embedder.fail_on_call = len(embedder.calls) + 2  # the 2nd sub-batch of the next file

        with pytest.raises(IndexingError) as failure:
            store.index_file(
                "bad.md", docs("bad.md", [f"bad {i}" for i in range(12)]), stamp=FileState(1, 1, "x")
            )

        assert failure.value.source == "bad.md"
        assert failure.value.reason == "EmbeddingFailure: embedding call 3 failed"
        assert isinstance(failure.value.__cause__, EmbeddingFailure)
        assert snapshot(store) == kept  # the first sub-batch of bad.md, already in Chroma, is gone
        assert store.sources() == [("ok.md", 2)]
        assert store.journal.group_keys("bad.md") == []
        assert store.file_state("bad.md") is None
        assert store.journal.pending() == []

        embedder.fail_on_call = None
        assert store.index_file("bad.md", docs("bad.md", [f"bad {i}" for i in range(12)])).added == 12
        assert store.sources() == [("bad.md", 12), ("ok.md", 2)]


def test_a_failed_change_keeps_the_previous_version(tmp_path: Path) -> None:
    embedder = HashEmbeddings()
    with open_store(tmp_path / "db", COLLECTION, embedder, max_batch_size=3) as store:
        store.index_file("a.md", docs("a.md", [f"old {i}" for i in range(4)]))
        before = snapshot(store)
        embedder.fail_on_call = len(embedder.calls) + 2
        with pytest.raises(IndexingError, match=r"^a.md: EmbeddingFailure"):
            store.index_file("a.md", docs("a.md", [f"new {i}" for i in range(7)]))
        assert snapshot(store) == before
        assert set(store.journal.group_keys("a.md")) == set(before)


def test_a_chroma_error_is_an_indexing_error(store: IndexStore) -> None:
    chunk = Document("text", metadata={"source": "a.md", "bad": {"nested": "dict"}})
    with pytest.raises(IndexingError, match=r"^a.md: ValueError: .*metadata") as failure:
        store.index_file("a.md", [chunk])
    assert isinstance(failure.value.__cause__, ValueError)
    assert store.count() == 0 and store.journal.pending() == []


# ---- file states -----------------------------------------------------------------------------------


def test_file_states_let_unchanged_files_be_skipped(store: IndexStore, tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("one\n\ntwo")
    assert not store.is_unchanged("a.md", path)
    stamp = file_fingerprint(path)
    store.index_file("a.md", chunk_text("a.md", path.read_text()), stamp=stamp, settings="chunk=200")
    assert store.file_state("a.md") == FileState(stamp.size, stamp.mtime_ns, stamp.sha256, 2, "chunk=200")
    assert store.is_unchanged("a.md", path, settings="chunk=200")
    assert not store.is_unchanged("a.md", path, settings="chunk=100")

    os.utime(path, ns=(stamp.mtime_ns + 10**9, stamp.mtime_ns + 10**9))  # touched, same bytes
    assert store.is_unchanged("a.md", path, settings="chunk=200")
    assert store.file_state("a.md").mtime_ns == stamp.mtime_ns + 10**9

    path.write_text("one\n\nTWO")  # same size, new bytes
    assert not store.is_unchanged("a.md", path, settings="chunk=200")

    store.mark_file("a.md", size=5, mtime_ns=7, sha256="abc")
    assert store.file_state("a.md") == FileState(5, 7, "abc", 2, "")
    store.mark_file("a.md", size=5, mtime_ns=7, sha256="abc", chunks=9)
    assert store.file_state("a.md").chunks == 9
    store.index_file("a.md", chunk_text("a.md", path.read_text()))  # no stamp: the old state is void
    assert store.file_state("a.md") is None


def test_reingesting_a_folder_embeds_nothing_and_loads_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write_corpus(folder, files=4, paragraphs=3)
    embedder = HashEmbeddings()
    with open_store(tmp_path / "db", COLLECTION, embedder) as store:
        first = ingest_folder(store, folder)
        assert all(result is not None and result.added == 3 for result in first.values())
        embedder.calls.clear()
        second = ingest_folder(store, folder)
        assert second == dict.fromkeys(first)  # every file skipped on its stat, before loading
        assert embedder.calls == []
        assert store.count() == 12


# ---- crash recovery, in process --------------------------------------------------------------------


def crash_on(
    monkeypatch: pytest.MonkeyPatch, target: object, name: str, *, when=lambda *a, **k: True
) -> None:
    real = getattr(target, name)

    def crashing(*args, **kwargs):
        if when(*args, **kwargs):
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, crashing)


def test_crash_after_chroma_write_before_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, db_dir = tmp_path / "docs", tmp_path / "db"
    write_corpus(folder, files=3, paragraphs=4)
    store = open_store(db_dir, COLLECTION, HashEmbeddings(), max_batch_size=3)
    crash_on(monkeypatch, store.journal, "update", when=lambda keys, **kw: kw.get("group_ids") is not None)
    with pytest.raises(Crash):
        ingest_folder(store, folder)
    assert store.count() == 3 and store.journal.record_count() == 0  # the first batch: orphans in Chroma
    store.close()

    # The file changes before the rerun: its orphans would never be cleaned up without the journal.
    (folder / "doc00.md").write_text("Document 0 rewritten.\n\nWith two paragraphs only.")
    with open_store(db_dir, COLLECTION, HashEmbeddings()) as store:
        assert store.count() == 0
        ingest_folder(store, folder)
        assert_same_index(db_dir, store, folder, tmp_path)


def test_crash_between_cleanup_deletes_then_file_reverted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, db_dir = tmp_path / "docs", tmp_path / "db"
    write_corpus(folder, files=2, paragraphs=4)
    original = (folder / "doc01.md").read_text()
    with open_store(db_dir, COLLECTION, HashEmbeddings()) as store:
        ingest_folder(store, folder)
    (folder / "doc01.md").write_text(original.replace("paragraph 3", "paragraph three"))

    store = open_store(db_dir, COLLECTION, HashEmbeddings())
    crash_on(monkeypatch, store.journal, "delete_keys")  # Chroma deleted the old chunks, the records not
    with pytest.raises(Crash):
        ingest_folder(store, folder)
    store.close()

    (folder / "doc01.md").write_text(original)  # back to the version whose state was recorded
    with open_store(db_dir, COLLECTION, HashEmbeddings()) as store:
        ingest_folder(store, folder)
        assert_same_index(db_dir, store, folder, tmp_path)


def test_crash_before_the_file_state_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, db_dir = tmp_path / "docs", tmp_path / "db"
    write_corpus(folder, files=2, paragraphs=3)
    store = open_store(db_dir, COLLECTION, HashEmbeddings())
    crash_on(monkeypatch, store.journal, "finish")
    with pytest.raises(Crash):
        ingest_folder(store, folder)
    store.close()

    embedder = HashEmbeddings()
    with open_store(db_dir, COLLECTION, embedder) as store:
        assert store.file_state("doc00.md") is None  # forgotten: the file is indexed again...
        ingest_folder(store, folder)
        assert [text[:11] for text in embedder.embedded] == ["Document 1 "] * 3  # ...without re-embedding
        assert_same_index(db_dir, store, folder, tmp_path)


def test_crash_during_remove_source_is_finished_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_dir = tmp_path / "db"
    store = open_store(db_dir, COLLECTION, HashEmbeddings(), max_batch_size=2)
    store.index_file("a.md", docs("a.md", ["a1", "a2", "a3"]))
    store.index_file("b.md", docs("b.md", ["b1"]))
    store.mark_file("a.md", size=1, mtime_ns=1, sha256="x")
    real_delete = store.vector_store.delete

    def delete_first_batch_then_die(ids=None, **kwargs):
        real_delete(ids[:2])
        raise Crash("delete")

    monkeypatch.setattr(store.vector_store, "delete", delete_first_batch_then_die)
    with pytest.raises(Crash):
        store.remove_source("a.md")
    assert store.count() == 2  # one chunk of a.md left behind, its records and state still there
    store.close()

    with open_store(db_dir, COLLECTION, HashEmbeddings()) as store:
        assert store.sources() == [("b.md", 1)]
        assert store.journal.group_keys("a.md") == [] and store.file_state("a.md") is None
        assert bookkeeping(db_dir)["journal"] == []


def test_an_emptied_collection_resets_the_records(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    with open_store(db_dir, COLLECTION, HashEmbeddings()) as store:
        store.index_file("a.md", docs("a.md", ["a1", "a2"]))
        store.mark_file("a.md", size=1, mtime_ns=1, sha256="x")
        store.vector_store.client.delete_collection(COLLECTION)
    embedder = HashEmbeddings()
    with (
        pytest.warns(RuntimeWarning, match=r"lists 2 chunks"),
        open_store(db_dir, COLLECTION, embedder) as store,
    ):
        pass
    with open_store(db_dir, COLLECTION, embedder) as store:
        assert store.file_state("a.md") is None and store.journal.record_count() == 0
        assert store.index_file("a.md", docs("a.md", ["a1", "a2"])).added == 2


def test_writers_on_one_db_take_turns(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    with (
        open_store(db_dir, COLLECTION, HashEmbeddings()) as first,
        open_store(db_dir, COLLECTION, HashEmbeddings()) as second,
    ):
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (second.index_file("b.md", docs("b.md", ["b1"])), done.set())
        )
        with first._lock.hold():
            worker.start()
            assert not done.wait(0.5)  # blocked on the lock file while the first store writes
            first.index_file("a.md", docs("a.md", ["a1"]))
        worker.join(10)
        assert done.is_set()
        assert first.sources() == [("a.md", 1), ("b.md", 1)]


def test_record_times_strictly_increase(store: IndexStore) -> None:
    times = [store.journal.get_time() for _ in range(1000)]
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    store.journal.update(["k"], group_ids=["g"])
    assert store.journal.get_time() > max(times)


# ---- crash recovery, a real SIGKILL ----------------------------------------------------------------


def kill_worker_after(db_dir: Path, folder: Path, progress: Path, calls: int) -> None:
    """Start the worker and SIGKILL it when it is inside its ``calls``-th embedding call."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.indexing_support", str(db_dir), str(folder), str(progress)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = progress.read_text().split() if progress.exists() else []
            if "done" in lines or worker.poll() is not None:
                pytest.fail(f"worker ended before it was killed: {worker.communicate()[1].decode()[-2000:]}")
            if len(lines) >= calls:
                break
            time.sleep(0.005)
        else:
            pytest.fail("worker made no progress in 120 s")
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def left_behind(db_dir: Path) -> tuple[list[tuple[str, str]], int, int]:
    """Journal rows, chunks in Chroma and records, read without repairing anything."""
    books = bookkeeping(db_dir)
    client = chromadb.PersistentClient(path=str(db_dir), settings=Settings(anonymized_telemetry=False))
    try:
        count = client.get_collection(COLLECTION).count()
    finally:
        client.close()
    return books["journal"], count, len(books["records"])


@pytest.mark.parametrize(
    ("kill_at_call", "change_folder"),
    [(5, False), (9, True)],
    ids=["kill-mid-file", "kill-mid-file-then-change-files"],
)
def test_sigkill_mid_ingest_then_rerun_equals_a_clean_ingest(
    tmp_path: Path, kill_at_call: int, change_folder: bool
) -> None:
    folder, db_dir = tmp_path / "docs", tmp_path / "db"
    write_corpus(folder, files=6, paragraphs=10)  # 3 embedding calls of <= 4 chunks per file
    kill_worker_after(db_dir, folder, tmp_path / "progress.txt", kill_at_call)

    journal, in_chroma, recorded = left_behind(db_dir)
    # Killed inside file (kill_at_call - 1) // 3 + 1, while embedding a batch after its first: each batch
    # of a file is written and recorded before the next is embedded, so that file is half in the index.
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.md"))
    interrupted = files[(kill_at_call - 1) // 3]
    assert journal == [(interrupted, "index")]
    assert in_chroma == recorded
    assert recorded == 10 * ((kill_at_call - 1) // 3) + WORKER_BATCH * ((kill_at_call - 1) % 3)

    if change_folder:
        (folder / interrupted).write_text("The interrupted file, rewritten.\n\nShorter now.")
        (folder / files[0]).write_text("A finished file, changed.\n\n" + (folder / files[0]).read_text())
        (folder / files[-1]).unlink()  # not reached by the worker
        (folder / "new.md").write_text("A file that was not there.")

    embedder = HashEmbeddings()
    with open_store(db_dir, COLLECTION, embedder) as store:
        ingest_folder(store, folder)
        assert_same_index(db_dir, store, folder, tmp_path)
        embedder.calls.clear()
        assert set(ingest_folder(store, folder).values()) == {None}
        assert embedder.calls == []


def test_streamed_chunks_are_written_in_batches_and_a_stream_error_rolls_back(tmp_path: Path) -> None:
    """index_file consumes a generator batch by batch; an error raised by the generator itself (a loader
    finding junk half-way through a streamed file) undoes this attempt and propagates unchanged."""

    class Junk(Exception):
        pass

    def stream(texts: list[str], fail_at: int | None = None):  # noqa: ANN202
        for i, doc in enumerate(docs("big.md", texts)):
            if i == fail_at:
                raise Junk("binary junk at byte 12345")
            yield doc

    embedder = HashEmbeddings()
    with open_store(tmp_path / "db", COLLECTION, embedder, max_batch_size=4) as store:
        old = [f"old {i}" for i in range(6)]
        assert store.index_file("big.md", stream(old)).added == 6
        before = snapshot(store)
        embedder.calls.clear()
        new = old[:3] + [f"new {i}" for i in range(8)]
        with pytest.raises(Junk, match="byte 12345"):
            store.index_file("big.md", stream(new, fail_at=9))
        assert max(len(call) for call in embedder.calls) <= 4
        assert snapshot(store) == before  # the new chunks written before the error are gone again
        assert store.journal.pending() == []

        embedder.calls.clear()
        result = store.index_file("big.md", stream(new))
        assert (result.added, result.skipped, result.deleted) == (8, 3, 3)
        assert sorted(embedder.embedded) == sorted(f"new {i}" for i in range(8))  # kept chunks not re-embedded
        assert store.sources() == [("big.md", 11)]
