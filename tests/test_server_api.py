"""The HTTP API with FastAPI's TestClient: every /api route, its JSON, its errors (bad JSON, missing fields,
oversized or refused uploads, traversal names, wrong token, unknown source), the model queue (one generation at
a time, the event loop free meanwhile, 503 when full), CORS, the page, and the refusal to bind without a token.

The model is :class:`tests.server_support.ScriptedChat`, the index a tiny one with hash embeddings: no network,
no bundled model."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ingest.loaders import load_file
from ingest.pipeline import IngestReport
from rag_app.chain import NO_ANSWER, QUOTED_LABEL, SOURCE_FIELDS
from rag_app.config import Settings, load_settings
from rag_app.pipeline import Pipeline, build_pipeline
from rag_app.server import UnsafeBindError, check_bind, create_app
from rag_app.server.security import authorization_error
from rag_app.server.uploads import safe_filename
from rag_app.server.worker import ModelWorker
from tests import server_support
from tests.server_support import DOCUMENTS, REPLY, ScriptedChat, parse_sse

QUESTION = "Which batteries does the outdoor sensor take?"
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _no_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_APP_API_TOKEN", raising=False)
    monkeypatch.delenv("RAG_APP_SERVER__API_TOKEN", raising=False)


def _settings(tmp_path: Path, **server: object) -> Settings:
    return load_settings(index={"db": tmp_path / "db"}, server=server)


def make_pipeline(db: Path, encoder_dir: Path, llm: ScriptedChat | None = None, *, answer_mode: str = "generate",
                  **retrieval: object) -> Pipeline:
    """:func:`tests.server_support.make_pipeline` in ``answer_mode`` (``auto`` would be ``verified`` for the
    default generator settings; the tests of streaming and queueing read the model's tokens as they come)."""
    service = server_support.make_pipeline(db, encoder_dir, llm, **retrieval)
    service.settings.generator.answer_mode = answer_mode
    assert service.answer_mode == answer_mode
    return service


@pytest.fixture()
def service(tmp_path: Path, tiny_encoder_dir: Path) -> Pipeline:
    svc = make_pipeline(tmp_path / "db", tiny_encoder_dir)
    yield svc
    svc.close()


@pytest.fixture()
def client(tmp_path: Path, service: Pipeline) -> TestClient:
    with TestClient(create_app(service, _settings(tmp_path))) as test_client:
        yield test_client


def _files(documents: dict[str, str | bytes] = DOCUMENTS) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, text.encode() if isinstance(text, str) else text, "application/octet-stream"))
            for name, text in documents.items()]


def _uploaded(tmp_path: Path) -> list[Path]:
    root = tmp_path / "db" / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _ingest(client: TestClient, documents: dict[str, str | bytes] = DOCUMENTS, **kwargs: object):  # noqa: ANN202
    return client.post("/api/ingest", files=_files(documents), **kwargs)


# ---- ingest, sources, ask ------------------------------------------------------------------------------


def test_ingest_reports_like_the_cli_and_keeps_the_uploads(client: TestClient, service: Pipeline, tmp_path: Path) -> None:
    response = _ingest(client)
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) == set(IngestReport().to_json()) | {"uploads"}  # the keys of `rag-app ingest --json`
    assert report["files_ingested"] == 2 and report["files_unchanged"] == 0 and report["files_failed"] == []
    assert report["chunks_added"] == report["chunks_total"] == service.reader.count() > 2
    assert report["uploads"] == [{"filename": "sensor.md", "source": "sensor.md"},
                                 {"filename": "kettle.txt", "source": "kettle.txt"}]
    stored = _uploaded(tmp_path)
    assert [p.name for p in stored] == ["kettle.txt", "sensor.md"]
    assert stored[1].read_text() == DOCUMENTS["sensor.md"]

    sources = client.get("/api/sources").json()
    assert sources == [{"source": source, "chunks": count} for source, count in service.sources()]
    assert [s["source"] for s in sources] == ["kettle.txt", "sensor.md"]

    again = _ingest(client).json()  # the same bytes again: unchanged, nothing embedded, new copies kept
    assert (again["files_ingested"], again["files_unchanged"], again["chunks_added"]) == (0, 2, 0)
    assert len(_uploaded(tmp_path)) == 4


