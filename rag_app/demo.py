"""The demonstration behind ``rag-app demo``: retrieve and rerank over the sample documents, offline.

Until the ingest and chain issues land, it splits the sample Markdown and text files by paragraph itself,
retrieves with the hybrid retriever (BM25 + MiniLM), reranks (by default ColBERT-style MaxSim over MiniLM's
token vectors; or the LLM yes/no reranker on the bundled SmolLM2; or not at all), and prints the best
passages for three questions with the time each step took.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langchain_core.documents import Document
from rich.console import Console
from rich.table import Table

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
RERANKERS: dict[str, dict[str, object] | None] = {
    "colbert": {"model_name_or_path": "minilm", "colbert": True},
    "llm": {"model_name_or_path": "smollm2", "causal_lm": True},
    "none": None,
}
QUESTIONS = [
    "How do I reset the station to factory settings?",
    "Which batteries does the outdoor sensor need?",
    "How often are readings uploaded to the cloud?",
]


def split_paragraphs(path: Path, root: Path) -> list[Document]:
    """Paragraphs of a Markdown or text file, each with its source and Markdown heading path."""
    docs: list[Document] = []
    headings: list[str] = []
    lines: list[str] = []

    def flush() -> None:
        text = " ".join(" ".join(lines).split())
        lines.clear()
        if text:
            meta = {"source": str(path.relative_to(root)), "heading": " > ".join(headings)}
            docs.append(Document(page_content=text, metadata=meta, id=f"{meta['source']}:{len(docs)}"))

    for line in path.read_text(encoding="utf-8").splitlines():
        if path.suffix == ".md" and line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            headings = [*headings[: level - 1], line.lstrip("# ").strip()]
        elif not line.strip():
            flush()
        else:
            lines.append(line)
    flush()
    return docs


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[step] = timings.get(step, 0.0) + time.perf_counter() - start


def run_demo(
    data: Path = SAMPLE_DATA, console: Console | None = None, k: int = 6, top_n: int = 2, reranker: str = "colbert"
) -> list[list[Document]]:
    """Print and return the ``top_n`` passages for each of :data:`QUESTIONS`."""
    if reranker not in RERANKERS:
        raise ValueError(f"reranker must be one of {', '.join(RERANKERS)}; got {reranker!r}.")
    from retrievers.langchain import HybridRetriever, LangchainEmbedding, LangchainReranker

    console = console or Console()
    timings: dict[str, float] = {}
    with _timed(timings, "load documents"):
        docs = [d for p in sorted(data.glob("*")) if p.suffix in {".md", ".txt"} for d in split_paragraphs(p, data)]
    console.print(f"[bold]{len(docs)} passages[/] from {data}; reranker: {reranker}")
    with _timed(timings, "load models"):
        embedding = LangchainEmbedding(model_name_or_path="minilm")
        options = RERANKERS[reranker]
        compressor = LangchainReranker(top_n=top_n, **options) if options else None
    with _timed(timings, "index (BM25 + dense)"):
        retriever = HybridRetriever.from_documents(docs, embedding, k=k)
    answers = []
    for question in QUESTIONS:
        with _timed(timings, "retrieve"):
            candidates = retriever.invoke(question)
        with _timed(timings, "rerank"):
            best = list(compressor.compress_documents(candidates, question)) if compressor else candidates[:top_n]
        answers.append(best)
        table = Table(title=question, show_lines=True)
        for col in ("#", "source", "heading", "score", "passage"):
            table.add_column(col)
        for i, doc in enumerate(best, 1):
            score = doc.metadata.get("relevance_score", doc.metadata.get("fused_score", 0.0))
            table.add_row(str(i), doc.metadata["source"], doc.metadata.get("heading", ""), f"{score:.3f}", doc.page_content)
        console.print(table)
    timing = Table(title="Time per step (seconds)")
    timing.add_column("step")
    timing.add_column("seconds", justify="right")
    for step, seconds in timings.items():
        timing.add_row(step, f"{seconds:.2f}")
    console.print(timing)
    return answers
