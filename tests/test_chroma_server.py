"""The index through a real Chroma server: ``chroma run`` on 127.0.0.1, reached with ``HttpClient``.

One server per module (it starts in about a second); each test uses its own collection. The server is
always stopped by the fixture's finaliser, whatever the tests do.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from ingest.indexing import IndexingError, open_store
from tests.indexing_support import (
    HashEmbeddings,
    bookkeeping,
    chunk_text,
    ingest_folder,
    snapshot,
    write_corpus,
)

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    path: Path

    def client(self) -> chromadb.ClientAPI:
        return chromadb.HttpClient(
            host=self.host, port=self.port, settings=Settings(anonymized_telemetry=False)
        )


def chroma_executable() -> str:
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.is_file() else shutil.which("chroma")
    if found is None:
        pytest.fail("the `chroma` command (installed with chromadb) is not in the virtual environment")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("chroma-server")
    data, log_path = root / "data", root / "server.log"
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [chroma_executable(), "run", "--path", str(data), "--host", HOST, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        running = Server(HOST, port, data)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"chroma run exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                client = running.client()
                client.heartbeat()
                client.close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"chroma run did not answer in 60 s: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_ingest_through_the_server(server: Server, tmp_path: Path) -> None:
    folder, local = tmp_path / "docs", tmp_path / "db"
    write_corpus(folder, files=3, paragraphs=4)
    embedder = HashEmbeddings()
    with open_store(local, "served", embedder, host=server.host, port=server.port) as store:
        assert store.server == f"http://{HOST}:{server.port}"
        assert store.namespace == f"chroma/served@{HOST}:{server.port}"
        assert store.max_batch_size == store.vector_store.client.get_max_batch_size() > 0
        assert store.vector_store.collection.configuration_json["hnsw"]["space"] == "cosine"
        ingest_folder(store, folder)
        assert store.sources() == [("doc00.md", 4), ("doc01.md", 4), ("sub/doc02.md", 4)]
        assert store.count() == 12 and len(embedder.embedded) == 12
        served = snapshot(store)

    # The chunks are on the server; only the records are local.
    assert (local / "records.sqlite").is_file() and not (local / "chroma.sqlite3").exists()
    assert (server.path / "chroma.sqlite3").is_file()
    client = server.client()
    assert client.get_collection("served").count() == 12
    client.close()
    books = bookkeeping(local, namespace=f"chroma/served@{HOST}:{server.port}")
    assert set(books["records"]) == set(served) and len(books["files"]) == 3 and books["journal"] == []

    # Same chunks, same ids, same vectors as embedded Chroma.
    with open_store(tmp_path / "embedded", "served", HashEmbeddings()) as embedded:
        ingest_folder(embedded, folder)
        assert snapshot(embedded) == served

    embedder = HashEmbeddings()
    with open_store(local, "served", embedder, host=server.host, port=server.port) as store:
        assert set(ingest_folder(store, folder).values()) == {None}
        assert embedder.calls == [] and snapshot(store) == served

        (folder / "doc01.md").write_text("Changed.\n\nDocument 1 paragraph 0: lorem ipsum ")
        (folder / "sub" / "doc02.md").unlink()
        results = ingest_folder(store, folder)
        assert results["doc00.md"] is None
        # Paragraph 0 kept its text and moved down: it keeps its vector; only "Changed." is embedded.
        assert (results["doc01.md"].added, results["doc01.md"].skipped, results["doc01.md"].deleted) == (1, 1, 3)
        assert embedder.embedded == ["Changed."]
        assert store.sources() == [("doc00.md", 4), ("doc01.md", 2)]
        assert store.count() == 6


def test_a_failed_file_is_rolled_back_on_the_server(server: Server, tmp_path: Path) -> None:
    embedder = HashEmbeddings()
    with open_store(
        tmp_path / "db", "rollback", embedder, host=server.host, port=server.port, max_batch_size=3
    ) as store:
        store.index_file("ok.md", chunk_text("ok.md", "one\n\ntwo"))
        kept = snapshot(store)
        embedder.fail_on_call = len(embedder.calls) + 2
        with pytest.raises(IndexingError, match=r"^bad.md: EmbeddingFailure"):
            store.index_file("bad.md", chunk_text("bad.md", "\n\n".join(f"bad {i}" for i in range(8))))
        assert snapshot(store) == kept
        assert store.sources() == [("ok.md", 2)]
        assert store.journal.pending() == [] and store.journal.group_keys("bad.md") == []