def test_ask_answers_from_the_uploaded_documents_in_the_cli_json(client: TestClient, service: Pipeline) -> None:
    before = client.post("/api/ask", json={"question": QUESTION})
    assert before.json() == {"answer": NO_ANSWER, "answer_mode": "generate", "standalone_question": QUESTION,
                             "sources": [], "citations": [], "unknown_citations": [], "fallback": None}
    assert service.llm.calls == []

    _ingest(client)
    answer = client.post("/api/ask", json={"question": QUESTION})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answer"] == REPLY
    assert [s["id"] for s in body["sources"]] == [1, 2]  # top_n = 2
    assert all(tuple(s) == SOURCE_FIELDS for s in body["sources"])
    assert body["sources"][0]["source"] == "sensor.md" and "batteries" in body["sources"][0]["text"]
    prompt = service.llm.calls[-1][-1].content  # the passages the model saw are the sources returned
    assert all(s["text"] in prompt for s in body["sources"])
    assert body["citations"] and all(set(c["ids"]) <= {1, 2} for c in body["citations"])  # as `ask --json`
    assert [c["supported"] for c in body["citations"]] == [True] and body["citations"][0]["reason"] is None
    assert body["answer_mode"] == "generate" and body["fallback"] is None

    one = client.post("/api/ask", json={"question": QUESTION, "top_n": 1}).json()
    assert len(one["sources"]) == 1 and one["sources"][0] == body["sources"][0]
    more = client.post("/api/ask", json={"question": QUESTION, "top_n": 6}).json()
    assert len(more["sources"]) == service.chunk_count == 4  # all four chunks, though 6 were asked for
    assert {s["source"] for s in more["sources"]} == {"sensor.md", "kettle.txt"}


def test_remove_a_source_and_unknown_sources(client: TestClient) -> None:
    _ingest(client, {**DOCUMENTS, "guides/setup notes.md": "# Setup\n\nPlug the sensor into the hub.\n"})
    assert "setup notes.md" in [s["source"] for s in client.get("/api/sources").json()]

    removed = client.delete("/api/sources/sensor.md")
    assert removed.status_code == 200 and removed.json()["source"] == "sensor.md"
    assert removed.json()["chunks_removed"] > 0
    spaced = client.delete("/api/sources/setup%20notes.md")
    assert spaced.status_code == 200 and spaced.json()["source"] == "setup notes.md"
    assert [s["source"] for s in client.get("/api/sources").json()] == ["kettle.txt"]
    answer = client.post("/api/ask", json={"question": QUESTION, "top_n": 6}).json()
    assert answer["sources"] and {s["source"] for s in answer["sources"]} == {"kettle.txt"}  # retriever rebuilt

    again = client.delete("/api/sources/sensor.md")
    assert again.status_code == 404
    assert again.json()["detail"] == "No chunks of 'sensor.md' in the index; GET /api/sources lists the indexed sources."
    nested = client.delete("/api/sources/manuals/old.pdf")
    assert nested.status_code == 404 and "'manuals/old.pdf'" in nested.json()["detail"]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_dense_mode_scores_passages_by_similarity(tmp_path: Path, tiny_encoder_dir: Path, mode: str) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, mode=mode)
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        _ingest(client)
        sources = client.post("/api/ask", json={"question": QUESTION, "top_n": 3}).json()["sources"]
    # The cosine similarity of the question and each passage's stored vector, computed here.
    stored = service.reader.vector_store.get(include=["documents", "embeddings"])
    vectors = {text: np.asarray(vector) for text, vector in zip(stored["documents"], stored["embeddings"], strict=True)}
    query = np.asarray(service.reader.vector_store.embeddings.embed_query(QUESTION))
    cosine = [float(query @ vectors[s["text"]] / np.linalg.norm(query) / np.linalg.norm(vectors[s["text"]]))
              for s in sources]
    scores = [s["score"] for s in sources]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    if mode == "dense":
        assert scores == pytest.approx(cosine, abs=1e-5)
    else:  # reciprocal-rank fusion: at most 2/61, never the cosine
        assert all(0 < score <= 2 / 61 for score in scores) and scores != pytest.approx(cosine, abs=1e-3)
    service.close()


@pytest.mark.integration
def test_from_settings_serves_the_bundled_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag_app.retrieval import CALIBRATED_MIN_SCORES, min_score_for

    samples = Path(__file__).resolve().parent.parent / "rag_app" / "sample_data"
    settings = load_settings(index={"db": tmp_path / "db"}, generator={"max_new_tokens": 24})
    service = build_pipeline(settings)
    assert service.min_score == min_score_for(settings) == CALIBRATED_MIN_SCORES[("minilm", "colbert")] and service.state == "missing"
    with TestClient(create_app(service, settings)) as client:
        files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(samples.iterdir())]
        report = client.post("/api/ingest", files=files).json()
        assert report["files_ingested"] == 4 and report["files_failed"] == []
        body = client.post("/api/ask", json={"question": "Which batteries does the outdoor sensor need?"}).json()
        assert body["answer"].strip() and body["answer"] != NO_ANSWER
        assert body["sources"][0]["source"] == "nimbus-manual.md" and "AA lithium" in body["sources"][0]["text"]
    service.close()


