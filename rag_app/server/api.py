"""The ``/api`` routes: ask, chat (server-sent events), ingest (multipart upload), sources, health.

JSON shapes follow the CLI: ``POST /api/ask`` answers like ``rag-app ask --json``, ``POST /api/ingest`` like
``rag-app ingest --json`` (plus ``uploads``: which name each file got), ``GET /api/sources`` like
``rag-app sources --json``. Model work (answering) runs on the model worker, one job at a time; writes to the
index (ingesting, removing) on the index worker beside it, whose embedding batches the model worker runs
between answers (:mod:`rag_app.server.worker`): a question never waits for an ingest. Listing sources and the
health check wait for neither.

``POST /api/ingest/paths`` ingests files and folders *on the server's machine* the way ``rag-app ingest`` does
(same source names, globs, ``prune``): what ``rag-app ingest PATH --server URL`` sends, so a second process can
add to an embedded index that this server holds (:mod:`ingest.claim`). It answers requests from the loopback
interface only, not through a proxy.

``POST /api/chat`` streams these events (``event:`` name, ``data:`` one JSON object):

- ``meta``: ``{"conversation_id", "question"}``; send the id back with the next question to continue;
- ``draft``: ``{"text"}``, a piece of the model's draft, in ``verified`` answer mode only: it is being checked
  against the passages and is *not* the answer (show it as "checking…", then replace it);
- ``token``: ``{"text"}``, a piece of the answer: as the model writes it (``generate``), or the whole final
  answer at once (``extract``; ``verified``, once the draft was checked);
- ``fallback``: ``{"reason", "generated", "unsupported"}``, only when the draft was not supported by the
  passages and the quoted sentences (the extractive answer) replaced it;
- ``sources``: ``{"standalone_question", "sources", "citations", "unknown_citations"}``, once the answer is
  complete; each citation says whether its sentence is ``supported`` by the passages (and if not, ``reason``);
- ``done``: ``{"answer", "conversation_id", "answer_mode", "fallback"}``; or ``error``: ``{"detail"}``, and the
  stream ends.

The conversation's history keeps the final answer, never a draft.

``POST /api/ingest`` with ``Accept: text/event-stream`` streams ``stored`` (``{"uploads"}``), one ``progress``
per file (``{"source", "status", "done", "total"}``) and then ``report`` (the JSON report) or ``error``. The
report's ``files`` gives each file's status, chunks and warnings (pages without text, a guessed encoding...).
When every file failed, the JSON reply is a 422 whose body is the report with a ``detail`` naming each failure
(a stream has already answered 200: its ``report`` event says the same); a partly failed upload is a 200.
An upload is named by its sanitised file name, as a file in the collection root would be (README, "How a
source is named").
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, File, HTTPException, Request, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag_app.chain import answer_json, public_sources
from rag_app.server.state import (
    PassagesField,
    ServerState,
    busy_error,
    check_question,
    get_state,
    public_citations,
    public_fallback,
    sse,
)
from rag_app.server.uploads import IncomingFile, StoredUpload, UploadError, store_uploads
from rag_app.server.worker import Emit, ModelWorker, QueueFull

__all__ = ["health_router", "router"]

router = APIRouter(tags=["api"])
health_router = APIRouter(tags=["api"])
State = Annotated[ServerState, Depends(get_state)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class AskRequest(PassagesField):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000, description="The question.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("must not be blank")
        return question


class ChatRequest(AskRequest):
    conversation_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The id from the previous answer's `meta` event; omit it to start a conversation.",
    )


class SourceOut(BaseModel):
    id: int
    source: str | None
    page: int | None
    score: float | None
    text: str


AnswerMode = Literal["generate", "extract", "verified"]


class CitationOut(BaseModel):
    sentence: str
    start: int = Field(description="Offset of the sentence in the answer.")
    end: int
    ids: list[int] = Field(description="Numbers of the sources the sentence rests on.")
    origin: str = Field(description="model: cited by the model; matched: attributed by word overlap; "
                                    "unsupported: no source; fragment: too short to check.")
    support: float | None = Field(description="Share of the sentence's content words found in the source.")
    supported: bool = Field(description="False: no passage given to the model backs the sentence.")
    cited: list[int] = Field(default_factory=list, description="The numbers the model wrote after the sentence.")
    reason: str | None = Field(None, description="Why the sentence is not supported.")


class FallbackOut(BaseModel):
    reason: str = Field(description="Why the generated answer was replaced.")
    generated: str = Field(description="The model's answer that was replaced (not shown as the answer).")
    unsupported: list[str] = Field(description="Its sentences that no passage supports.")


class AskResponse(BaseModel):
    answer: str
    answer_mode: AnswerMode = Field(
        description="generate: the model's answer; extract: quoted sentences of the passages; verified: the model's "
                    "answer when every sentence is supported, else the quoted sentences (see fallback).")
    standalone_question: str | None = Field(
        None, description="The question the passages were retrieved for (a follow-up rewritten with the history).")
    sources: list[SourceOut]
    citations: list[CitationOut] = Field(default_factory=list)
    unknown_citations: list[int] = Field(default_factory=list,
                                         description="Cited numbers that name no source given to the model.")
    fallback: FallbackOut | None = Field(
        None, description="Set when the generated answer was not supported and the quoted sentences replaced it.")


class IndexedSource(BaseModel):
    source: str
    chunks: int


class Removed(BaseModel):
    source: str
    chunks_removed: int


class FileFailureOut(BaseModel):
    source: str
    error: str
    kept_previous: bool = Field(False, description="The file's last good version is still indexed.")


class FileOut(BaseModel):
    source: str
    status: Literal["ingested", "unchanged", "failed", "kept_previous", "pruned"] = Field(
        description="kept_previous: the new version failed and the last good one is still indexed.")
    chunks_added: int
    chunks_deleted: int
    warnings: list[str] = Field(description="What the loader, chunker or index noticed, one line each.")
    error: str | None = Field(None, description="Why the file failed (failed, kept_previous).")


class UploadOut(BaseModel):
    filename: str = Field(description="The name the client sent.")
    source: str = Field(description="The sanitised name: the file's source in the index.")


class IngestResponse(BaseModel):
    files_ingested: int
    files_unchanged: int
    files_failed: list[FileFailureOut]
    files_pruned: int
    chunks_added: int
    chunks_deleted: int
    chunks_total: int
    root: str | None = Field(description="The folder sources on disk are named relative to (None until the "
                                         "first `rag-app ingest`).")
    files: list[FileOut] = Field(description="Every file with its status, chunks and warnings.")
    uploads: list[UploadOut]


class QueueOut(BaseModel):
    pending: int = Field(description="Model jobs queued or running.")
    running: bool


class Health(BaseModel):
    status: str
    index: Literal["missing", "empty", "ready"] = Field(
        description="missing: nothing ingested yet; empty: the collection has no chunks; ready.")
    chunks: int = Field(description="Chunks the retriever searches.")
    queue: QueueOut


def answer_body(result: dict[str, Any], answer_mode: str) -> dict[str, Any]:
    """``POST /api/ask``'s JSON: :func:`rag_app.chain.answer_json`, with the answer mode, the fallback and the
    support of each sentence."""
    body = answer_json(result)
    body["citations"] = public_citations(body.get("citations"))
    body["answer_mode"] = result.get("answer_mode") or answer_mode
    body["fallback"] = public_fallback(result.get("fallback"))
    return body


@health_router.get("/health", response_model=Health, summary="Liveness; needs no token")
async def health(state: State) -> dict[str, Any]:
    return {"status": "ok", "index": state.pipeline.state, "chunks": state.pipeline.chunk_count,
            "queue": {"pending": state.worker.pending, "running": state.worker.busy}}


@router.post("/ask", response_model=AskResponse, summary="Answer a question (the JSON of `rag-app ask --json`)")
async def ask(body: AskRequest, state: State, response: Response) -> dict[str, Any]:
    check_question(state, body.question)
    response.headers.update(body.deprecation_headers)
    try:
        result = await state.worker.run(lambda: state.pipeline.ask(body.question, top_n=body.passages))
    except QueueFull as exc:
        raise busy_error(exc) from None
    return answer_body(result, state.pipeline.answer_mode)


@router.post(
    "/chat", summary="Answer with history, streamed as server-sent events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "meta, draft... (verified mode), token..., fallback?, sources, done"}},
)
async def chat(body: ChatRequest, state: State) -> StreamingResponse:
    check_question(state, body.question)
    conversations = state.conversations
    if body.conversation_id is not None and body.conversation_id not in conversations:
        raise HTTPException(404, f"Unknown conversation_id {body.conversation_id!r} (expired or from before a "
                                 "restart); omit it to start a new conversation.")
    conversation_id = body.conversation_id or conversations.new()
    history = conversations.history(conversation_id)
    pipeline = state.pipeline

    def job(emit: Emit) -> None:
        for chunk in pipeline.stream(body.question, history, top_n=body.passages):
            if not emit(chunk):
                return  # the client went away: stop generating

    try:
        chunks = state.worker.stream(job)
    except QueueFull as exc:
        raise busy_error(exc) from None

    async def events() -> AsyncIterator[str]:
        yield sse("meta", {"conversation_id": conversation_id, "question": body.question})
        answer, sources, standalone = "", [], body.question
        answer_mode, fallback = pipeline.answer_mode, None
        cited: dict[str, Any] = {"citations": [], "unknown_citations": []}
        try:
            async for chunk in chunks:
                if "sources" in chunk:
                    sources = public_sources(chunk["sources"])
                    standalone = chunk.get("standalone_question", standalone)
                if chunk.get("answer_mode"):
                    answer_mode = chunk["answer_mode"]
                if chunk.get("draft"):  # verified mode: being checked, not the answer
                    yield sse("draft", {"text": chunk["draft"]})
                if chunk.get("answer"):
                    answer += chunk["answer"]
                    yield sse("token", {"text": chunk["answer"]})
                if "citations" in chunk:
                    cited = {"citations": public_citations(chunk["citations"]),
                             "unknown_citations": chunk.get("unknown_citations") or []}
                if chunk.get("fallback"):
                    fallback = public_fallback(chunk["fallback"])
                    yield sse("fallback", fallback)
        except Exception as exc:  # the model or the index failed: tell the page, keep the server up
            yield sse("error", {"detail": f"The answer failed: {type(exc).__name__}: {exc}"})
            return
        conversations.add_turn(conversation_id, body.question, answer)  # the final answer, never the draft
        yield sse("sources", {"standalone_question": standalone, "sources": sources, **cited})
        yield sse("done", {"answer": answer, "conversation_id": conversation_id, "answer_mode": answer_mode,
                           "fallback": fallback})

    headers = {**SSE_HEADERS, **body.deprecation_headers}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _report(stored: list[StoredUpload], report_json: dict[str, Any]) -> dict[str, Any]:
    return {**report_json, "uploads": [{"filename": s.filename, "source": s.source} for s in stored]}


def _all_failed(report: dict[str, Any]) -> JSONResponse | None:
    """A 422 with the report when no file of the upload could be ingested (each failed, or kept its previous
    version); ``None`` when at least one was ingested or unchanged."""
    files = report["files"]
    if not files or any(f["status"] not in ("failed", "kept_previous") for f in files):
        return None
    reasons = "; ".join(f"{f['source']}: {f['error']}" for f in files)
    return JSONResponse({"detail": f"No file could be ingested ({reasons}).", **report}, status_code=422)


@router.post(
    "/ingest", response_model=IngestResponse,
    summary="Upload and ingest files (the report of `rag-app ingest --json`)",
    responses={200: {"content": {"text/event-stream": {}}, "description": "with Accept: text/event-stream"},
               413: {"description": "too large or too many files"}, 415: {"description": "type not allowed"},
               422: {"description": "every file failed: the report, with `detail` naming each failure"}},
)
async def ingest(
    request: Request,
    files: Annotated[list[UploadFile], File(description="One or more documents (PDF, HTML, Markdown, text, DOCX, PPTX, XLSX, CSV, EPUB, .eml).")],
    state: State,
) -> Any:
    worker, pipeline, policy = state.writer, state.pipeline, state.uploads
    if worker.pending >= worker.max_pending:  # refuse before storing anything
        raise busy_error(QueueFull(f"{worker.pending} model requests are queued or running"))
    incoming = [IncomingFile(f.filename or "", f.size if f.size is not None else 0, f.file) for f in files]
    try:
        stored = await anyio.to_thread.run_sync(store_uploads, incoming, policy)
    except UploadError as exc:
        raise HTTPException(exc.status, exc.message) from None
    named = [(s.path, s.source) for s in stored]
    kept = f"the uploaded files are kept in {stored[0].path.parent}; upload them again or run `rag-app ingest` on it"

    if "text/event-stream" not in request.headers.get("accept", ""):
        try:
            report = await worker.run(lambda: pipeline.ingest_files(named))
        except QueueFull as exc:
            raise busy_error(exc) from None
        except Exception as exc:
            raise HTTPException(500, f"Ingest failed ({type(exc).__name__}: {exc}); {kept}.") from exc
        body = _report(stored, report.to_json())
        return _all_failed(body) or body

    def job(emit: Emit) -> None:
        done = 0

        def progress(source: str, status: str) -> None:
            nonlocal done
            done += 1
            emit({"event": "progress", "source": source, "status": status, "done": done, "total": len(named)})

        # Ingest runs to its end even when the client goes away: the files are uploaded, so index them.
        emit({"event": "report", **_report(stored, pipeline.ingest_files(named, on_file=progress).to_json())})

    try:
        items = worker.stream(job)
    except QueueFull as exc:
        raise busy_error(exc) from None

    async def events() -> AsyncIterator[str]:
        yield sse("stored", {"uploads": [{"filename": s.filename, "source": s.source} for s in stored]})
        try:
            async for item in items:
                event = item.pop("event")
                yield sse(event, item)
        except Exception as exc:
            yield sse("error", {"detail": f"Ingest failed ({type(exc).__name__}: {exc}); {kept}."})

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/sources", response_model=list[IndexedSource], summary="Indexed sources and their chunk counts")
async def list_sources(state: State) -> list[dict[str, Any]]:
    rows = await anyio.to_thread.run_sync(state.pipeline.sources)
    return [{"source": source, "chunks": count} for source, count in rows]


@router.delete("/sources/{source:path}", response_model=Removed, summary="Remove one source from the index")
async def remove_source(source: str, state: State) -> dict[str, Any]:
    remove: Callable[[], int] = lambda: state.pipeline.remove(source)  # noqa: E731
    try:
        removed = await state.writer.run(remove)
    except QueueFull as exc:
        raise busy_error(exc) from None
    if not removed:
        raise HTTPException(404, f"No chunks of {source!r} in the index; GET /api/sources lists the indexed sources.")
    return {"source": source, "chunks_removed": removed}


class IngestPathsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(min_length=1, max_length=1000,
                             description="Absolute paths of files and folders on the server's machine.")
    glob: list[str] | None = Field(None, max_length=100, description="As --glob: only matching files; default all.")
    prune: bool = Field(False, description="As --prune: remove every source not seen under these paths.")

    @field_validator("paths")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        relative = [p for p in paths if not p.startswith("/")]
        if relative:
            raise ValueError(f"paths must be absolute (the server's working folder is not yours): {relative[0]!r}")
        return paths


_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _local_caller(request: Request) -> None:
    """A 403 unless the request comes straight from this machine (the paths are read with the server's rights)."""
    host = request.client.host if request.client else ""
    if not _loopback(host) or any(h in request.headers for h in _PROXY_HEADERS):
        raise HTTPException(403, "POST /api/ingest/paths reads files on the server's machine: it answers requests "
                                 "from that machine only (not through a proxy). Upload files with POST /api/ingest.")


@router.post("/ingest/paths", response_model=IngestResponse,
             summary="Ingest files and folders on the server's machine (what `rag-app ingest --server` sends)",
             responses={403: {"description": "not from the loopback interface"}})
async def ingest_paths(body: IngestPathsRequest, request: Request, state: State) -> dict[str, Any]:
    _local_caller(request)
    writer: ModelWorker = state.writer
    patterns = tuple(body.glob) if body.glob else ("*",)
    run: Callable[[], Any] = lambda: state.pipeline.ingest([Path(p) for p in body.paths], glob=patterns,  # noqa: E731
                                                           prune=body.prune)
    try:
        report = await writer.run(run)
    except QueueFull as exc:
        raise busy_error(exc) from None
    return {**report.to_json(), "uploads": []}
