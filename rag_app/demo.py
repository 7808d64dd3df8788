"""The demonstration behind ``rag-app demo``: retrieve and rerank over the sample documents, offline.

It ingests the sample documents into a temporary Chroma collection with the real pipeline, retrieves with
the hybrid retriever (BM25 + MiniLM over the collection), reranks (by default ColBERT-style MaxSim over
MiniLM's token vectors; or the LLM yes/no reranker on the bundled SmolLM2; or not at all), and prints the
best passages for three questions with the time each step took. Answer generation comes with the chain.
"""

from __future__ import annotations

import tempfile
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
    from rag_app.indexes import open_index
    from retrievers.langchain import HybridRetriever, LangchainReranker

    console = console or Console()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rag-app-demo-") as db:
        with _timed(timings, "load models"):
            handle = open_index(Path(db), "demo", "minilm")
            options = RERANKERS[reranker]
            compressor = LangchainReranker(top_n=top_n, **options) if options else None
        with _timed(timings, "ingest (load, chunk, embed, index)"):
            report = handle.ingestor().ingest([data])
        console.print(f"[bold]{report.files_ingested} files, {report.chunks_total} chunks[/] from {data}; "
                      f"reranker: {reranker}")
        for failure in report.files_failed:
            console.print(f"[red]failed[/] {failure.source}: {failure.error}")
        with _timed(timings, "BM25 index"):
            stored = handle.store.vector_store.get(include=["documents", "metadatas"])
            chunks = [Document(page_content=text, metadata=meta, id=id_)
                      for id_, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)]
            retriever = HybridRetriever(vectorstore=handle.store.vector_store, documents=chunks, k=k)
        answers = _ask(retriever, compressor, top_n, console, timings)
        handle.store.close()
    timing = Table(title="Time per step (seconds)")
    timing.add_column("step")
    timing.add_column("seconds", justify="right")
    for step, seconds in timings.items():
        timing.add_row(step, f"{seconds:.2f}")
    console.print(timing)
    return answers


def _ask(retriever, compressor, top_n: int, console: Console, timings: dict[str, float]) -> list[list[Document]]:  # noqa: ANN001
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
    return answers
