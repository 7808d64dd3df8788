"""Two processes, one index: `rag-app serve` in one process while `rag-app ingest` runs in another.

- Embedded Chroma (the default): the server claims its db, so a plain `rag-app ingest` (or `remove`) from another
  process is refused with a message naming the server and `--server`; `rag-app ingest --server URL` ingests
  through it. A question asked while that ingest is held in the middle answers at once (from the index as it
  was), and once the ingest returns, the server finds the new chunks without a restart.
- A Chroma server (`chroma run`): both processes may write and read. A question asked while the other
  process's ingest is held mid-file answers at once without the half-written file; once it commits, the
  server's retriever (BM25 included: hybrid mode) follows within its refresh interval, without a restart.
- `rag-app serve --watch PATH`: the server follows a folder itself (and a watch from another process is refused).
- The claim itself, between two processes, and :meth:`Pipeline.refresh_if_changed` with hybrid retrieval.

The server runs `tests/serve_script.py` (the real `rag-app serve`, with a scripted generator and an ingest
that can be held); the tiny encoder embeds. No assertion is on speed: a step that waited for a held ingest
would hang until the test's timeout instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.claim import DbInUseError, check_not_served, claim_for_serving, claim_for_writing
from ingest.indexing import open_store
from ingest.pipeline import Ingestor
from tests.test_chroma_server import HOST, Server, free_port
from tests.test_chroma_server import server as chroma_server  # noqa: F401 - the module's `chroma run` fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
KETTLE = "# Kettle\n\n" + "\n\n".join(f"Kettle paragraph {i}: the kettle boils water in three minutes." for i in range(3))
ZEBRA = "# Zebra\n\n" + "\n\n".join(
    f"Zebra paragraph {i}: descale the zebra kettle with vinegar every month, then rinse it twice." for i in range(4))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200",
           "PYTHONPATH": str(ROOT), "RAG_TEST_STARTED": str(tmp_path / "started"),
           "RAG_TEST_RELEASE": str(tmp_path / "release")}
    for name in ("RAG_APP_API_TOKEN", "RAG_APP_SERVER__API_TOKEN"):
        env.pop(name, None)
    return env


def _config(tmp_path: Path, encoder: Path, *, mode: str = "dense", chroma: Server | None = None, ingest: str = "") -> Path:
    config = tmp_path / "rag-app.toml"
    index = f'db = "{tmp_path / "db"}"\n'
    if chroma is not None:
        index += f'chroma_host = "{chroma.host}"\nchroma_port = {chroma.port}\ncollection = "two-{tmp_path.name[-8:]}"\n'
    config.write_text(f'[index]\n{index}[retrieval]\nembedder = "{encoder}"\nmode = "{mode}"\nk = 20\ntop_n = 20\n'
                      'min_score = -inf\nreranker = ""\n[ingest]\nchunk_size = 24\nchunk_overlap = 4\n'
                      f'{ingest}[generator]\nanswer_mode = "extract"\n', encoding="utf-8")
    return config


def _rag_app(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag_app.cli", "--config", str(config), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180, check=False)


def _http(url: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _sources(answer: dict[str, Any]) -> set[str]:
    return {source["source"] for source in answer["sources"]}


def _wait_for(path: Path, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, f"{what} ended early: {process.communicate()}"
        assert time.monotonic() < deadline, f"{what} never got there"
        time.sleep(0.05)


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator:
    """Starts `rag-app serve` (tests/serve_script.py) with a config; yields its URL; stops it with SIGINT."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(config: Path, env: dict[str, str], *args: str) -> str:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "serve_script.py"), "--config",
                                        str(config), "serve", "--port", str(port), *args], env=env, cwd=ROOT,
                                       stdout=out, stderr=subprocess.STDOUT, text=True)
        started.append((process, log))
        url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"the server exited: {log.read_text()[-3000:]}"
            try:
                if _http(f"{url}/api/health", timeout=5)["status"] == "ok":
                    return url
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, f"the server did not start: {log.read_text()[-3000:]}"
            time.sleep(0.2)

    yield start
    for process, log in started:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"the server did not stop on SIGINT: {log.read_text()[-3000:]}")
        assert code == 0, log.read_text()[-3000:]


