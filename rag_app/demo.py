"""The demonstration behind ``rag-app demo`` (and ``make demo``): the whole application, offline, timed.

It ingests a folder (by default the sample documents shipped in ``rag_app/sample_data``) into a temporary Chroma
collection with the real pipeline, builds the application exactly as ``rag-app ask`` does
(:func:`rag_app.pipeline.build_pipeline`: the default settings, i.e. dense MiniLM retrieval with the calibrated
``min_score``, dense candidates reranked by ColBERT MaxSim fused with the dense score, SmolLM2 through llama.cpp,
the answer mode chosen for it),
then asks :data:`QUESTIONS`, streaming each cited answer and printing the passages it was given. A table
at the end says where the time went: loading the models, ingesting, and for each question retrieving,
reranking, the first answer token (prompt processing) and the rest of the answer.

``--reranker none`` drops the reranker (dense retrieval alone), ``llm`` uses the SmolLM2 yes/no reranker, to
compare; ``--mode`` picks the answer mode. SmolLM2-135M answers fluently but loosely: the demo shows the
pipeline and its speed, not what a larger generator would write.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rag_app.chain import Source
from rag_app.chat import sources_table, stream_answer, unsupported_lines
from rag_app.citations import Citation, citations_line
from rag_app.config import IndexSettings, RetrievalSettings, Settings

__all__ = ["QUESTIONS", "RERANKERS", "SAMPLE_DATA", "DemoAnswer", "DemoResult", "run_demo"]

SAMPLE_DATA = Path(__file__).resolve().parent / "sample_data"
RERANKERS: dict[str, dict[str, Any]] = {
    "colbert": {"reranker": "minilm", "reranker_kind": "colbert"},
    "llm": {"reranker": "smollm2", "reranker_kind": "llm"},
    "none": {"reranker": None},
}
"""``--reranker`` choices, as the ``[retrieval]`` settings they stand for."""
QUESTIONS = [
    "How do I reset the station to factory settings?",  # nimbus-manual.md, Troubleshooting > Factory reset
    "Which batteries does the outdoor sensor need?",  # nimbus-manual.md, Power > Batteries
    "How often are readings uploaded to the cloud?",  # nimbus-manual.md, Readings and uploads > Update interval
]
QUESTION_STEPS = ("retrieve", "rerank", "first token", "generate")
"""Timed per question, back to back: "retrieve" runs from the question to the retriever's candidates, "rerank"
to the passages given to the model (fitting them to the budget included), "first token" to the first piece of
the answer (prompt processing), "generate" to the last piece."""


@dataclass
class DemoAnswer:
    """One question's streamed answer, the passages the model saw, the seconds each step took, and the
    checked citations (:mod:`rag_app.citations`)."""

    question: str
    answer: str
    sources: list[Source]
    seconds: dict[str, float]
    citations: list[Citation] = field(default_factory=list)


@dataclass
class DemoResult:
    """The demo's answers and the seconds of the steps done once (``load models``, ``ingest``, ``total``)."""

    answers: list[DemoAnswer]
    seconds: dict[str, float] = field(default_factory=dict)
    files_ingested: int = 0
    chunks: int = 0


class _RetrievalClock(BaseCallbackHandler):
    """Notes when the candidates are retrieved: the end of the first retriever run started inside the passage
    retriever (the outermost retriever run), before it reranks."""

    def __init__(self) -> None:
        self.end: float | None = None
        self._outer: UUID | None = None
        self._candidates: UUID | None = None

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                           **kwargs: Any) -> None:
        if self._outer is None:
            self._outer = run_id
        elif self._candidates is None and parent_run_id == self._outer:
            self._candidates = run_id

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._candidates or (run_id == self._outer and self.end is None):
            self.end = time.perf_counter()


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - start


def demo_settings(base: Settings, db: Path, reranker: str | None = None) -> Settings:
    """``base`` with a temporary embedded collection under ``db`` and the ``--reranker`` choice (``None``: the
    reranker of ``base``)."""
    if reranker is None:
        return base.model_copy(update={"index": IndexSettings(db=db, collection="demo")})
    if reranker not in RERANKERS:
        raise ValueError(f"reranker must be one of {', '.join(RERANKERS)}; got {reranker!r}.")
    # min_score is on the reranker's scale: unset, so the value calibrated for the chosen reranker applies.
    retrieval = RetrievalSettings.model_validate({**base.retrieval.model_dump(), **RERANKERS[reranker],
                                                  "min_score": None})
    return base.model_copy(update={"index": IndexSettings(db=db, collection="demo"), "retrieval": retrieval})


