"""Writes beside answers, in process: :meth:`ModelWorker.call` (an ingest's embedding batch on the model thread),
the route `POST /api/ingest/paths` and who may call it, and that an ingest's embedding runs on the model thread.
The real processes are in tests/test_two_processes.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag_app.config import load_settings
from rag_app.pipeline import EmbedOn, Pipeline
from rag_app.server import create_app
from rag_app.server.worker import ModelWorker, QueueFull
from tests.server_support import make_pipeline, write_documents

LOCAL = ("127.0.0.1", 50000)


@pytest.fixture(autouse=True)
def _no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_APP_API_TOKEN", raising=False)
    monkeypatch.delenv("RAG_APP_SERVER__API_TOKEN", raising=False)


def test_call_runs_on_the_worker_thread_past_a_full_backlog_and_at_once_from_inside() -> None:
    worker = ModelWorker(max_pending=1, name="rag-test")
    gate, names = threading.Event(), []
    try:
        blocking = worker._executor.submit(worker._wrap(lambda: gate.wait(30)))  # one job running...
        worker._reserve()  # ...counted: the backlog is full
        with pytest.raises(QueueFull):
            worker._reserve()
        got: list[str] = []
        caller = threading.Thread(target=lambda: got.append(worker.call(lambda: threading.current_thread().name)))
        caller.start()  # not refused: it is part of a job already admitted elsewhere
        gate.set()
        caller.join(30)
        assert got and got[0].startswith("rag-test") and blocking.result(30)
        # From the worker's own thread, call() runs at once (a queued call would wait for itself forever).
        assert worker._executor.submit(worker._wrap(lambda: worker.call(lambda: names.append(1)) or True)).result(30)
        assert names == [1]
    finally:
        worker.shutdown()


@pytest.fixture()
def served(tmp_path: Path, tiny_encoder_dir: Path) -> tuple[Pipeline, Path]:
    pipeline = make_pipeline(tmp_path / "db", tiny_encoder_dir)
    yield pipeline, write_documents(tmp_path / "docs")[0].parent
    pipeline.close()


def test_ingest_paths_reads_the_servers_files_for_local_callers_only(served, tmp_path: Path) -> None:  # noqa: ANN001
    pipeline, docs = served
    settings = load_settings(index={"db": tmp_path / "db"})
    threads: list[str] = []
    with TestClient(create_app(pipeline, settings, follow_index=None), client=LOCAL) as client:
        original = pipeline.run_model  # the app's model worker
        assert original is not None
        pipeline.run_model = lambda work: (threads.append(threading.current_thread().name), original(work))[1]
        refused = client.post("/api/ingest/paths", json={"paths": ["docs"]})
        assert refused.status_code == 422 and "must be absolute" in refused.json()["detail"]
        proxied = client.post("/api/ingest/paths", json={"paths": [str(docs)]}, headers={"X-Forwarded-For": "1.2.3.4"})
        assert proxied.status_code == 403 and "from that machine only" in proxied.json()["detail"]

        done = client.post("/api/ingest/paths", json={"paths": [str(docs)], "glob": ["*.md"]})
        assert done.status_code == 200, done.text
        body = done.json()
        assert [(f["source"], f["status"]) for f in body["files"]] == [("sensor.md", "ingested")]
        assert body["root"] == docs.as_posix() and body["uploads"] == []
        assert threads and all(name.startswith("rag-ingest") for name in threads)  # the writer thread asked...
        assert isinstance(pipeline._writer.vector_store.embeddings, EmbedOn)  # ...the model thread to embed
        assert client.get("/api/health").json()["chunks"] == body["chunks_total"]

        pruned = client.post("/api/ingest/paths", json={"paths": [str(docs)], "glob": ["*.txt"], "prune": True})
        assert {(f["source"], f["status"]) for f in pruned.json()["files"]} == {("kettle.txt", "ingested"),
                                                                                 ("sensor.md", "pruned")}
        pipeline.run_model = original
    assert pipeline.run_model is None  # the app is gone: the pipeline embeds in its caller's thread again

    with TestClient(create_app(pipeline, settings, follow_index=None)) as remote:  # not from loopback
        assert remote.post("/api/ingest/paths", json={"paths": [str(docs)]}).status_code == 403
