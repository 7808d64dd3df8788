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


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (default: ./rag-app.toml when present).")] = None,
) -> None:
    """Settings come from --config (or ./rag-app.toml), RAG_APP_* variables and the options of each command."""
    ctx.obj = {"config": config}


def _settings(ctx: typer.Context, **sections: dict):  # noqa: ANN202
    """Load the settings with this command's options on top; a bad setting exits with its message."""
    from rag_app.config import ConfigError, load_settings

    try:
        return load_settings((ctx.obj or {}).get("config"), **sections)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


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


DbOption = Annotated[Path | None, typer.Option("--db", help="Folder of the embedded Chroma database and the ingest records [index.db: .rag-app].")]
CollectionOption = Annotated[str | None, typer.Option("--collection", help="Chroma collection name [index.collection: documents].")]
HostOption = Annotated[str | None, typer.Option("--chroma-host", help="Use a Chroma server at this host instead of the embedded database [index.chroma_host].")]
PortOption = Annotated[int | None, typer.Option("--chroma-port", help="Port of the Chroma server [index.chroma_port: 8000].")]
EmbedderOption = Annotated[str | None, typer.Option("--embedder", help="Embedding model: bundled alias, local folder or hub id [retrieval.embedder: minilm].")]


def _index_section(db: Path | None, collection: str | None, host: str | None, port: int | None) -> dict:
    return {"db": db, "collection": collection, "chroma_host": host, "chroma_port": port}