def test_k_is_the_deprecated_spelling_of_top_n(client: TestClient) -> None:
    assert client.get("/api/health").json()["index"] == "missing"
    _ingest(client)
    assert client.get("/api/health").json()["index"] == "ready"
    new = client.post("/api/ask", json={"question": QUESTION, "top_n": 3})
    old = client.post("/api/ask", json={"question": QUESTION, "k": 3})
    assert new.status_code == old.status_code == 200
    assert len(new.json()["sources"]) == 3 and new.json()["sources"] == old.json()["sources"]
    assert "deprecation" not in new.headers
    assert old.headers["deprecation"] == "true" and "now spelled `top_n`" in old.headers["warning"]
    both = client.post("/api/ask", json={"question": QUESTION, "k": 3, "top_n": 3})
    assert both.status_code == 422 and "give top_n only" in both.json()["detail"]
    fields = client.get("/openapi.json").json()["components"]["schemas"]["AskRequest"]["properties"]
    assert fields["k"].get("deprecated") is True and "deprecated" not in fields["top_n"]


# ---- chat ------------------------------------------------------------------------------------------------


def test_chat_streams_tokens_then_sources_and_keeps_the_history(client: TestClient, service: Pipeline) -> None:
    _ingest(client)
    first = client.post("/api/chat", json={"question": QUESTION})
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(first.text)
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-2:] == ["sources", "done"]
    # streamed as the model writes (the chain holds back the first words, to drop a leading "Answer:")
    assert set(names[1:-2]) == {"token"} and len(names[1:-2]) > len(REPLY.split()) // 2
    assert "".join(data["text"] for name, data in events if name == "token") == REPLY
    conversation = events[0][1]["conversation_id"]
    sources = events[-2][1]["sources"]
    assert sources[0]["source"] == "sensor.md" and all(tuple(s) == SOURCE_FIELDS for s in sources)
    assert events[-1][1] == {"answer": REPLY, "conversation_id": conversation, "answer_mode": "generate",
                             "fallback": None}
    assert len(service.llm.calls) == 1  # no history yet: no condense call

    follow_up = client.post("/api/chat", json={"question": "And how often do I replace them?",
                                               "conversation_id": conversation})
    assert parse_sse(follow_up.text)[0][1]["conversation_id"] == conversation
    condense = service.llm.calls[-2]  # the follow-up was condensed with the first turn as history
    assert [m.content for m in condense[1:3]] == [QUESTION, REPLY]

    unknown = client.post("/api/chat", json={"question": QUESTION, "conversation_id": "nope"})
    assert unknown.status_code == 404 and "Unknown conversation_id 'nope'" in unknown.json()["detail"]


def test_a_model_failure_is_reported_not_fatal(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, ScriptedChat(fail_after_first_token=True))
    with TestClient(create_app(service, _settings(tmp_path)), raise_server_exceptions=False) as client:
        _ingest(client)
        events = parse_sse(client.post("/api/chat", json={"question": QUESTION}).text)
        names = [name for name, _ in events]  # the chain may hold the first word back (a leading "Answer:")
        assert names[0] == "meta" and set(names[1:-1]) <= {"token"} and names[-1] == "error"
        assert events[-1][1]["detail"] == "The answer failed: RuntimeError: the model crashed"
        failed = client.post("/api/ask", json={"question": QUESTION})
        assert failed.status_code == 500 and "RuntimeError: the model crashed" in failed.json()["detail"]
        assert client.get("/api/health").json()["status"] == "ok"
        service.settings.generator.answer_mode = "verified"  # a draft that fails is never shown as the answer
        names = [name for name, _ in parse_sse(client.post("/api/chat", json={"question": QUESTION}).text)]
        assert names[0] == "meta" and set(names[1:-1]) <= {"draft"} and names[-1] == "error"
    service.close()


# ---- answer modes: supported sentences, the verified draft and its fallback ---------------------------------

INVENTED = "The outdoor sensor runs on a solar panel and a spare lead acid battery from the garage [1]."
"""A reply no passage supports (the documents say two AA lithium batteries)."""
MIXED = f"{REPLY} It also needs a solar panel mounted on the garage roof."
"""A supported sentence, then one no passage supports."""


def _events(response) -> list[tuple[str, object]]:  # noqa: ANN001
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


def _texts(events: list[tuple[str, object]], name: str) -> list[str]:
    return [data["text"] for event, data in events if event == name]


