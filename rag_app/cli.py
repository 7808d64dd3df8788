"""The ``rag-app`` command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Retrieval-augmented generation over your own documents, on your own machine.", no_args_is_help=True)
console = Console()


@app.command()
def demo(
    data: Annotated[Path | None, typer.Option(help="Folder of documents (default: the bundled samples in examples/data).")] = None,
    reranker: Annotated[str, typer.Option(help="colbert (MaxSim over MiniLM token vectors), llm (SmolLM2 yes/no) or none.")] = "colbert",
) -> None:
    """Ingest the sample documents into a temporary collection, then retrieve and rerank, offline."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag_app.demo import RERANKERS, SAMPLE_DATA, run_demo

    folder = data or SAMPLE_DATA
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder.", param_hint="--data")
    if reranker not in RERANKERS:
        raise typer.BadParameter(f"choose one of {', '.join(RERANKERS)}; got {reranker!r}.", param_hint="--reranker")
    run_demo(folder, console, reranker=reranker)


DbOption = Annotated[Path, typer.Option("--db", help="Folder of the embedded Chroma database and the ingest records.")]
CollectionOption = Annotated[str, typer.Option("--collection", help="Chroma collection name.")]
HostOption = Annotated[str | None, typer.Option("--chroma-host", help="Use a Chroma server at this host instead of the embedded database.")]
PortOption = Annotated[int, typer.Option("--chroma-port", help="Port of the Chroma server.")]
EmbedderOption = Annotated[str, typer.Option("--embedder", help="Embedding model: bundled alias, local folder or hub id.")]


def _open(db: Path, collection: str, embedder: str, host: str | None, port: int, contextual: bool = True):  # noqa: ANN202
    from rag_app.indexes import open_index

    return open_index(db, collection, embedder, host=host, port=port if host else None, contextual=contextual)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    db: DbOption = Path(".rag-app"),
    collection: CollectionOption = "documents",
    glob: Annotated[list[str] | None, typer.Option("--glob", help="Only files whose name or relative path matches (repeatable).")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove the chunks of every source not seen in this run (deleted files, or files outside the given paths and globs).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    chunk_size: Annotated[int, typer.Option(help="Chunk size in embedder tokens.")] = 200,
    chunk_overlap: Annotated[int, typer.Option(help="Overlap between consecutive chunks, in tokens.")] = 40,
    pdf_password: Annotated[str | None, typer.Option(help="Password for encrypted PDFs.", envvar="RAG_APP_PDF_PASSWORD")] = None,
    embedder: EmbedderOption = "minilm",
    contextual: Annotated[bool, typer.Option(help="Embed each chunk with its title and heading path in front (stored text unchanged).")] = True,
    chroma_host: HostOption = None,
    chroma_port: PortOption = 8000,
) -> None:
    """Ingest documents (PDF, HTML, Markdown, text, DOCX) into Chroma; unchanged files are skipped.

    Exit code 0 when every file was ingested or unchanged, 2 when some failed (the rest is committed).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.walk import walk

    patterns = tuple(glob) if glob else ("*",)
    handle = _open(db, collection, embedder, chroma_host, chroma_port, contextual)
    ingestor = handle.ingestor(chunk_size=chunk_size, chunk_overlap=chunk_overlap, pdf_password=pdf_password)
    total = sum(1 for _ in walk(list(paths), patterns, exclude=(db,)))
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=as_json, transient=True) as progress:
        task = progress.add_task("Ingesting", total=total)

        def advance(source: str, status: str) -> None:
            progress.update(task, advance=1, description=f"{status}: {source}")

        report = ingestor.ingest(list(paths), glob=patterns, prune=prune, exclude=(db,), on_file=advance)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        table = Table(title=f"Ingest into {collection} ({db if not chroma_host else f'{chroma_host}:{chroma_port}'})")
        for col in ("files seen", "ingested", "unchanged", "failed", "chunks added", "chunks deleted", "chunks total"):
            table.add_column(col, justify="right")
        table.add_row(*(str(v) for v in (report.files_seen, report.files_ingested, report.files_unchanged,
                                          len(report.files_failed), report.chunks_added, report.chunks_deleted,
                                          report.chunks_total)))
        console.print(table)
        for failure in report.files_failed:
            console.print(f"[red]failed[/] {failure.source}: {failure.error}")
    raise typer.Exit(0 if report.ok else 2)


@app.command()
def sources(
    db: DbOption = Path(".rag-app"),
    collection: CollectionOption = "documents",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    chroma_host: HostOption = None,
    chroma_port: PortOption = 8000,
) -> None:
    """List the indexed sources and their chunk counts."""
    from ingest.indexing import open_store

    store = open_store(db, collection, None, host=chroma_host, port=chroma_port if chroma_host else None)
    rows = store.sources()
    if as_json:
        typer.echo(json.dumps([{"source": s, "chunks": n} for s, n in rows]))
        return
    table = Table(title=f"Sources in {collection}")
    table.add_column("source")
    table.add_column("chunks", justify="right")
    for source, count in rows:
        table.add_row(source, str(count))
    console.print(table)


@app.command()
def remove(
    source: Annotated[str, typer.Argument(help="Source to remove, as listed by `rag-app sources`.")],
    db: DbOption = Path(".rag-app"),
    collection: CollectionOption = "documents",
    chroma_host: HostOption = None,
    chroma_port: PortOption = 8000,
) -> None:
    """Remove one source's chunks from the index."""
    from ingest.indexing import open_store

    store = open_store(db, collection, None, host=chroma_host, port=chroma_port if chroma_host else None)
    removed = store.remove_source(source)
    if not removed:
        console.print(f"[red]No chunks of {source!r} in {collection}.[/] See `rag-app sources`.")
        raise typer.Exit(1)
    console.print(f"Removed {removed} chunks of {source}.")


@app.command()
def models() -> None:
    """List the bundled model aliases and where they are on disk."""
    from retrievers import BUNDLED_ALIASES, ModelNotFoundError, resolve_model

    table = Table(title="Bundled models")
    table.add_column("alias")
    table.add_column("location")
    for alias in BUNDLED_ALIASES:
        try:
            resolved = resolve_model(alias)
            where = str(resolved.path / resolved.gguf_file) if resolved.is_gguf else str(resolved.path)
        except ModelNotFoundError as exc:
            where = f"[red]{exc}[/]"
        table.add_row(alias, where)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