def _store(settings, embedding=None):  # noqa: ANN001, ANN202
    from ingest.indexing import open_store

    index = settings.index
    return open_store(index.db, index.collection, embedding, host=index.chroma_host,
                      port=index.chroma_port if index.chroma_host else None)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    db: DbOption = None,
    collection: CollectionOption = None,
    glob: Annotated[list[str] | None, typer.Option("--glob", help="Only files whose name or relative path matches (repeatable).")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove the chunks of every source not seen in this run (deleted files, or files outside the given paths and globs).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    chunk_size: Annotated[int | None, typer.Option(help="Chunk size in embedder tokens [ingest.chunk_size: 200].")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Overlap between consecutive chunks, in tokens [ingest.chunk_overlap: 40].")] = None,
    pdf_password: Annotated[str | None, typer.Option(help="Password for encrypted PDFs [ingest.pdf_password, or RAG_APP_INGEST__PDF_PASSWORD].")] = None,
    embedder: EmbedderOption = None,
    contextual: Annotated[bool | None, typer.Option("--contextual/--no-contextual", help="Embed each chunk with its title and heading path in front; the stored text is unchanged [ingest.contextual: on].")] = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Ingest documents (PDF, HTML, Markdown, text, DOCX) into Chroma; unchanged files are skipped.

    Exit code 0 when every file was ingested or unchanged, 2 when some failed (the rest is committed).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.walk import walk
    from rag_app.indexes import open_index

    settings = _settings(
        ctx, index=_index_section(db, collection, chroma_host, chroma_port),
        ingest={"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "pdf_password": pdf_password,
                "contextual": contextual},
        retrieval={"embedder": embedder},
    )
    index, options = settings.index, settings.ingest
    password = options.pdf_password.get_secret_value() if options.pdf_password else None
    handle = open_index(index.db, index.collection, settings.retrieval.embedder, host=index.chroma_host,
                        port=index.chroma_port if index.chroma_host else None, contextual=options.contextual)
    ingestor = handle.ingestor(chunk_size=options.chunk_size, chunk_overlap=options.chunk_overlap, pdf_password=password)
    patterns = tuple(glob) if glob else ("*",)
    total = sum(1 for _ in walk(list(paths), patterns, exclude=(index.db,)))
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=as_json, transient=True) as progress:
        task = progress.add_task("Ingesting", total=total)

        def advance(source: str, status: str) -> None:
            progress.update(task, advance=1, description=f"{status}: {source}")

        report = ingestor.ingest(list(paths), glob=patterns, prune=prune, exclude=(index.db,), on_file=advance)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        table = Table(title=f"Ingest into {index.collection} ({handle.store.location})")
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
def retrieve(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question (or use --queries).")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help='JSONL file of {"id": ..., "query": ...} lines; models load once.')] = None,
    k: Annotated[int | None, typer.Option("--k", help="Passages to return [retrieval.top_n: 4].")] = None,
    db: DbOption = None,
    collection: CollectionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one line per query with --queries).")] = False,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Retrieve (and rerank) the best passages for a question, or for every line of a JSONL file."""
    from rag_app.retrieval import build_retrieval

    if (question is None) == (queries is None):
        raise typer.BadParameter("give either a QUESTION or --queries FILE.jsonl, not both", param_hint="QUESTION")
    items = [{"id": None, "query": question}] if question is not None else _read_queries(queries)
    top_n = k
    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port),
                         retrieval={"top_n": top_n, "k": max(top_n, 20) if top_n else None})
    try:
        stack = build_retrieval(settings)
    except LookupError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    for item in items:
        results = [
            {"text": d.page_content, "source": d.metadata.get("source"), "page": d.metadata.get("page"),
             "score": d.metadata.get("relevance_score", d.metadata.get("fused_score"))}
            for d in stack.search(item["query"])
        ]
        if as_json:
            record = {"query": item["query"], "results": results}
            typer.echo(json.dumps(record if question is not None else {"id": item["id"], **record}, ensure_ascii=False))
            continue
        table = Table(title=item["query"], show_lines=True)
        for col in ("#", "source", "page", "score", "text"):
            table.add_column(col)
        for i, r in enumerate(results, 1):
            table.add_row(str(i), str(r["source"]), "" if r["page"] is None else str(r["page"]),
                          "" if r["score"] is None else f"{r['score']:.3f}", r["text"])
        console.print(table)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    as_json: Annotated[bool, typer.Option("--json", help='Print {"answer": ..., "sources": [...]}.')] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Print the answer once it is complete.")] = False,
    db: DbOption = None,
    collection: CollectionOption = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Answer a question from the ingested documents, citing passages as [1], [2]; then list the sources."""
    from rag_app.chain import build_chain
    from rag_app.generators import DEFAULT_CONTEXT_WINDOW, build_generator
    from rag_app.retrieval import build_retrieval

    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port))
    try:
        stack = build_retrieval(settings)
    except LookupError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    llm = build_generator(settings.generator)
    client = getattr(llm, "client", None)
    count = (lambda text: len(client.tokenize(text.encode("utf-8"), add_bos=False))) if client is not None else None
    budget = DEFAULT_CONTEXT_WINDOW - settings.generator.max_new_tokens - 512  # room for instructions and question
    chain = build_chain(stack.retriever, llm, reranker=stack.reranker, top_n=settings.retrieval.top_n,
                        context_tokens=budget, count_tokens=count)
    if as_json or no_stream:
        result = chain.invoke({"question": question})
        answer, found = result["answer"], result["sources"]
        if not as_json:
            console.print(answer)
    else:
        answer, found = "", []
        for chunk in chain.stream({"question": question}):
            if "sources" in chunk:
                found = chunk["sources"]
            if "answer" in chunk:
                answer += chunk["answer"]
                console.print(chunk["answer"], end="", soft_wrap=True, highlight=False, markup=False)
        console.print()
    if as_json:
        typer.echo(json.dumps({"answer": answer, "sources": [
            {k: s[k] for k in ("id", "source", "page", "score", "text")} for s in found]}, ensure_ascii=False))
        return
    table = Table(title="Sources", show_lines=True)
    for col in ("#", "source", "page", "score", "passage"):
        table.add_column(col)
    for s in found:
        table.add_row(str(s["id"]), str(s["source"]), "" if s["page"] is None else str(s["page"]),
                      "" if s["score"] is None else f"{s['score']:.3f}", s["text"])
    console.print(table)


def _read_queries(path: Path) -> list[dict]:
    """``{"id", "query"}`` records, with an error naming the line and field of any bad one."""
    if not path.is_file():
        raise typer.BadParameter(f"{path} does not exist.", param_hint="--queries")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"{path}:{number}: not JSON ({exc.msg})", param_hint="--queries") from None
        if not isinstance(record, dict) or not isinstance(record.get("query"), str) or not record["query"].strip():
            raise typer.BadParameter(f'{path}:{number}: needs a non-empty string "query"', param_hint="--queries")
        items.append({"id": record.get("id", number), "query": record["query"]})
    return items


@app.command()
def sources(
    ctx: typer.Context,
    db: DbOption = None,
    collection: CollectionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """List the indexed sources and their chunk counts."""
    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port))
    rows = _store(settings).sources()
    if as_json:
        typer.echo(json.dumps([{"source": s, "chunks": n} for s, n in rows]))
        return
    table = Table(title=f"Sources in {settings.index.collection}")
    table.add_column("source")
    table.add_column("chunks", justify="right")
    for source, count in rows:
        table.add_row(source, str(count))
    console.print(table)


@app.command()
def remove(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Source to remove, as listed by `rag-app sources`.")],
    db: DbOption = None,
    collection: CollectionOption = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Remove one source's chunks from the index."""
    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port))
    removed = _store(settings).remove_source(source)
    if not removed:
        console.print(f"[red]No chunks of {source!r} in {settings.index.collection}.[/] See `rag-app sources`.")
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
