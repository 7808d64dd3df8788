"""``ingest --watch``: the debounce on a hand-driven clock, the walk's rules, and a real folder changed by real file
operations (create, modify, rename, delete, a file written in pieces, a folder moved in and removed) while the
watcher runs in a thread, with hash embeddings and the tiny tokenizer; then the command itself, stopped with
Ctrl-C (SIGINT), which must leave the db unlocked.

Timing is never asserted: each test polls the index for the state it expects, with a generous deadline."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ingest.claim import CLAIM_FILE
from ingest.indexing import IndexStore, open_store
from ingest.pipeline import FileReport, Ingestor
from ingest.watch import Scope, Settler, watch
from tests.indexing_support import HashEmbeddings

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0


def _until(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


# ---- the debounce, on a clock the test moves ----------------------------------------------------------------


def test_a_path_settles_only_after_its_size_and_time_stay_the_same_for_the_quiet_period() -> None:
    now = [100.0]
    seen: dict[str, tuple[str, int, int] | None] = {"a": ("file", 10, 1), "b": None}
    settler = Settler(1.0, clock=lambda: now[0], stat=lambda p: seen[p])
    settler.touch("a")
    settler.touch("b")  # deleted: settles like any other path, and is then found gone
    now[0] = 100.5
    seen["a"] = ("file", 20, 2)  # still being written
    assert settler.settled() == []
    now[0] = 101.2
    assert settler.settled() == ["b"]  # a changed at 100.5: it has been quiet for 0.7 s only
    now[0] = 101.4
    seen["a"] = ("file", 20, 3)  # same size, new time: still being written
    assert settler.settled() == []
    now[0] = 102.39
    assert settler.settled() == []
    now[0] = 102.4
    assert settler.settled() == ["a"] and len(settler) == 0
    assert settler.settled() == []  # forgotten until touched again
    settler.touch("a")
    now[0] = 103.4
    assert settler.settled() == ["a"]
    with pytest.raises(ValueError, match="quiet must be at least 0"):
        Settler(-1)


def test_the_scope_follows_the_walk_rules(tmp_path: Path) -> None:
    docs, db = tmp_path / "docs", tmp_path / "docs" / "index-db"
    scope = Scope([docs, tmp_path / "single.txt"], ("*.md", "guides/*.txt"), exclude=(db,))
    assert scope.covers_file(docs / "a.md") and scope.covers_file(docs / "sub" / "b.md")
    assert scope.covers_file(docs / "guides" / "c.txt") and not scope.covers_file(docs / "c.txt")
    assert not scope.covers_file(docs / ".hidden.md") and not scope.covers_file(docs / ".git" / "x.md")
    assert not scope.covers(db / "chroma.sqlite3") and not scope.covers_file(db / "x.md")
    assert scope.covers(docs / "sub") and scope.covers(docs / "gone-folder")  # folders: the glob is for files
    assert scope.covers_file(tmp_path / "single.txt")  # a watched file covers itself, glob or not
    assert not scope.covers(tmp_path / "other.md") and not scope.covers(tmp_path)


# ---- a real folder, a watcher in a thread ---------------------------------------------------------------------


class Watching:
    """A watcher over ``docs`` in a thread: a normal ingest from ``on_start``, then every change."""

    def __init__(self, store: IndexStore, ingestor: Ingestor, docs: Path, **options: object) -> None:
        self.store, self.ingestor, self.docs = store, ingestor, docs
        self.reports: list[FileReport] = []
        self.started, self.stop = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []

        def start() -> None:
            ingestor.ingest([docs], glob=options.get("glob", "*"))  # type: ignore[arg-type]
            self.started.set()

        def run() -> None:
            try:
                watch(ingestor, [docs], stop=self.stop, on_start=start, on_report=self.reports.append,
                      tick=0.05, **options)  # type: ignore[arg-type]
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        _until(lambda: self.started.is_set() or self.errors, "the first ingest")
        assert not self.errors, self.errors

    def sources(self) -> dict[str, int]:
        assert not self.errors, self.errors
        return dict(self.store.sources())

    def texts(self, source: str) -> list[str]:
        return list(self.store.vector_store.get(where={"source": source}, include=["documents"])["documents"])

    def reported(self, source: str, status: str) -> list[FileReport]:
        return [r for r in self.reports if r.source == source and r.status == status]

    def wait_for(self, source: str, status: str, what: str) -> FileReport:
        """The report of ``source`` with ``status``: made once the file's write is committed."""
        _until(lambda: self.reported(source, status) or self.errors, what)
        assert not self.errors, self.errors
        return self.reported(source, status)[0]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the watcher did not stop when asked"
        assert not self.errors, self.errors


