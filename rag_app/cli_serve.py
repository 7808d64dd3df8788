"""``rag-app serve``: load the models once, then serve the API, the OpenAI-compatible endpoint and the web page.

Registered on the ``rag-app`` typer app in :mod:`rag_app.cli`. It refuses, before loading anything, to listen
beyond loopback without a bearer token (:func:`rag_app.server.check_bind`).
"""

from __future__ import annotations

import os
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
    from rag_app.pipeline import build_pipeline
    from rag_app.server import create_app

    try:
        with err.status("Loading the models (once, shared by every request)…"):
            pipeline = build_pipeline(settings)
    except (ValueError, StoreError) as exc:
        err.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    app = create_app(pipeline, settings, close_pipeline=True)
    shown = f"[{server.host}]" if ":" in server.host else server.host
    err.print(f"rag-app: {pipeline.chunk_count} chunks in {pipeline.location}; open http://{shown}:{server.port}/",
              markup=False, highlight=False)
    uvicorn.run(app, host=server.host, port=server.port, log_level="info", timeout_graceful_shutdown=5)