def test_verified_mode_streams_the_draft_then_the_quoted_answer_and_says_why(tmp_path: Path,
                                                                            tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, ScriptedChat(reply=INVENTED), answer_mode="verified")
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        _ingest(client)
        events = _events(client.post("/api/chat", json={"question": QUESTION}))
        names = [name for name, _ in events]
        # meta, the draft as the model writes it, the final answer, why it replaced the draft, sources, done
        assert names[0] == "meta" and names[-3:] == ["fallback", "sources", "done"]
        drafts, tokens = _texts(events, "draft"), _texts(events, "token")
        assert len(drafts) > 3 and "".join(drafts).strip() == INVENTED
        assert names.count("token") == 1 and max(i for i, n in enumerate(names) if n == "draft") < names.index("token")
        answer = "".join(tokens)
        assert answer.startswith(QUOTED_LABEL) and "two AA lithium batteries" in answer
        assert "solar" not in answer and INVENTED not in answer  # the draft never becomes the answer
        fallback = dict(events)["fallback"]
        assert fallback["generated"] == INVENTED and fallback["unsupported"] == [INVENTED]
        assert isinstance(fallback["reason"], str) and fallback["reason"]
        sources_event = dict(events)["sources"]
        quoted = sources_event["citations"]  # offsets into the final answer; the quoted sentence is supported
        assert quoted and all(answer[c["start"]:c["end"]] == c["sentence"] for c in quoted)
        assert [c["supported"] for c in quoted if "two AA lithium batteries" in c["sentence"]] == [True]
        done = events[-1][1]
        assert done == {"answer": answer, "conversation_id": events[0][1]["conversation_id"],
                        "answer_mode": "verified", "fallback": fallback}

        # /api/ask gives the same answer, with the same fallback and the support of each quoted sentence
        asked = client.post("/api/ask", json={"question": QUESTION}).json()
        assert asked["answer"] == done["answer"] and asked["answer_mode"] == "verified"
        assert asked["fallback"] == fallback
        assert asked["citations"] == sources_event["citations"]

        # the history keeps the final answer, never the draft
        client.post("/api/chat", json={"question": "And how often?", "conversation_id": done["conversation_id"]})
        condense = next(call for call in reversed(service.llm.calls) if len(call) > 2)
        assert [m.content for m in condense[1:3]] == [QUESTION, answer]
        assert all(INVENTED not in str(m.content) for m in condense)
    service.close()


def test_verified_mode_keeps_a_supported_draft_as_the_answer(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, answer_mode="verified")
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        _ingest(client)
        events = _events(client.post("/api/chat", json={"question": QUESTION}))
        assert "fallback" not in dict(events)
        assert "".join(_texts(events, "draft")) == REPLY and _texts(events, "token") == [REPLY]
        assert events[-1][1]["answer"] == REPLY and events[-1][1]["fallback"] is None
        asked = client.post("/api/ask", json={"question": QUESTION}).json()
        assert asked["answer"] == REPLY and asked["fallback"] is None and asked["answer_mode"] == "verified"
    service.close()


def test_generate_mode_marks_the_unsupported_sentence(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, ScriptedChat(reply=MIXED))
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        _ingest(client)
        body = client.post("/api/ask", json={"question": QUESTION}).json()
        assert body["answer"] == MIXED and body["answer_mode"] == "generate" and body["fallback"] is None
        first, second = body["citations"]
        assert first["sentence"] == REPLY and first["supported"] is True and first["ids"] == [1]
        assert second["sentence"] == "It also needs a solar panel mounted on the garage roof."
        assert second["supported"] is False and second["ids"] == [] and "reason" in second
        assert MIXED[second["start"]:second["end"]] == second["sentence"]

        events = _events(client.post("/api/chat", json={"question": QUESTION}))
        assert "draft" not in dict(events) and "fallback" not in dict(events)  # generate: tokens only
        assert "".join(_texts(events, "token")) == MIXED
        assert [c["supported"] for c in dict(events)["sources"]["citations"]] == [True, False]
    service.close()


def test_extract_mode_quotes_the_passages_without_the_model(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, answer_mode="extract")
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        _ingest(client)
        body = client.post("/api/ask", json={"question": QUESTION}).json()
        assert body["answer"].startswith(QUOTED_LABEL) and "two AA lithium batteries" in body["answer"]
        assert body["answer_mode"] == "extract" and body["fallback"] is None
        events = _events(client.post("/api/chat", json={"question": QUESTION}))
        assert _texts(events, "token") == [body["answer"]] and "draft" not in dict(events)
        assert service.llm.calls == []
    service.close()


def test_public_citations_default_the_support_of_old_citations() -> None:
    from rag_app.server.state import public_citations

    old = [{"sentence": "A [1].", "start": 0, "end": 6, "ids": [1], "origin": "model", "support": None},
           {"sentence": "B.", "start": 7, "end": 9, "ids": [], "origin": "unsupported", "support": 0.1}]
    assert [(c["supported"], c["cited"], c["reason"]) for c in public_citations(old)] == [
        (True, [], None), (False, [], None)]
    new = [{**old[0], "supported": False, "cited": [1], "reason": "passage [1] does not say it"}]
    assert public_citations(new)[0]["supported"] is False and public_citations(new)[0]["reason"].startswith("passage")


# ---- request errors --------------------------------------------------------------------------------------