def _reranker_label(settings: Settings) -> str:
    retrieval = settings.retrieval
    return f"{retrieval.reranker} ({retrieval.reranker_kind})" if retrieval.reranker else "none"


def run_demo(
    data: Path = SAMPLE_DATA,
    console: Console | None = None,
    *,
    reranker: str | None = None,
    settings: Settings | None = None,
    llm: BaseChatModel | None = None,
) -> DemoResult:
    """Ingest ``data`` into a temporary collection, answer :data:`QUESTIONS`, print everything with timings.

    ``settings`` default to the built-in ones (the bundled models); the index settings are always replaced
    by the temporary collection. ``llm`` replaces the configured generator (tests).
    """
    from rag_app.pipeline import build_pipeline

    console = console or Console()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-app-demo-") as db:
        config = demo_settings(settings or Settings(), Path(db), reranker)
        with _timed(seconds, "load models"):
            pipeline = build_pipeline(config, llm=llm)
        with pipeline:
            with _timed(seconds, "ingest"):
                report = pipeline.ingest([data])
            console.print(f"[bold]{report.files_ingested} files, {report.chunks_total} chunks[/] from "
                          f"{escape(str(data))}; reranker: {_reranker_label(config)}; "
                          f"answers: {pipeline.answer_mode}; generator: {config.generator.backend} "
                          f"{escape(config.generator.model)}")
            for failure in report.files_failed:
                console.print(f"[red]failed[/] {escape(failure.source)}: {escape(str(failure.error))}")
            chain = pipeline.chain()
            if chain is None:
                raise LookupError(f"Nothing was ingested from {data}: no answers to show.")
            answers = [_answer(chain, number, question, console) for number, question in enumerate(QUESTIONS, 1)]
    seconds["total"] = time.perf_counter() - started
    result = DemoResult(answers, seconds, report.files_ingested, report.chunks_total)
    console.print(timing_table(result))
    return result


def _answer(chain: Any, number: int, question: str, console: Console) -> DemoAnswer:
    console.rule(f"[bold]Question {number}[/]: {escape(question)}", align="left")
    clock = _RetrievalClock()
    start = time.perf_counter()
    ready = first = None

    def timed(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal ready, first
        for chunk in chunks:
            if "sources" in chunk:
                ready = time.perf_counter()
            if first is None and ("answer" in chunk or "draft" in chunk):
                first = time.perf_counter()
            yield chunk

    def write(text: str) -> None:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)

    result = stream_answer(timed(chain.stream({"question": question}, {"callbacks": [clock]})), write)
    end = time.perf_counter()
    console.print()
    sources, citations = result.get("sources", []), result.get("citations", [])
    console.print(sources_table(sources, title=f"Sources given to the model for question {number}", preview=160))
    if line := citations_line(citations, result.get("unknown_citations", [])):
        console.print(Text(line))
    for warning in unsupported_lines(citations):
        console.print(Text(f"⚠ {warning}", style="yellow"))
    retrieved = clock.end or start
    ready = ready or retrieved
    first = first or end
    seconds = {"retrieve": retrieved - start, "rerank": ready - retrieved,
               "first token": first - ready, "generate": end - first, "total": end - start}
    return DemoAnswer(question, result["answer"], sources, seconds, list(citations))


def timing_table(result: DemoResult) -> Table:
    """Seconds per step: one column per question, and the once-only steps in the last column."""
    table = Table(title="Time per step (seconds)")
    table.add_column("step")
    for number in range(1, len(result.answers) + 1):
        table.add_column(f"Q{number}", justify="right")
    table.add_column("all", justify="right")
    blank = [""] * len(result.answers)
    for step in ("load models", "ingest"):
        table.add_row(step, *blank, f"{result.seconds.get(step, 0.0):.2f}")
    for step in (*QUESTION_STEPS, "total"):
        per_question = [answer.seconds[step] for answer in result.answers]
        overall = result.seconds.get("total", 0.0) if step == "total" else sum(per_question)
        table.add_row(step, *(f"{s:.2f}" for s in per_question), f"{overall:.2f}", end_section=step == "generate")
    return table