@pytest.fixture()
def tokenizer(tiny_encoder_dir: Path):  # noqa: ANN201
    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


@pytest.fixture()
def watched(tmp_path: Path, tokenizer) -> Iterator[tuple[Watching, HashEmbeddings]]:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "alpha.md").write_text("# Alpha\n\nThe alpha pump moves water uphill.\n", encoding="utf-8")
    (docs / "bravo.txt").write_text("Bravo notes: the valve opens at two bar.\n\nSecond paragraph of bravo.\n",
                                    encoding="utf-8")
    embedding = HashEmbeddings()
    store = open_store(tmp_path / "db", "docs", embedding)
    ingestor = Ingestor(store, tokenizer, chunk_size=40, chunk_overlap=8, max_tokens=64)
    watching = Watching(store, ingestor, docs, glob=("*.md", "*.txt"), exclude=(tmp_path / "db",), quiet=0.6)
    try:
        yield watching, embedding
    finally:
        watching.close()
        store.close()


def test_the_index_follows_a_folder_as_files_are_created_changed_renamed_and_deleted(
    watched: tuple[Watching, HashEmbeddings], tmp_path: Path,
) -> None:
    w, embedding = watched
    docs = w.docs
    assert set(w.sources()) == {"alpha.md", "bravo.txt"}

    (docs / "charlie.md").write_text("# Charlie\n\nCharlie's kettle whistles.\n", encoding="utf-8")
    (docs / "ignored.html").write_text("<p>not matched by the globs</p>", encoding="utf-8")
    (docs / ".hidden.md").write_text("hidden files are skipped, as by a normal ingest", encoding="utf-8")
    charlie = w.wait_for("charlie.md", "ingested", "a new file to be ingested")
    assert charlie.chunks_added == w.sources()["charlie.md"] >= 1

    (docs / "alpha.md").write_text("# Alpha\n\nThe alpha pump was replaced by a siphon.\n", encoding="utf-8")
    w.wait_for("alpha.md", "ingested", "a changed file to be read again")
    assert any("siphon" in t for t in w.texts("alpha.md"))
    assert not any("uphill" in t for t in w.texts("alpha.md"))  # its old chunk is gone

    bravo = w.sources()["bravo.txt"]
    calls_before = len(embedding.embedded)
    (docs / "bravo.txt").rename(docs / "bravo-renamed.txt")
    assert w.wait_for("bravo-renamed.txt", "ingested", "a rename").chunks_added == bravo
    assert [r.chunks_deleted for r in w.reported("bravo.txt", "pruned")] == [bravo]  # removed first
    assert "bravo.txt" not in w.sources() and w.sources()["bravo-renamed.txt"] == bravo
    # What a rename costs: a chunk's id includes its source, so every chunk of the file is embedded again.
    assert len(embedding.embedded) - calls_before == bravo

    (docs / "charlie.md").unlink()
    assert w.wait_for("charlie.md", "pruned", "a deleted file to be removed").chunks_deleted == charlie.chunks_added
    assert "charlie.md" not in w.sources()

    # A file written in pieces, 0.1 s apart (well under the 0.6 s quiet period): ingested once, complete.
    with (docs / "slow.md").open("w", encoding="utf-8") as handle:
        for piece in range(6):
            handle.write(f"Piece {piece} of the slowly written manual about the delta turbine.\n\n")
            handle.flush()
            time.sleep(0.1)
    w.wait_for("slow.md", "ingested", "the file written in pieces")
    assert any("Piece 5" in t for t in w.texts("slow.md"))
    time.sleep(1.5)  # room for a second, wrong ingest to show up
    assert len(w.reported("slow.md", "ingested")) == 1 and len(w.reported("slow.md", "unchanged")) == 0

    # A folder moved in is read whole; removed, its sources go with it.
    outside = tmp_path / "incoming"
    (outside / "deep").mkdir(parents=True)
    (outside / "one.md").write_text("# One\n\nFirst file of the moved folder.\n", encoding="utf-8")
    (outside / "deep" / "two.txt").write_text("Second file of the moved folder.\n", encoding="utf-8")
    outside.rename(docs / "moved")
    for name in ("moved/one.md", "moved/deep/two.txt"):
        w.wait_for(name, "ingested", "a folder moved in")
    shutil.rmtree(docs / "moved")
    for name in ("moved/one.md", "moved/deep/two.txt"):
        w.wait_for(name, "pruned", "a removed folder's sources to go")

    assert set(w.sources()) == {"alpha.md", "bravo-renamed.txt", "slow.md"}  # nothing ignored or hidden came in
    assert not [r for r in w.reports if r.status in ("failed", "kept_previous")]


