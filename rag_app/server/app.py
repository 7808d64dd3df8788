"""The FastAPI application: :func:`create_app` wires a ready :class:`~rag_app.pipeline.Pipeline` to HTTP.

The app factory takes the pipeline (models already loaded by :func:`rag_app.pipeline.build_pipeline`, shared by
every request) instead of building it, so tests pass one over a fake chat model and a tiny embedder, and
``rag-app serve`` loads the real ones once, before the first request. Routes: ``/api/*`` (:mod:`rag_app.server.api`), ``/v1/*`` (:mod:`rag_app.server.openai_compat`),
the web page at ``/`` with its files under ``/static``, the OpenAPI schema at ``/openapi.json``, and its pages
``/docs`` (Swagger UI) and ``/redoc``, whose scripts and styles come from the installed ``fastapi-offline``
package under ``/docs-assets`` (FastAPI's default fetches them from a CDN: a blank page offline).

Safety: with a token (``RAG_APP_API_TOKEN`` or ``server.api_token``) every ``/api`` and ``/v1`` route but
``/api/health`` needs it; the page and the schema do not (they hold no data). Request bodies are capped
(:class:`BodySizeLimit`): uploads at ``max_upload_files`` × ``max_upload_mb``, everything else at 1 MiB.
CORS is off unless ``server.cors_origins`` lists origins. The page is served with a strict
Content-Security-Policy (scripts and styles from this server only).

Threads: model work runs on the model worker; writes to the index (uploads, ``/api/ingest/paths``, removals)
on a second worker, whose embedding batches go to the model worker (:mod:`rag_app.server.worker`), so
questions never wait for an ingest. A follower thread calls :meth:`~rag_app.pipeline.Pipeline.refresh_if_changed`
every ``follow_index`` seconds, so the retriever (BM25, the chunk count) follows writes made by another process
sharing the index's records (an ingest into the same Chroma server with the same ``--db``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_app.config import Settings
from rag_app.pipeline import Pipeline, upload_folder
from rag_app.server import api, openai_compat
from rag_app.server.errors import error_response
from rag_app.server.security import TokenGate, api_token, bearer_scheme
from rag_app.server.state import ServerState
from rag_app.server.uploads import UploadPolicy
from rag_app.server.worker import ModelWorker

__all__ = ["DOCS_ASSETS_DIR", "FOLLOW_INDEX_SECONDS", "JSON_BODY_LIMIT", "STATIC_DIR", "BodySizeLimit", "create_app"]

FOLLOW_INDEX_SECONDS = 2.0
"""How often the server looks for writes by other processes (and the least time between two rebuilds)."""

STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
"""Swagger UI and ReDoc, as the ``fastapi-offline`` package ships them (served under ``/docs-assets``)."""
JSON_BODY_LIMIT = 2**20
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class BodySizeLimit:
    """Pure ASGI middleware: a 413 for a request body over the limit, from ``Content-Length`` before reading,
    or while reading a body without one (chunked), before it is all spooled to disk."""

    def __init__(self, app: ASGIApp, *, upload_path: str, upload_limit: int, default_limit: int = JSON_BODY_LIMIT) -> None:
        self.app = app
        self.upload_path = upload_path
        self.upload_limit = upload_limit
        self.default_limit = default_limit

    def _message(self, limit: int, upload: bool) -> str:
        what = "upload (server.max_upload_files × server.max_upload_mb)" if upload else "JSON body"
        return f"Request body too large: the limit for this {what} is {limit / 2**20:g} MiB."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"] == self.upload_path
        limit = self.upload_limit if upload else self.default_limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse({"detail": self._message(limit, upload)}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._message(limit, upload))
            return message

        await self.app(scope, limited_receive, send)


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return error_response(request.url.path, status, message, headers, **extra)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


SEND_JSON = "Send a JSON object with Content-Type: application/json."


def _not_a_json_object(request: Request, errors: list[dict[str, Any]]) -> str | None:
    """Why the body as a whole is not the JSON object a route expects (an error located at ``body`` itself, not
    at one of its fields), or ``None``."""
    whole = next((e for e in errors if tuple(e.get("loc", ())) == ("body",)), None)
    if whole is None or isinstance(whole.get("input"), dict):  # an object that fails a check of the whole: 422
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip() or "none"
    if whole.get("type") == "missing":
        return f"The request body is missing. {SEND_JSON}"
    if isinstance(whole.get("input"), bytes | str) and content_type != "application/json":
        return f"The request body was not read as JSON (Content-Type: {content_type}). {SEND_JSON}"
    return f"The request body must be a JSON object, not {type(whole.get('input')).__name__}. {SEND_JSON}"


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """400 for a body that is not a JSON object (unparsable, another content type, an array), 422 for a
    missing, misspelt or invalid field."""
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        position = bad_json.get("loc", ("body", "?"))[-1]
        reason = (bad_json.get("ctx") or {}).get("error", "invalid JSON")
        return _error(request, 400, f"The request body is not valid JSON: {reason} at character {position}. {SEND_JSON}")
    not_json = _not_a_json_object(request, errors)
    if not_json is not None:
        return _error(request, 400, not_json)
    message = "Invalid request: " + "; ".join(_describe(e) for e in errors)
    return _error(request, 422, message, errors=[
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors])


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return _error(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 500, f"Internal error: {type(exc).__name__}: {exc}")


def _api_pages(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` with their scripts and styles served by this server, not a CDN."""
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js", swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png", oauth2_redirect_url=f"{root}{redirect}")

    @app.get(redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - API",
                              redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
                              redoc_favicon_url=f"{root}/docs-assets/favicon.png", with_google_fonts=False)


