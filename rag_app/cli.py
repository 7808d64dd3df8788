"""The ``rag-app`` command line."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


ModeOption = Annotated[str | None, typer.Option("--mode", help="Answer mode: generate, extract or verified "
                                                 "(default: generator.answer_mode).")]


@app.command()
def demo(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option(help="Folder of documents (default: the bundled samples in rag_app/sample_data).")] = None,
    reranker: Annotated[str | None, typer.Option(help="colbert (MaxSim over MiniLM token vectors, fused with the dense score: the default), none (dense retrieval alone) or llm (SmolLM2 yes/no); unset: the settings' reranker.")] = None,
    mode: ModeOption = None,
) -> None:
    """Ingest sample documents into a temporary collection, answer three questions with sources, time each step."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag_app.demo import RERANKERS, SAMPLE_DATA, run_demo

    folder = data or SAMPLE_DATA
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder.", param_hint="--data")
    if reranker is not None and reranker not in RERANKERS:
        raise typer.BadParameter(f"choose one of {', '.join(RERANKERS)}; got {reranker!r}.", param_hint="--reranker")
    settings = _settings(ctx, **_mode_section(mode))
    try:
        run_demo(folder, console, reranker=reranker, settings=settings)
    except (LookupError, ValueError) as exc:
        _fail(exc)


# Help texts go through rich markup: "\\[" keeps a "[setting: default]" note from being read as a style tag.
DbOption = Annotated[Path | None, typer.Option("--db", help="Folder of the embedded Chroma database and the ingest records \\[index.db: .rag-app].")]
CollectionOption = Annotated[str | None, typer.Option("--collection", help="Chroma collection name \\[index.collection: documents].")]
HostOption = Annotated[str | None, typer.Option("--chroma-host", help="Use a Chroma server at this host instead of the embedded database \\[index.chroma_host].")]
PortOption = Annotated[int | None, typer.Option("--chroma-port", help="Port of the Chroma server \\[index.chroma_port: 8000].")]
EmbedderOption = Annotated[str | None, typer.Option("--embedder", help="Embedding model: bundled alias, local folder or hub id \\[retrieval.embedder: minilm].")]


def _index_section(db: Path | None, collection: str | None, host: str | None, port: int | None) -> dict:
    return {"db": db, "collection": collection, "chroma_host": host, "chroma_port": port}


def _mode_section(mode: str | None) -> dict:
    """``--mode`` as a ``[generator]`` override (none when unset)."""
    return {"generator": {"answer_mode": mode}} if mode else {}


def _fail(exc: Exception, code: int = 1) -> NoReturn:
    """Print ``exc`` on stderr and exit with ``code``."""
    Console(stderr=True).print(str(exc), style="red", markup=False, highlight=False)
    raise typer.Exit(code) from None


def _open_pipeline(settings, *, generator: bool = True, require_documents: bool = True):  # noqa: ANN001, ANN202
    """The pipeline of ``settings`` (:func:`rag_app.pipeline.build_pipeline`); no index, an empty collection,
    or a generator that cannot hold the prompt exits 1 with the reason (before any model loads, for the index)."""
    from ingest.layout import missing_index

    index = settings.index
    if require_documents and (missing := missing_index(index.db, index.collection, index.chroma_host)):
        _fail(LookupError(missing))  # at once: before Chroma, torch or a model loads
    from ingest.chroma_store import StoreError
    from rag_app.pipeline import build_pipeline

    try:
        return build_pipeline(settings, generator=generator, require_documents=require_documents)
    except (LookupError, ValueError, StoreError) as exc:
        _fail(exc)


def _write(text: str) -> None:
    """Print answer text as is: no markup, no highlighting, no wrapping of its own, no newline added."""
    console.print(text, end="", markup=False, highlight=False, soft_wrap=True)