# ---- the command, stopped with Ctrl-C ---------------------------------------------------------------------------


def _lines(stream) -> queue.Queue:  # noqa: ANN001
    """The lines of ``stream`` as they come, then ``None`` at its end."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _rest(lines: queue.Queue) -> str:
    out = []
    while (line := lines.get(timeout=30)) is not None:
        out.append(line)
    return "".join(out)


def _wait_for(lines: queue.Queue, text: str, seen: list[str], process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            assert process.poll() is None, f"the watch ended early: {''.join(seen)}"
            assert time.monotonic() < deadline, f"no line with {text!r} in {''.join(seen)}"
            continue
        assert line is not None, f"the watch ended early: {''.join(seen)}"
        seen.append(line)
        if text in line:
            return


def test_ingest_watch_prints_one_line_per_change_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, tiny_encoder_dir: Path,
) -> None:
    docs, db = tmp_path / "docs", tmp_path / "db"
    docs.mkdir()
    (docs / "first.md").write_text("# First\n\nThe first note.\n", encoding="utf-8")
    config = tmp_path / "rag-app.toml"
    config.write_text(f'[index]\ndb = "{db}"\n[retrieval]\nembedder = "{tiny_encoder_dir}"\n'
                      '[ingest]\nchunk_size = 24\nchunk_overlap = 4\nwatch_debounce = 0.3\n', encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200",
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_app.cli", "--config", str(config), "ingest", str(docs), "--watch", "--json"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err, seen_out, seen_err = _lines(process.stdout), _lines(process.stderr), [], []
    try:
        _wait_for(err, "Watching", seen_err, process)
        first = json.loads(seen_out[0] if seen_out else out.get(timeout=10))
        assert first["files_ingested"] == 1 and first["files"][0]["source"] == "first.md"

        (docs / "second.md").write_text("# Second\n\nA note added while watching.\n", encoding="utf-8")
        _wait_for(out, '"second.md"', seen_out, process)
        change = json.loads(seen_out[-1])
        assert change["status"] == "ingested" and change["chunks_added"] >= 1
        (docs / "first.md").unlink()
        _wait_for(out, '"first.md"', seen_out, process)
        assert json.loads(seen_out[-1])["status"] == "pruned"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    said = "".join(seen_err) + _rest(err)
    assert code == 0, said
    assert "Stopped watching" in said and "Traceback" not in said

    # Nothing is left locked: a writer and a server could take the db now.
    for name, mode in (("ingest.lock", fcntl.LOCK_EX), (CLAIM_FILE, fcntl.LOCK_EX)):
        with open(db / name, "a+") as handle:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
    listed = subprocess.run([sys.executable, "-m", "rag_app.cli", "--config", str(config), "sources", "--json"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert [row["source"] for row in json.loads(listed.stdout)] == ["second.md"]