def test_bad_json_missing_and_invalid_fields(client: TestClient) -> None:
    bad = client.post("/api/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("The request body is not valid JSON: Expecting value at character 13.")

    cases = {
        "{}": "body.question: Field required",
        '{"question": "   "}': "body.question: Value error, must not be blank",
        '{"question": "q", "top_n": 0}': "body.top_n: Input should be greater than or equal to 1",
        '{"qestion": "typo"}': "body.qestion: Extra inputs are not permitted",
    }
    for body, message in cases.items():
        response = client.post("/api/ask", content=body.encode(), headers={"Content-Type": "application/json"})
        assert response.status_code == 422, body
        assert message in response.json()["detail"], (body, response.json())


def test_a_body_that_is_not_a_json_object_is_a_400(client: TestClient) -> None:
    send = "Send a JSON object with Content-Type: application/json."
    cases = [  # (request arguments, detail)
        ({"data": {"question": "q"}},  # an HTML form's encoding
         f"The request body was not read as JSON (Content-Type: application/x-www-form-urlencoded). {send}"),
        ({"content": b'{"question": "q"}', "headers": {"Content-Type": "text/plain"}},
         f"The request body was not read as JSON (Content-Type: text/plain). {send}"),
        ({"content": b'["question"]', "headers": {"Content-Type": "application/json"}},
         f"The request body must be a JSON object, not list. {send}"),
        ({}, f"The request body is missing. {send}"),
    ]
    for path in ("/api/ask", "/api/chat", "/api/ingest/paths"):
        for arguments, detail in cases:
            response = client.post(path, **arguments)
            assert response.status_code == 400, (path, arguments, response.text)
            assert response.json() == {"detail": detail}
    chat = client.post("/api/chat", json={"question": "q", "conversation_id": "../../etc"})
    assert chat.status_code == 422 and "body.conversation_id: String should match pattern" in chat.json()["detail"]
    assert client.post("/api/nothing").status_code == 404


def test_a_question_longer_than_the_prompt_keeps_is_refused(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir)
    service.budget = dataclasses.replace(service.budget, question_tokens=10)
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        response = client.post("/api/ask", json={"question": "word " * 20})
        assert response.status_code == 422
        assert response.json()["detail"] == ("The question is 26 tokens long; at most 10 fit beside the passages. "
                                             "Ask a shorter question.")
        assert service.llm.calls == []
    service.close()


# ---- uploads ---------------------------------------------------------------------------------------------


def test_upload_limits_types_and_missing_files(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir)
    settings = _settings(tmp_path, max_upload_mb=0.001, max_upload_files=3)  # 1048 bytes
    with TestClient(create_app(service, settings)) as client:
        big = _ingest(client, {"small.txt": "fine", "big.txt": "x" * 2000})
        assert big.status_code == 413
        assert big.json()["detail"] == "'big.txt' is 2,000 bytes; the limit is 1,048 bytes per file (server.max_upload_mb)."
        exe = _ingest(client, {"notes.txt": "fine", "tool.exe": b"MZ\x90\x00"})
        assert exe.status_code == 415
        assert exe.json()["detail"].startswith("'tool.exe': type .exe is not accepted; allowed: .pdf, .html, .htm")
        assert _ingest(client, {"README": "no extension"}).json()["detail"].startswith("'README': type (no extension)")
        many = _ingest(client, {f"n{i}.txt": "x" for i in range(4)})
        assert many.status_code == 413 and many.json()["detail"].startswith("4 files in one request; at most 3")
        assert _uploaded(tmp_path) == []  # refused requests store nothing

        whole = client.post("/api/ingest", content=b"x" * 5_000_000,
                            headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert whole.status_code == 413 and whole.json()["detail"].startswith("Request body too large")
        missing = client.post("/api/ingest", data={"other": "value"})
        assert missing.status_code == 422 and "body.files: Field required" in missing.json()["detail"]
        not_a_file = client.post("/api/ingest", data={"files": "just text"})
        assert not_a_file.status_code == 422 and "body.files" in not_a_file.json()["detail"]
        assert service.state == "missing" and service.chunk_count == 0
    service.close()


def test_traversal_names_stay_inside_the_upload_folder(client: TestClient, tmp_path: Path) -> None:
    names = {"../../escape.txt": "one", "..\\..\\windows.txt": "two", "/etc/cron.d/evil.md": "# three",
             ".hidden.txt": "four", "same.txt": "five", "dir/same.txt": "six"}
    response = _ingest(client, names)
    assert response.status_code == 200, response.text
    uploads = response.json()["uploads"]
    assert [u["source"] for u in uploads] == ["escape.txt", "windows.txt", "evil.md", "hidden.txt", "same.txt",
                                              "same-2.txt"]
    stored = _uploaded(tmp_path)
    root = (tmp_path / "db" / "uploads").resolve()
    assert len(stored) == 6 and all(p.resolve().parent.parent == root for p in stored)
    assert len({p.parent for p in stored}) == 1  # one new folder per request
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "db" / "escape.txt").exists()
    assert sorted(p.read_text() for p in stored) == sorted(["one", "two", "# three", "four", "five", "six"])


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert safe_filename("..") == "upload" and safe_filename("") == "upload" and safe_filename("/") == "upload"
    assert safe_filename("a<b>|c?.txt") == "a_b_c_.txt"
    assert safe_filename("bad\x00name\n.md") == "badname.md"
    assert safe_filename("Ｒｅｐｏｒｔ．ｐｄｆ") == "Report.pdf"  # full-width letters, NFKC
    assert safe_filename("résumé 2024.docx") == "résumé 2024.docx"
    long = safe_filename("x" * 300 + ".pdf")
    assert len(long) == 120 and long.endswith(".pdf")


def test_a_failing_file_is_reported_and_its_upload_kept(client: TestClient, tmp_path: Path) -> None:
    response = _ingest(client, {"empty.txt": "", "sensor.md": DOCUMENTS["sensor.md"]})
    assert response.status_code == 200
    report = response.json()
    assert report["files_failed"] == [{"source": "empty.txt", "error": "empty file", "kept_previous": False}]
    assert report["files_ingested"] == 1
    assert sorted(p.name for p in _uploaded(tmp_path)) == ["empty.txt", "sensor.md"]


def test_an_upload_where_every_file_failed_is_an_error_with_the_report(client: TestClient) -> None:
    response = _ingest(client, {"empty.txt": "", "blank.md": "   \n"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith("No file could be ingested (") and "empty.txt: empty file" in body["detail"]
    assert body["files_ingested"] == 0 and body["chunks_added"] == 0
    assert sorted(f["source"] for f in body["files_failed"]) == ["blank.md", "empty.txt"]
    assert {f["status"] for f in body["files"]} == {"failed"}
    assert [u["source"] for u in body["uploads"]] == ["empty.txt", "blank.md"]

    # one good file among them: a 200, the failures in the report
    response = _ingest(client, {"empty.txt": "", "sensor.md": DOCUMENTS["sensor.md"]})
    assert response.status_code == 200 and response.json()["files_ingested"] == 1
    # the same good file again is unchanged, not failed: still a 200
    response = _ingest(client, {"empty.txt": "", "sensor.md": DOCUMENTS["sensor.md"]})
    assert response.status_code == 200 and response.json()["files_unchanged"] == 1


def test_the_report_gives_each_upload_its_status_and_warnings(client: TestClient, service: Pipeline,
                                                              tmp_path: Path) -> None:
    from tests.test_ingest_report import build_pdf_with_a_page_without_text

    pdf = build_pdf_with_a_page_without_text(tmp_path / "boiler.pdf").read_bytes()
    expected = load_file(tmp_path / "boiler.pdf").warnings  # page 2 named, with or without Tesseract
    assert expected[0].startswith("page 2: no text layer")
    response = _ingest(client, {"boiler.pdf": pdf, "empty.txt": ""})
    assert response.status_code == 200, response.text
    report = response.json()
    files = {f["source"]: f for f in report["files"]}
    assert files == {
        "boiler.pdf": {"source": "boiler.pdf", "status": "ingested", "chunks_added": files["boiler.pdf"]["chunks_added"],
                       "chunks_deleted": 0, "warnings": expected, "error": None},
        "empty.txt": {"source": "empty.txt", "status": "failed", "chunks_added": 0, "chunks_deleted": 0,
                      "warnings": [], "error": "empty file"},
    }
    assert files["boiler.pdf"]["chunks_added"] == report["chunks_added"] == service.reader.count() >= 2
    assert report["root"] is None  # uploads never choose the root: they are named as files in it

    # Streamed: the report event carries the same per-file entries; the same bytes again are unchanged,
    # and an upload of the same content under another name says which name holds it already.
    response = _ingest(client, {"boiler.pdf": pdf, "boiler-copy.pdf": pdf}, headers={"Accept": "text/event-stream"})
    events = parse_sse(response.text)
    assert [(d["source"], d["status"]) for name, d in events if name == "progress"] == [
        ("boiler.pdf", "unchanged"), ("boiler-copy.pdf", "ingested")]
    streamed = {f["source"]: f for f in events[-1][1]["files"]}
    assert streamed["boiler.pdf"]["warnings"] == []  # not read again
    assert streamed["boiler-copy.pdf"]["warnings"] == [
        *expected, "same content as 'boiler.pdf', indexed under that name too: its text is in the index twice "
        "(`rag-app remove` the name you do not want)"]


def test_uploads_follow_the_naming_rule_of_the_cli(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    """A file ingested from disk at the root and the same file uploaded are one source."""
    docs = tmp_path / "docs"
    server_support.write_documents(docs)
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir)
    try:
        first = service.ingest([docs])
        assert [(f.source, f.status) for f in first.files] == [("kettle.txt", "ingested"), ("sensor.md", "ingested")]
        with TestClient(create_app(service, _settings(tmp_path))) as client:
            report = _ingest(client, {"sensor.md": DOCUMENTS["sensor.md"]}).json()
        assert [(f["source"], f["status"], f["warnings"]) for f in report["files"]] == [("sensor.md", "unchanged", [])]
        assert report["root"] == docs.as_posix()
        assert [source for source, _ in service.sources()] == ["kettle.txt", "sensor.md"]
    finally:
        service.close()


def test_ingest_streams_progress_then_the_report(client: TestClient) -> None:
    response = _ingest(client, headers={"Accept": "text/event-stream"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["stored", "progress", "progress", "report"]
    assert [u["source"] for u in events[0][1]["uploads"]] == ["sensor.md", "kettle.txt"]
    assert [(d["source"], d["status"], d["done"], d["total"]) for _, d in events[1:3]] == [
        ("sensor.md", "ingested", 1, 2), ("kettle.txt", "ingested", 2, 2)]
    assert events[3][1]["files_ingested"] == 2 and events[3][1]["chunks_total"] > 2


# ---- the token -------------------------------------------------------------------------------------------


def test_every_route_but_health_needs_the_token(tmp_path: Path, service: Pipeline) -> None:
    with TestClient(create_app(service, _settings(tmp_path, api_token=TOKEN))) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/").status_code == 200  # the page holds no data; it asks for the token
        routes = [("post", "/api/ask", {"json": {"question": QUESTION}}),
                  ("post", "/api/chat", {"json": {"question": QUESTION}}),
                  ("post", "/api/ingest", {"files": _files()}),
                  ("get", "/api/sources", {}),
                  ("delete", "/api/sources/sensor.md", {}),
                  ("post", "/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": "q"}]}}),
                  ("get", "/v1/models", {})]
        for method, path, kwargs in routes:
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}):
                response = getattr(client, method)(path, headers=headers, **kwargs)
                assert response.status_code == 401, (path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
        denied = client.get("/api/sources", headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert denied.json()["detail"].startswith("Unauthorized: wrong bearer token. Send the header")
        assert client.get("/api/sources").json()["detail"].startswith("Unauthorized: missing bearer token.")
        assert client.get("/v1/models").json()["error"]["message"].startswith("Unauthorized: missing bearer token.")
        assert _uploaded(tmp_path) == []  # refused before the upload was stored

        assert authorization_error(f"bearer {TOKEN}", TOKEN) is None  # the scheme is case-insensitive
        assert authorization_error(f"Bearer {TOKEN}x", TOKEN).startswith("Unauthorized: wrong bearer token")
        assert authorization_error(None, TOKEN).startswith("Unauthorized: missing bearer token")
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post("/api/ingest", files=_files(), headers=good).json()["files_ingested"] == 2
        assert client.post("/api/ask", json={"question": QUESTION}, headers=good).json()["answer"] == REPLY
        assert client.delete("/api/sources/sensor.md", headers=good).status_code == 200


def test_the_environment_token_wins_and_binding_needs_one(tmp_path: Path, service: Pipeline,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_APP_API_TOKEN", TOKEN)
    with TestClient(create_app(service, _settings(tmp_path, api_token="config-token-0123456789"))) as client:
        assert client.get("/api/sources", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/api/sources", headers={"Authorization": "Bearer config-token-0123456789"}).status_code == 401

    for host in ("127.0.0.1", "127.1.2.3", "localhost", "::1"):
        check_bind(host, None)
    check_bind("0.0.0.0", TOKEN)
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(UnsafeBindError, match=f"(?s)Refusing to listen on {host}: .* RAG_APP_API_TOKEN"):
            check_bind(host, None)
    with pytest.raises(UnsafeBindError, match="The API token is 5 characters long; use at least 16"):
        check_bind("127.0.0.1", "short")


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    from rag_app.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "db")])
    assert result.exit_code == 2
    assert "Refusing to listen on 0.0.0.0" in result.output and "RAG_APP_API_TOKEN" in result.output
    assert not (tmp_path / "db").exists()  # refused before opening anything


# ---- the model queue -------------------------------------------------------------------------------------


def _in_thread(fn):  # noqa: ANN001, ANN202
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("response", fn()), daemon=True)
    thread.start()
    return thread, result


