"""The ``rag-app`` command line."""

from __future__ import annotations

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
    data: Annotated[Path | None, typer.Option(help="Folder of .md/.txt documents (default: the bundled samples).")] = None,
    reranker: Annotated[str, typer.Option(help="colbert (MaxSim over MiniLM token vectors), llm (SmolLM2 yes/no) or none.")] = "colbert",
) -> None:
    """Retrieve and rerank over the sample documents with the bundled models, offline."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag_app.demo import RERANKERS, SAMPLE_DATA, run_demo

    folder = data or SAMPLE_DATA
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder.", param_hint="--data")
    if reranker not in RERANKERS:
        raise typer.BadParameter(f"choose one of {', '.join(RERANKERS)}; got {reranker!r}.", param_hint="--reranker")
    run_demo(folder, console, reranker=reranker)


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