def _reader(settings):  # noqa: ANN001, ANN202
    """The configured collection, read-only (no lock, no model); no index exits 1 saying to ingest."""
    from ingest.layout import missing_index

    index = settings.index
    if missing := missing_index(index.db, index.collection, index.chroma_host):
        _fail(LookupError(missing))
    from ingest.chroma_store import StoreError
    from rag_app.pipeline import open_reader_for

    try:
        return open_reader_for(settings)
    except (LookupError, StoreError) as exc:
        _fail(exc)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    db: DbOption = None,
    collection: CollectionOption = None,
    glob: Annotated[list[str] | None, typer.Option("--glob", help="Only files whose name or relative path matches (repeatable).")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove the chunks of every source not seen in this run (deleted files, or files outside the given paths and globs).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object: the counts, and every file with its status, chunks and warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every file, not only those that need attention (failed, kept, pruned, with warnings).")] = False,
    chunk_size: Annotated[int | None, typer.Option(help="Chunk size in embedder tokens \\[ingest.chunk_size: 200].")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Overlap between consecutive chunks, in tokens \\[ingest.chunk_overlap: 40].")] = None,
    pdf_password: Annotated[str | None, typer.Option(help="Password for encrypted PDFs \\[ingest.pdf_password, or RAG_APP_INGEST__PDF_PASSWORD].")] = None,
    embedder: EmbedderOption = None,
    contextual: Annotated[bool | None, typer.Option("--contextual/--no-contextual", help="Embed each chunk with its title and heading path in front; the stored text is unchanged \\[ingest.contextual: on].")] = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
    watch: Annotated[bool, typer.Option("--watch", help="After the ingest, keep the index in step with PATHS: files created, changed, renamed or deleted are ingested or removed once they settle, one line each; Ctrl-C stops.")] = False,
    debounce: Annotated[float | None, typer.Option("--debounce", min=0.0, help="With --watch: seconds a changed file must keep its size and time before it is read \\[ingest.watch_debounce: 1.0].")] = None,
    server: Annotated[str | None, typer.Option("--server", help="Ingest through the running `rag-app serve` at this URL (e.g. http://127.0.0.1:8000), into its index with its settings; it reads PATHS on its machine. Needed while a server holds an embedded db.")] = None,
) -> None:
    """Ingest documents (PDF, HTML, Markdown, text, DOCX, PPTX, XLSX, CSV, EPUB, .eml) into Chroma; unchanged files are skipped.

    Sources are named relative to the collection root that the first ingest records (README: "How a source
    is named"). The report lists the files that need attention (failed, kept, pruned, with warnings) and
    counts the rest; --verbose lists every file. With --watch, the ingest is followed by one line per change
    until Ctrl-C (with --json: one JSON object per line). Exit code 0 when every file was ingested or unchanged
    (and after Ctrl-C ends a watch), 2 when some failed (the rest is committed), 1 when the index cannot be
    written (for instance a `rag-app serve` in another process holds its embedded db: use --server).
    """
    if server is not None:
        given = {"--db": db, "--collection": collection, "--chunk-size": chunk_size, "--chunk-overlap": chunk_overlap,
                 "--pdf-password": pdf_password, "--embedder": embedder, "--contextual": contextual,
                 "--chroma-host": chroma_host, "--chroma-port": chroma_port, "--debounce": debounce}
        if clash := [name for name, value in given.items() if value is not None] + (["--watch"] if watch else []):
            raise typer.BadParameter(f"{', '.join(clash)}: the server ingests with its own index and settings "
                                     "(`rag-app serve --watch PATH` watches from the server)", param_hint="--server")
        _ingest_through_server(ctx, server, paths, tuple(glob) if glob else ("*",), prune=prune, as_json=as_json,
                               verbose=verbose)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.chroma_store import StoreError
    from ingest.walk import walk

    settings = _settings(
        ctx, index=_index_section(db, collection, chroma_host, chroma_port),
        ingest={"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "pdf_password": pdf_password,
                "contextual": contextual, "watch_debounce": debounce},
        retrieval={"embedder": embedder},
    )
    index = settings.index
    if index.chroma_host is None:  # before any model loads: a server in another process holds this db?
        from ingest.claim import check_not_served

        try:
            check_not_served(index.db, doing="this ingest")
        except StoreError as exc:
            _fail(exc)
    pipeline = _open_pipeline(settings, generator=False, require_documents=False)
    patterns = tuple(glob) if glob else ("*",)
    err = Console(stderr=True)

    def first_pass():  # noqa: ANN202 - an IngestReport
        total = sum(1 for _ in walk(list(paths), patterns, exclude=(index.db,)))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, disable=as_json, transient=True) as progress:
            task = progress.add_task("Ingesting", total=total)

            def advance(source: str, status: str) -> None:
                progress.update(task, advance=1, description=f"{status}: {source}")

            done = pipeline.ingest(list(paths), glob=patterns, prune=prune, on_file=advance)
        if as_json:
            typer.echo(json.dumps(done.to_json(), ensure_ascii=False))
        else:
            _print_ingest_report(done, pipeline.location, verbose=verbose)
        return done

    with pipeline:
        try:
            if not watch:
                report = first_pass()
                raise typer.Exit(0 if report.ok else 2)
            _watch(pipeline, paths, patterns, first_pass, quiet=settings.ingest.watch_debounce, as_json=as_json,
                   verbose=verbose)
        except StoreError as exc:
            _fail(exc)
    raise typer.Exit(0)