def upload_policy(settings: Settings) -> UploadPolicy:
    """Where uploads go and what is accepted, from ``[server]`` (default folder: ``<index.db>/uploads``)."""
    server = settings.server
    return UploadPolicy(
        folder=upload_folder(settings),
        max_bytes=int(server.max_upload_mb * 2**20),
        allowed_suffixes=tuple(server.upload_types),
        max_files=server.max_upload_files,
    )


def _follow(pipeline: Pipeline, interval: float, stop: threading.Event) -> None:
    """Refresh ``pipeline``'s retriever when the index changed, every ``interval`` seconds, until ``stop``."""
    while not stop.wait(interval):
        try:
            pipeline.refresh_if_changed(interval)
        except Exception:  # noqa: BLE001 - an index being rewritten: try again at the next tick
            continue


def create_app(
    pipeline: Pipeline,
    settings: Settings | None = None,
    *,
    close_pipeline: bool = False,
    follow_index: float | None = FOLLOW_INDEX_SECONDS,
) -> FastAPI:
    """The server for ``pipeline``, configured by ``settings`` (``[server]`` and ``index.db``; default: the
    pipeline's).

    The bearer token comes from ``settings`` or ``RAG_APP_API_TOKEN`` (:func:`~rag_app.server.security.api_token`).
    Binding checks are the caller's (``rag-app serve`` calls :func:`~rag_app.server.security.check_bind`).
    ``close_pipeline``: close the pipeline (models and index) when the app shuts down. ``follow_index``: seconds
    between two looks for writes by other processes (``None``: never look; see the module docstring).
    The pipeline's ingests embed on the app's model worker from now on (``pipeline.run_model``).
    """
    settings = settings or pipeline.settings
    worker = ModelWorker(settings.server.max_queue)
    ingester = ModelWorker(settings.server.max_queue, name="rag-ingest")
    pipeline.run_model = worker.call
    policy = upload_policy(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        follower = None
        if follow_index is not None:
            follower = threading.Thread(target=_follow, args=(pipeline, follow_index, stop), name="rag-follow",
                                        daemon=True)
            follower.start()
        yield
        stop.set()
        ingester.shutdown()
        worker.shutdown()
        if pipeline.run_model == worker.call:
            pipeline.run_model = None  # the pipeline may outlive the app (tests): embed in the caller's thread
        if follower is not None:
            follower.join(timeout=30)
        if close_pipeline:
            pipeline.close()

    app = FastAPI(
        title="rag-app",
        summary="Answers from your documents, with citations: ask, chat, ingest, sources, OpenAI-compatible chat.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by _api_pages, without a CDN
        redoc_url=None,
    )
    app.state.rag = ServerState(pipeline=pipeline, worker=worker, uploads=policy, ingester=ingester)
    guard = [Depends(bearer_scheme)]  # documents the scheme; TokenGate enforces it before the body is read
    app.include_router(api.health_router, prefix="/api")
    app.include_router(api.router, prefix="/api", dependencies=guard)
    app.include_router(openai_compat.router, prefix="/v1", dependencies=guard)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _api_pages(app)
    app.add_middleware(BodySizeLimit, upload_path="/api/ingest",
                       upload_limit=policy.max_bytes * policy.max_files + 2**20)  # + room for the form's framing
    app.add_middleware(TokenGate, token=api_token(settings))  # outside the size limit: 401 before 413
    if settings.server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.server.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type", "Accept"])
    return app