def test_an_embedded_db_served_is_ingested_through_the_server_and_questions_never_wait(
    tmp_path: Path, tiny_encoder_dir: Path, serve,  # noqa: ANN001
) -> None:
    env, config = _env(tmp_path), _config(tmp_path, tiny_encoder_dir)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(KETTLE, encoding="utf-8")
    first = _rag_app(config, "ingest", str(docs), "--json", env=env)
    assert first.returncode == 0, first.stderr
    url = serve(config, env)
    before = _http(f"{url}/api/health")["chunks"]
    assert before >= 2

    # Another process may not write the db the server holds; it is told how to.
    (docs / "held-zebra.md").write_text(ZEBRA, encoding="utf-8")
    refused = _rag_app(config, "ingest", str(docs), "--json", env=env)
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 1 and refused.stdout == "", refused.stderr
    assert "serves the embedded Chroma db" in said and f"rag-app ingest PATH --server {url}" in said
    assert "Traceback" not in refused.stderr and "Loading" not in refused.stderr  # refused before any model loads
    removed = _rag_app(config, "remove", "kettle.md", env=env)
    assert removed.returncode == 1 and f"--server {url}" in " ".join(removed.stderr.split())
    assert _http(f"{url}/api/health")["chunks"] == before  # nothing was written

    # Through the server: held in the middle, a question still answers at once, from the index as it was.
    writer = subprocess.Popen([sys.executable, "-m", "rag_app.cli", "--config", str(config), "ingest", str(docs),
                               "--server", url, "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(Path(env["RAG_TEST_STARTED"]), writer, "the ingest through the server")
        during = _http(f"{url}/api/ask", {"question": "How do I descale the zebra kettle?"})
        assert writer.poll() is None  # the ingest is still held: the answer did not wait for it
        assert _sources(during) == {"kettle.md"} and during["answer"]
        assert _http(f"{url}/api/health")["queue"] == {"pending": 0, "running": False}
    finally:
        Path(env["RAG_TEST_RELEASE"]).touch()
        out, err = writer.communicate(timeout=180)
    assert writer.returncode == 0, err
    report = json.loads(out)
    assert [(f["source"], f["status"]) for f in report["files"]] == [("held-zebra.md", "ingested"), ("kettle.md", "unchanged")]

    # No restart: the next question finds the new chunks.
    after = _http(f"{url}/api/ask", {"question": "How do I descale the zebra kettle?"})
    assert _sources(after) == {"kettle.md", "held-zebra.md"}
    assert _http(f"{url}/api/health")["chunks"] == before + report["chunks_added"]

    # The human report names the server's index.
    (docs / "held-zebra.md").unlink()
    Path(env["RAG_TEST_RELEASE"]).touch()
    pruned = _rag_app(config, "ingest", str(docs), "--server", url, "--prune", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "held-zebra.md" in pruned.stdout and "pruned" in pruned.stdout
    assert f"the index of the server at {url}" in " ".join(pruned.stdout.split())


def test_serve_watch_keeps_the_served_index_in_step_with_a_folder(
    tmp_path: Path, tiny_encoder_dir: Path, serve,  # noqa: ANN001
) -> None:
    env, config = _env(tmp_path), _config(tmp_path, tiny_encoder_dir, ingest="watch_debounce = 0.3\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(KETTLE, encoding="utf-8")
    url = serve(config, env, "--watch", str(docs))

    def sources() -> set[str]:
        return _sources(_http(f"{url}/api/ask", {"question": "How do I descale the zebra kettle?"}))

    deadline = time.monotonic() + 60
    while sources() != {"kettle.md"}:  # the first pass runs beside the server's start
        assert time.monotonic() < deadline, "the watch's first ingest never showed"
        time.sleep(0.2)
    (docs / "zebra.md").write_text(ZEBRA, encoding="utf-8")
    (docs / "kettle.md").unlink()
    while sources() != {"zebra.md"}:
        assert time.monotonic() < deadline + 60, "the server never followed the folder"
        time.sleep(0.2)
    watching = _rag_app(config, "ingest", str(docs), "--watch", env=env)  # the db is the server's
    assert watching.returncode == 1 and f"--server {url}" in " ".join(watching.stderr.split())


def test_with_a_chroma_server_the_server_follows_an_ingest_made_by_another_process(
    tmp_path: Path, tiny_encoder_dir: Path, serve, chroma_server: Server,  # noqa: ANN001, F811
) -> None:
    env, config = _env(tmp_path), _config(tmp_path, tiny_encoder_dir, mode="hybrid", chroma=chroma_server)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(KETTLE, encoding="utf-8")
    assert _rag_app(config, "ingest", str(docs), "--json", env=env).returncode == 0
    url = serve(config, env)
    before = _http(f"{url}/api/health")["chunks"]

    # Another process ingests into the same Chroma server; it stops in the middle of the new file.
    (docs / "zebra.md").write_text(ZEBRA, encoding="utf-8")
    writer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "slow_ingest_script.py"), "--config", str(config),
                               "ingest", str(docs), "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(Path(env["RAG_TEST_STARTED"]), writer, "the other process's ingest")
        during = _http(f"{url}/api/ask", {"question": "How do I descale the zebra kettle?"})
        assert writer.poll() is None
        assert _sources(during) == {"kettle.md"}  # the half-written file is not shown
    finally:
        Path(env["RAG_TEST_RELEASE"]).touch()
        out, err = writer.communicate(timeout=180)
    assert writer.returncode == 0, err
    added = json.loads(out)["chunks_added"]

    # The server follows (within its refresh interval, FOLLOW_INDEX_SECONDS), without a restart.
    deadline = time.monotonic() + 60
    while _http(f"{url}/api/health")["chunks"] != before + added:
        assert time.monotonic() < deadline, "the server never saw the other process's chunks"
        time.sleep(0.2)
    found = _http(f"{url}/api/ask", {"question": "How do I descale the zebra kettle?"})
    assert _sources(found) == {"kettle.md", "zebra.md"}
    assert any("vinegar" in source["text"] for source in found["sources"])


def test_the_claim_keeps_a_server_and_a_writer_of_another_process_apart(tmp_path: Path) -> None:
    db = tmp_path / "db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ingest.claim import claim_for_serving; "
         f"claim_for_serving({str(db)!r}, 'http://127.0.0.1:8123'); print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(DbInUseError, match=r"`rag-app serve` \(pid \d+, http://127.0.0.1:8123\) serves"):
            check_not_served(db, doing="this ingest")
        with pytest.raises(DbInUseError, match="--server http://127.0.0.1:8123"):
            open_store(db, "docs", None)
        with pytest.raises(DbInUseError, match="already serves"):
            claim_for_serving(db, "http://127.0.0.1:9999")
    finally:
        holder.kill()
        holder.wait()
    check_not_served(db)  # the OS dropped the dead server's lock; its server.json is ignored
    writing = claim_for_writing(db)
    with pytest.raises(DbInUseError, match="an ingest .* has .* open"):
        claim_for_serving(db, "http://127.0.0.1:9999")
    writing.release()
    serving = claim_for_serving(db, "http://127.0.0.1:9999")
    try:
        with open_store(db, "docs", None) as store:  # the server's own writer: same process, allowed
            assert store.count() == 0
    finally:
        serving.release()
    assert not (db / "server.json").exists()


def test_refresh_if_changed_rebuilds_bm25_after_another_writer_commits(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    from tests.server_support import make_pipeline

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text(KETTLE, encoding="utf-8")
    with make_pipeline(tmp_path / "db", tiny_encoder_dir) as pipeline:  # hybrid
        pipeline.ingest([docs])
        assert not pipeline.refresh_if_changed()  # nothing new since its own ingest's refresh
        count = pipeline.chunk_count
        (docs / "zebra.md").write_text(ZEBRA, encoding="utf-8")
        with open_store(tmp_path / "db", "docs", pipeline.reader.vector_store.embeddings) as other:  # another writer
            Ingestor(other, pipeline.embedder.tokenizer, chunk_size=48, chunk_overlap=4).ingest([docs])
        assert pipeline.chunk_count == count  # not yet: the retriever is as of the last refresh
        assert pipeline.refresh_if_changed()
        assert pipeline.chunk_count > count
        best = pipeline.retrieve("zebra vinegar descale", top_n=1)[0]
        assert best.metadata["source"] == "zebra.md" and best.metadata["bm25_rank"] == 1
        assert not pipeline.refresh_if_changed()