def _watch(pipeline, paths: list[Path], patterns: tuple[str, ...], first_pass, *, quiet: float,  # noqa: ANN001
           as_json: bool, verbose: bool) -> None:
    """``ingest --watch``: ``first_pass`` once the watch is in place, then one line per change until Ctrl-C."""
    from ingest.watch import watch

    err = Console(stderr=True)

    def started() -> None:
        first_pass()
        shown = ", ".join(str(p) for p in paths)
        err.print(Text(f"Watching {shown} (files settle for {quiet:g} s before they are read); Ctrl-C stops."))

    def changed(report) -> None:  # noqa: ANN001 - a FileReport
        if report.status == "unchanged" and not verbose:
            return
        if as_json:
            typer.echo(json.dumps(dataclasses.asdict(report), ensure_ascii=False))
        else:
            console.print(change_line(report))

    # The first Ctrl-C asks the watch to stop once the file in hand is written (a KeyboardInterrupt raised
    # inside Chroma or the model could leave the process hanging at exit); a second one stops at once.
    stop = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        watch(pipeline.ingestor(), list(paths), glob=patterns, exclude=(Path(pipeline.settings.index.db),),
              quiet=quiet, stop=stop, on_start=started, on_report=changed)
    except KeyboardInterrupt:
        pass
    except FileNotFoundError as exc:
        _fail(exc)
    finally:
        signal.signal(signal.SIGINT, previous)
    err.print(Text("Stopped watching; the index holds every change read so far."))


def change_line(report) -> Text:  # noqa: ANN001 - a FileReport
    """One watched change: time, status, source, chunks added and deleted, then the error and warnings."""
    import time as time_module

    chunks = " ".join(part for part in (f"+{report.chunks_added}" if report.chunks_added else "",
                                        f"-{report.chunks_deleted}" if report.chunks_deleted else "") if part)
    line = Text.assemble(time_module.strftime("%H:%M:%S "), (f"{report.status:<13}", _STATUS_STYLES.get(report.status, "")),
                         " ", report.source, f"  {chunks}" if chunks else "")
    if report.error:
        line.append(f"  {report.error}", style="red")
    for warning in report.warnings:
        line.append(f"  ⚠ {warning}", style="yellow")
    return line


def _ingest_through_server(ctx: typer.Context, url: str, paths: list[Path], patterns: tuple[str, ...], *, prune: bool,
                           as_json: bool, verbose: bool) -> NoReturn:
    """``ingest --server URL``: ask that server to ingest ``paths`` (POST /api/ingest/paths), print its report."""
    import urllib.error
    import urllib.request

    from ingest.pipeline import FileFailure, FileReport, IngestReport
    from rag_app.server.security import api_token

    settings = _settings(ctx)
    base = url.rstrip("/")
    body = {"paths": [os.path.abspath(p) for p in paths], "glob": list(patterns), "prune": prune}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token := api_token(settings):
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{base}/api/ingest/paths", data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310 - the URL the user gave
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail")
        except ValueError:
            detail = exc.reason
        _fail(RuntimeError(f"{base} refused the ingest (HTTP {exc.code}): {detail}"))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _fail(RuntimeError(f"cannot reach a rag-app server at {base} ({reason}): is `rag-app serve` running there?"))
    data.pop("uploads", None)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        files = [FileReport(**f) for f in data["files"]]
        report = IngestReport(
            files_seen=sum(f.status != "pruned" for f in files), files_ingested=data["files_ingested"],
            files_unchanged=data["files_unchanged"], files_failed=[FileFailure(**f) for f in data["files_failed"]],
            files_removed=data["files_pruned"], chunks_added=data["chunks_added"], chunks_deleted=data["chunks_deleted"],
            chunks_total=data["chunks_total"], files=files, root=data["root"])
        _print_ingest_report(report, f"the index of the server at {base}", verbose=verbose)
    raise typer.Exit(0 if not data["files_failed"] else 2)


_STATUS_STYLES = {"ingested": "green", "unchanged": "dim", "failed": "red", "kept_previous": "yellow", "pruned": "magenta"}


