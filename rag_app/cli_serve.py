"""``rag-app serve``: load the models once, then serve the API, the OpenAI-compatible endpoint and the web page.

Registered on the ``rag-app`` typer app in :mod:`rag_app.cli`. It refuses, before loading anything, to listen
beyond loopback without a bearer token (:func:`rag_app.server.check_bind`). On an embedded Chroma db it claims
the db for as long as it runs (:mod:`ingest.claim`): an ingest in another process is then refused and told to
use ``rag-app ingest --server``. With ``--watch PATH`` the server itself keeps its index in step with folders
(:mod:`ingest.watch`), writing from a thread of its own while it answers.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["serve_command"]


def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on \\[server.host: 127.0.0.1]. Anything but loopback needs RAG_APP_API_TOKEN.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port \\[server.port: 8000].")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="Folder of the embedded Chroma database and the ingest records \\[index.db: .rag-app].")] = None,
    collection: Annotated[str | None, typer.Option("--collection", help="Chroma collection name \\[index.collection: documents].")] = None,
    chroma_host: Annotated[str | None, typer.Option("--chroma-host", help="Use a Chroma server at this host instead of the embedded database \\[index.chroma_host].")] = None,
    chroma_port: Annotated[int | None, typer.Option("--chroma-port", help="Port of the Chroma server \\[index.chroma_port: 8000].")] = None,
    watch: Annotated[list[Path] | None, typer.Option("--watch", help="Keep the index in step with this folder (repeatable): ingested at start, then every change, as `rag-app ingest --watch` does.")] = None,
    glob: Annotated[list[str] | None, typer.Option("--glob", help="With --watch: only files whose name or relative path matches (repeatable).")] = None,
) -> None:
    """Serve the API (/api, /v1/chat/completions), its OpenAPI schema (/docs) and the web page (/)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag_app.config import ConfigError, load_settings
    from rag_app.server import UnsafeBindError, api_token, check_bind

    err = Console(stderr=True)
    try:
        settings = load_settings(
            (ctx.obj or {}).get("config"),
            index={"db": db, "collection": collection, "chroma_host": chroma_host, "chroma_port": chroma_port},
            server={"host": host, "port": port},
        )
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]", markup=True, highlight=False)
        raise typer.Exit(2) from None
    server = settings.server
    try:
        check_bind(server.host, api_token(settings))
    except UnsafeBindError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    import uvicorn

    from ingest.chroma_store import StoreError
    from ingest.claim import claim_for_serving
    from rag_app.pipeline import build_pipeline
    from rag_app.server import create_app

    shown = f"[{server.host}]" if ":" in server.host else server.host
    url = f"http://{shown}:{server.port}"
    claim = None
    try:
        if settings.index.chroma_host is None:
            claim = claim_for_serving(settings.index.db, url)
        with err.status("Loading the models (once, shared by every request)…"):
            pipeline = build_pipeline(settings)
    except (ValueError, StoreError) as exc:
        if claim is not None:
            claim.release()
        err.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    stop = threading.Event()
    watcher = None
    try:
        app = create_app(pipeline, settings)
        if watch:
            watcher = _start_watch(pipeline, watch, tuple(glob) if glob else ("*",), stop, err)
        err.print(f"rag-app: {pipeline.chunk_count} chunks in {pipeline.location}; open {url}/",
                  markup=False, highlight=False)
        uvicorn.run(app, host=server.host, port=server.port, log_level="info", timeout_graceful_shutdown=5)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=60)
        pipeline.close()
        if claim is not None:
            claim.release()


def _start_watch(pipeline, paths: list[Path], patterns: tuple[str, ...], stop: threading.Event,  # noqa: ANN001
                 err: Console) -> threading.Thread:
    """Watch ``paths`` from a thread of the server: an ingest first, then each change; one line per change on
    stderr. Embedding runs on the server's model thread; the app's follower refreshes the retriever."""
    from ingest.watch import watch
    from rag_app.cli import change_line

    def started() -> None:
        report = pipeline.ingest(paths, glob=patterns)
        err.print(f"rag-app: watching {', '.join(str(p) for p in paths)}: {report.files_ingested} ingested, "
                  f"{report.files_unchanged} unchanged, {len(report.files_failed)} failed", markup=False,
                  highlight=False)

    def changed(report) -> None:  # noqa: ANN001 - a FileReport
        if report.status != "unchanged":
            err.print(change_line(report))

    def run() -> None:
        try:
            watch(pipeline.ingestor(), paths, glob=patterns, exclude=(Path(pipeline.settings.index.db),),
                  quiet=pipeline.settings.ingest.watch_debounce, stop=stop, on_start=started,
                  on_report=changed)  # the app's follower thread refreshes the retriever after each commit
        except Exception as exc:  # noqa: BLE001 - the server keeps answering; say why the watch ended
            err.print(f"rag-app: the watch stopped: {type(exc).__name__}: {exc}", style="red", markup=False,
                      highlight=False)

    thread = threading.Thread(target=run, name="rag-watch", daemon=True)
    thread.start()
    return thread