def test_health_answers_while_a_generation_runs_and_generations_queue(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    gate = threading.Event()
    llm = ScriptedChat(gate=gate)
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, llm)
    with TestClient(create_app(service, _settings(tmp_path, max_queue=2))) as client:
        _ingest(client)
        first, first_result = _in_thread(lambda: client.post("/api/ask", json={"question": QUESTION}))
        assert llm.started.wait(10), "the first generation never started"
        second, second_result = _in_thread(lambda: client.post("/api/chat", json={"question": QUESTION}))
        deadline = time.monotonic() + 10
        while client.get("/api/health").json()["queue"]["pending"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

        started = time.monotonic()
        health = client.get("/api/health")  # the event loop is free while the model thread is held
        assert health.status_code == 200 and time.monotonic() - started < 2
        assert health.json()["queue"] == {"pending": 2, "running": True}
        assert client.get("/api/sources").status_code == 200  # reading the index does not queue either
        busy = client.post("/api/ask", json={"question": QUESTION})  # the backlog is full
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert busy.json()["detail"].startswith("Server busy: 2 model requests are already queued or running")
        assert first.is_alive() and second.is_alive() and len(llm.calls) == 1  # the second waits its turn

        gate.set()
        first.join(10)
        second.join(10)
        assert first_result["response"].json()["answer"] == REPLY
        assert parse_sse(second_result["response"].text)[-1][1]["answer"] == REPLY
        assert llm.max_active == 1 and len(llm.calls) == 2  # one generation at a time
        assert client.get("/api/health").json()["queue"] == {"pending": 0, "running": False}
    service.close()


def test_the_worker_stops_a_stream_whose_consumer_left_and_passes_errors_on() -> None:
    worker = ModelWorker(max_pending=2)
    produced: list[int] = []

    def job(emit) -> None:  # noqa: ANN001
        for i in range(100):
            if not emit(i):
                return
            produced.append(i)
            time.sleep(0.01)

    def failing(emit) -> None:  # noqa: ANN001
        emit("first")
        raise RuntimeError("broken model")

    async def scenario() -> list:
        items = worker.stream(job)
        async for item in items:
            if item == 2:
                break
        await items.aclose()  # the client went away
        while worker.pending:
            await asyncio.sleep(0.01)
        seen = []
        with pytest.raises(RuntimeError, match="broken model"):
            async for item in worker.stream(failing):
                seen.append(item)
        return seen

    assert asyncio.run(scenario()) == ["first"]
    assert 3 <= len(produced) < 10 and worker.pending == 0
    worker.shutdown()


# ---- CORS, page, schema ----------------------------------------------------------------------------------


def test_cors_is_off_by_default_and_configurable(tmp_path: Path, service: Pipeline) -> None:
    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(service, _settings(tmp_path))) as client:
        response = client.get("/api/health", headers={"Origin": "http://app.example"})
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in client.options("/api/ask", headers=preflight).headers
    with TestClient(create_app(service, _settings(tmp_path, cors_origins=["http://app.example"]))) as client:
        allowed = client.options("/api/ask", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://app.example"
        other = client.get("/api/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_the_page_its_files_and_the_openapi_schema(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="static/app.js" defer></script>' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "api/chat" in script.text
    assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text  # text is shown as text
    assert client.get("/static/style.css").status_code == 200

    schema = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/chat", "/api/ingest", "/api/sources", "/api/sources/{source}", "/api/health",
            "/v1/chat/completions", "/v1/models"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/sources/{source}"]) == {"delete"}
    ask_schema = schema["components"]["schemas"]["AskRequest"]
    assert ask_schema["required"] == ["question"] and ask_schema["additionalProperties"] is False
    assert "multipart/form-data" in schema["paths"]["/api/ingest"]["post"]["requestBody"]["content"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert json.dumps(schema)  # serialisable as published


# ---- API pages -------------------------------------------------------------------------------------------


def test_the_api_pages_load_everything_from_this_server(tmp_path: Path, service: Pipeline) -> None:
    """/docs and /redoc work offline: every script, style and icon they name is served here (no CDN), without
    the token, and Swagger UI is one that renders the OpenAPI 3.1 schema FastAPI writes."""
    settings = _settings(tmp_path, api_token="docs-test-token-0123456789")
    with TestClient(create_app(service, settings)) as client:
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
            urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|(?:url|openapi_url)\s*:\s*['"]([^'"]+)['"]""",
                              response.text)
            urls = [a or b for a, b in urls]
            assert urls and "/openapi.json" in urls, (page, urls)
            assert not re.search(r"https?://", response.text.replace("http://www.w3.org", "")), page
            for url in urls:
                assert url.startswith("/"), (page, url)
                served = client.get(url)
                assert served.status_code == 200 and served.content, (page, url)
        bundle = client.get("/docs-assets/swagger-ui-bundle.js").text
        assert re.search(r'"5\.\d+\.\d+"', bundle)  # Swagger UI 5 reads OpenAPI 3.1 (4 shows "no version field")
        assert client.get("/docs/oauth2-redirect").status_code == 200