def _print_ingest_report(report, location: str, *, verbose: bool) -> None:  # noqa: ANN001 - an IngestReport
    """The files that need attention (every file with ``verbose``) with their status, chunks, error and
    warnings; a count of the others; then the totals."""
    from collections import Counter

    shown = report.files if verbose else [f for f in report.files if f.needs_attention]
    if shown:
        files = Table(title="Files" if verbose else "Files that need attention", show_lines=True)
        for col, justify in (("source", "left"), ("status", "left"), ("chunks", "right"), ("details", "left")):
            files.add_column(col, justify=justify)  # type: ignore[arg-type]
        for f in shown:
            chunks = " ".join(part for part in (f"+{f.chunks_added}" if f.chunks_added else "",
                                                f"-{f.chunks_deleted}" if f.chunks_deleted else "") if part)
            details = []
            if f.error:
                details.append(f.error + ("; its last good version stays indexed" if f.status == "kept_previous" else ""))
            details += [f"⚠ {warning}" for warning in f.warnings]
            files.add_row(Text(f.source), Text(f.status, style=_STATUS_STYLES.get(f.status, "")), chunks,
                          Text("\n".join(details)))
        console.print(files)
    others = Counter(f.status for f in report.files if not (verbose or f.needs_attention))
    if others:
        counted = ", ".join(f"{n} {status}" for status, n in sorted(others.items()))
        console.print(Text(f"{sum(others.values())} other file(s): {counted} (--verbose lists every file)."))
    # Two sentences rather than an 8-column table, which an 80-column terminal cuts to "unchan…".
    console.print(Text(
        f"Ingest into {location}: files {report.files_seen} seen, {report.files_ingested} ingested, "
        f"{report.files_unchanged} unchanged, {len(report.files_failed)} failed, {report.files_removed} pruned; "
        f"chunks {report.chunks_added} added, {report.chunks_deleted} deleted, {report.chunks_total} in the index."))
    if report.root:
        console.print(Text(f"Sources are named relative to {report.root}."), style="dim")


TopNOption = Annotated[int | None, typer.Option("--top-n", min=1, help="Passages kept after reranking: what the model is given \\[retrieval.top_n: 4].")]
DeprecatedKOption = Annotated[int | None, typer.Option("--k", min=1, hidden=True, help="Deprecated spelling of --top-n.")]


def _top_n(top_n: int | None, k: int | None, settings_hint: str = "--top-n") -> int | None:
    """``--top-n``, or the deprecated ``--k`` (which meant the same) with a warning on stderr."""
    if k is None:
        return top_n
    if top_n is not None:
        raise typer.BadParameter("give --top-n only (--k is its deprecated spelling)", param_hint="--k")
    Console(stderr=True).print(
        f"warning: --k is deprecated and will mean the number of candidates retrieved (retrieval.k) in the next "
        f"release; use {settings_hint} {k} for the passages kept.", style="yellow", markup=False, highlight=False)
    return k


@app.command()
def retrieve(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question (or use --queries).")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help='JSONL file of {"id": ..., "query": ...} lines; models load once.')] = None,
    top_n: TopNOption = None,
    k: DeprecatedKOption = None,
    db: DbOption = None,
    collection: CollectionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one line per query with --queries).")] = False,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Show the passages `rag-app ask` would give the model: retrieve, rerank, keep --top-n, drop those under min_score."""
    from rag_app.retrieval import passage_score

    if (question is None) == (queries is None):
        raise typer.BadParameter("give either a QUESTION or --queries FILE.jsonl, not both", param_hint="QUESTION")
    items = [{"id": None, "query": question}] if question is not None else _read_queries(queries)
    kept = _top_n(top_n, k)
    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port))
    with _open_pipeline(settings, generator=False) as pipeline:
        for item in items:
            results = [
                {"text": d.page_content, "source": d.metadata.get("source"), "page": d.metadata.get("page"),
                 "score": passage_score(d)}
                for d in pipeline.retrieve(item["query"], top_n=kept)
            ]
            if as_json:
                record = {"query": item["query"], "results": results}
                typer.echo(json.dumps(record if question is not None else {"id": item["id"], **record},
                                      ensure_ascii=False))
                continue
            table = Table(title=item["query"], show_lines=True)
            for col in ("#", "source", "page", "score", "text"):
                table.add_column(col)
            for i, r in enumerate(results, 1):
                table.add_row(str(i), str(r["source"]), "" if r["page"] is None else str(r["page"]),
                              "" if r["score"] is None else f"{r['score']:.3f}", Text(r["text"]))
            console.print(table)
            if not results:
                console.print(f"No passage scores at least min_score ({pipeline.min_score}).", markup=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    as_json: Annotated[bool, typer.Option("--json", help='Print {"answer": ..., "sources": [...]}.')] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Print the answer once it is complete.")] = False,
    no_sources: Annotated[bool, typer.Option("--no-sources", help="Print the answer only (for piping).")] = False,
    mode: ModeOption = None,
    db: DbOption = None,
    collection: CollectionOption = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Answer a question from the ingested documents, citing passages as [1], [2]; then list the sources."""
    from rag_app.chain import answer_json
    from rag_app.chat import sources_table, stream_answer, unsupported_lines
    from rag_app.citations import citations_line

    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port),
                         **_mode_section(mode))
    with _open_pipeline(settings) as pipeline:
        try:
            pipeline.check_question(question)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="QUESTION") from None
        if as_json or no_stream or no_sources:
            result = pipeline.ask(question)
            if not as_json:
                _write(result["answer"])
        else:
            result = stream_answer(pipeline.stream(question), _write)
    if as_json:
        typer.echo(json.dumps(answer_json(result), ensure_ascii=False))
        return
    _write("\n")
    if no_sources:
        return
    if result["sources"]:
        console.print(sources_table(result["sources"]))
        if line := citations_line(result["citations"], result["unknown_citations"]):
            console.print(Text(line))
        for warning in unsupported_lines(result["citations"]):
            console.print(Text(f"⚠ {warning}", style="yellow"))


@app.command()
def chat(
    ctx: typer.Context,
    mode: ModeOption = None,
    db: DbOption = None,
    collection: CollectionOption = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Chat with the ingested documents: follow-up questions keep the context; /sources, /reset, /exit."""
    from rag_app.chat import HELP, ChatSession

    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port), **_mode_section(mode))
    if sys.stdin.isatty():
        import readline  # noqa: F401 - line editing and history for input()
    with _open_pipeline(settings) as pipeline:
        _write(f"Chatting with {settings.index.collection!r} ({settings.generator.model}). {HELP}")
        ChatSession.from_pipeline(pipeline, read=input, write=_write, width=console.width,
                                  color=console.is_terminal).run()


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
    with _reader(settings) as reader:
        rows = reader.sources()
        root = reader.root
    if as_json:
        typer.echo(json.dumps([{"source": s, "chunks": n} for s, n in rows]))
        return
    table = Table(title=f"Sources in {settings.index.collection}")
    table.add_column("source")
    table.add_column("chunks", justify="right")
    for source, count in rows:
        table.add_row(Text(source), str(count))
    console.print(table)
    if root:
        console.print(Text(f"Sources are named relative to {root}; a file outside it by its absolute path."), style="dim")


@app.command()
def remove(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Source to remove: as `rag-app sources` lists it, or the path of the file.")],
    db: DbOption = None,
    collection: CollectionOption = None,
    chroma_host: HostOption = None,
    chroma_port: PortOption = None,
) -> None:
    """Remove one source's chunks from the index; SOURCE is a name `rag-app sources` lists, or a file's path."""
    from ingest.chroma_store import StoreError
    from ingest.sources import source_name
    from rag_app.pipeline import open_writer_for, upload_folder

    settings = _settings(ctx, index=_index_section(db, collection, chroma_host, chroma_port))
    if settings.index.chroma_host is None:
        from ingest.claim import check_not_served

        try:
            check_not_served(settings.index.db, doing="this removal")
        except StoreError as exc:
            _fail(exc)
    _reader(settings).close()  # no index: say so, and create none
    try:
        with open_writer_for(settings) as store:
            name = store.find_source(source, upload_folder=upload_folder(settings))
            removed = store.remove_source(name) if name is not None else 0
            root = store.root
    except StoreError as exc:  # e.g. a server in another process holds this embedded db
        _fail(exc)
    if not removed:
        hint = ""
        if name is None and root is not None and Path(source).expanduser().exists():
            hint = f" (the file there is named {source_name(Path(source).expanduser(), root)!r})"
        console.print(Text(f"No chunks of {source!r} in {settings.index.collection}{hint}.", style="red"),
                      Text("See `rag-app sources`."))
        raise typer.Exit(1)
    console.print(Text(f"Removed {removed} chunks of {name}."))


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


from rag_app.cli_serve import serve_command  # noqa: E402  (the server command lives in its own module)

app.command("serve")(serve_command)

from rag_app.cli_finetune import eval_command, finetune_app  # noqa: E402  (fine-tuning and evaluation commands)

app.add_typer(finetune_app, name="finetune")
app.command("eval")(eval_command)

if __name__ == "__main__":  # pragma: no cover
    app()
