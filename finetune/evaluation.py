"""Evaluate a retriever (an embedder, optionally followed by a reranker) on a test set, before and after training.

Data (:class:`EvalData`: queries, corpus, graded qrels) comes from

- a QA file and a corpus file in the python-faq format (:func:`load_qa`): ``{"id", "question", "answer"}``
  lines; the corpus is every answer of the corpus file, and a question's relevant document is the answer
  with the same ``id``;
- a BEIR folder (:func:`load_beir`): ``corpus.jsonl`` (``{"_id", "title", "text"}``), ``queries.jsonl``
  (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id corpus-id score``, with a header line).

Retrieval is exact: every document is embedded, and queries are scored against all of them by cosine
similarity (no vector database, so the numbers measure the model alone). An optional reranker rescores each
query's top ``candidates``. Metrics come from :mod:`finetune.metrics` (trec_eval's conventions).
:func:`compare` runs several systems on one test set and :func:`write_comparison` writes the Markdown table
and the bar chart. Loading models is left to ``retrievers`` (a reranker kind loads with the options
:data:`retrievers.names.RANKER_OPTIONS` gives it); this module does not train.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from finetune.data import DataError, DataProblem, records_from_file, text_field
from finetune.metrics import DEFAULT_METRICS, evaluate_run, metric_names
from retrievers.names import RERANKER_KINDS, RerankerKind, RerankerKindName

__all__ = [
    "RERANKER_KINDS",
    "EvalData",
    "EvalReport",
    "System",
    "compare",
    "comparison_markdown",
    "dense_run",
    "evaluate",
    "load_beir",
    "load_corpus",
    "load_qa",
    "rerank_run",
    "write_comparison",
]

Run = dict[str, dict[str, float]]


# ---------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class EvalData:
    """A test set: query texts, document texts and judgments ``{query_id: {doc_id: relevance}}``."""

    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def __post_init__(self) -> None:
        missing = [q for q in self.qrels if q not in self.queries]
        if missing:
            raise ValueError(f"{self.name}: {len(missing)} judged query id(s) have no text, e.g. {missing[:3]}.")
        if not self.qrels:
            raise ValueError(f"{self.name}: no judged query; nothing to evaluate.")
        if not self.corpus:
            raise ValueError(f"{self.name}: the corpus is empty.")


def _jsonl(path: Path, what: str, problems: list[DataProblem]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(``file:line``, record) for each JSON object line of a JSONL file (read as the training data is);
    a line that is not one is added to ``problems``."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist (or is not a file).")
    for location, record, problem in records_from_file(path):
        if problem is None and not isinstance(record, dict):
            problem = f"must be a JSON object, got {type(record).__name__}"
        if problem is not None:
            problems.append(DataProblem(location, None, problem))
        else:
            yield location, record


def _raise(source: Path, problems: list[DataProblem], hint: str) -> None:
    if problems:
        raise DataError(str(source), problems, hint)


_CORPUS_HINT = ('Expected one JSON object per line: {"text": ...}, {"id": ..., "text": ...}, a BEIR corpus line '
                '{"_id": ..., "title": ..., "text": ...}, or a QA line {"id": ..., "answer": ...}.')


def load_corpus(path: str | Path) -> dict[str, str]:
    """Documents ``{doc_id: text}`` from a JSONL file, or from ``corpus.jsonl`` in a (BEIR) folder.

    A line is ``{"text"}`` (its id is its line number), ``{"id", "text"}``, BEIR's ``{"_id", "title", "text"}``
    (the title, when there is one, goes in front of the text, as BEIR's own evaluation does) or a QA line
    ``{"id", "answer"}``. Every bad line is reported at once (:class:`~finetune.data.DataError`).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "corpus.jsonl"
    corpus: dict[str, str] = {}
    problems: list[DataProblem] = []
    for location, record in _jsonl(path, "Corpus", problems):
        text_key = ("text",) if "text" in record else ("answer",) if "answer" in record else ("text",)
        text = text_field(record, text_key, location, problems)
        doc_id = location.rsplit(":", 1)[1]
        if "_id" in record or "id" in record:
            doc_id = text_field(record, ("_id", "id"), location, problems, id_like=True)
        title = record.get("title")
        if title is not None and not isinstance(title, str):
            problems.append(DataProblem(location, "title", f"must be a string, got {type(title).__name__}"))
        if text is None or doc_id is None:
            continue
        if doc_id in corpus:
            problems.append(DataProblem(location, "id", f"duplicate document id {doc_id!r}; ids must be unique"))
            continue
        corpus[doc_id] = f"{title} {text}" if isinstance(title, str) and title.strip() else text
    _raise(path, problems, _CORPUS_HINT)
    if not corpus:
        raise DataError(str(path), [DataProblem(str(path), None, "no documents")], _CORPUS_HINT)
    return corpus


_QA_HINT = 'Expected one JSON object per line: {"id": ..., "question": ..., "answer": ...} (python-faq format).'


def load_qa(data: str | Path, corpus: str | Path) -> EvalData:
    """The python-faq test set: questions of ``data``, answers of ``corpus``; relevant means the same ``id``.

    Every question's ``id`` must be in the corpus file, otherwise nothing could be found for it.
    """
    data, corpus_path = Path(data).expanduser(), Path(corpus).expanduser()
    documents: dict[str, str] = {}
    problems: list[DataProblem] = []
    for location, record in _jsonl(corpus_path, "Corpus", problems):
        doc_id = text_field(record, ("id",), location, problems, id_like=True)
        answer = text_field(record, ("answer",), location, problems)
        if doc_id is not None and doc_id in documents:
            problems.append(DataProblem(location, "id", f"duplicate id {doc_id!r}; ids must be unique"))
        elif doc_id is not None and answer is not None:
            documents[doc_id] = answer
    _raise(corpus_path, problems, _QA_HINT)
    queries: dict[str, str] = {}
    for location, record in _jsonl(data, "Test data", problems):
        qid = text_field(record, ("id",), location, problems, id_like=True)
        question = text_field(record, ("question",), location, problems)
        if qid is None or question is None:
            continue
        if qid in queries:
            problems.append(DataProblem(location, "id", f"duplicate id {qid!r}; ids must be unique"))
        elif qid not in documents:
            problems.append(DataProblem(location, "id", f"{qid!r} is not an id of the corpus {corpus_path}; "
                                                        "give the corpus file that holds every answer"))
        else:
            queries[qid] = question
    _raise(data, problems, _QA_HINT)
    if not queries:
        raise DataError(str(data), [DataProblem(str(data), None, "no questions")], _QA_HINT)
    return EvalData(name=data.name, queries=queries, corpus=documents, qrels={q: {q: 1} for q in queries})


def load_beir(folder: str | Path, split: str = "test") -> EvalData:
    """A BEIR dataset folder; only the queries judged in ``qrels/<split>.tsv`` are evaluated."""
    folder = Path(folder).expanduser()
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not folder.is_dir():
        raise FileNotFoundError(f"BEIR folder {folder} does not exist.")
    if not qrels_path.is_file():
        present = sorted(p.name for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise FileNotFoundError(f"{qrels_path} does not exist; splits present: {', '.join(present) or 'none'}.")
    corpus = load_corpus(folder / "corpus.jsonl")
    problems: list[DataProblem] = []
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(qrels_path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        parts = line.strip().split("\t") if "\t" in line else line.split()
        if not parts or (number == 1 and parts[0].lower() in ("query-id", "query_id", "qid")):
            continue
        location = f"{qrels_path}:{number}"
        if len(parts) != 3:
            problems.append(DataProblem(location, None, f"expected 3 columns 'query-id corpus-id score', got {len(parts)}"))
            continue
        try:
            score = int(parts[2])
        except ValueError:
            problems.append(DataProblem(location, "score", f"{parts[2]!r} is not an integer relevance"))
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = score
    _raise(qrels_path, problems, "Expected a header line, then 'query-id<TAB>corpus-id<TAB>score' lines.")
    queries: dict[str, str] = {}
    queries_path = folder / "queries.jsonl"
    for location, record in _jsonl(queries_path, "Queries", problems):
        qid = text_field(record, ("_id", "id"), location, problems, id_like=True)
        text = text_field(record, ("text",), location, problems)
        if qid is not None and text is not None and qid in qrels:
            queries[qid] = text
    _raise(queries_path, problems, 'Expected one JSON object per line: {"_id": ..., "text": ...}.')
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise DataError(str(qrels_path), [DataProblem(str(qrels_path), None, f"{len(missing)} judged query id(s) "
                        f"are not in {queries_path}, e.g. {missing[:3]}")], "Give the queries file that matches the qrels.")
    return EvalData(name=f"{folder.name}/{split}", queries=queries, corpus=corpus, qrels=qrels)


# ---------------------------------------------------------------------------------------------- runs
def dense_run(
    embedder: Any,
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    top_k: int = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Each query's ``top_k`` documents by cosine similarity of the embedder's vectors (exact search).

    ``embedder`` is an :class:`~retrievers.AutoModelForEmbedding` (anything with ``encode_queries`` and
    ``encode_documents``). Vectors are L2-normalised here, whatever the model's own setting.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1; got {top_k!r}.")
    doc_ids, query_ids = list(corpus), list(queries)
    documents = embedder.encode_documents([corpus[d] for d in doc_ids], batch_size=batch_size, show_progress_bar=show_progress,
                                          convert_to_tensor=True, normalize_embeddings=True)  # (D, H)
    vectors = embedder.encode_queries([queries[q] for q in query_ids], batch_size=batch_size,
                                      show_progress_bar=show_progress, convert_to_tensor=True, normalize_embeddings=True)  # (Q, H)
    documents = torch.as_tensor(documents, dtype=torch.float32)
    vectors = torch.as_tensor(vectors, dtype=torch.float32).reshape(len(query_ids), -1)
    k = min(top_k, len(doc_ids))
    run: Run = {}
    for start in range(0, len(query_ids), 1024):  # bounds the (block, D) similarity matrix
        scores = vectors[start : start + 1024] @ documents.T  # (b, D)
        values, indices = torch.topk(scores, k, dim=1)  # (b, k)
        for row, qid in enumerate(query_ids[start : start + 1024]):
            run[qid] = {doc_ids[i]: float(v) for v, i in zip(values[row].tolist(), indices[row].tolist(), strict=True)}
    return run


def rerank_run(
    ranker: Any,
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    run: Mapping[str, Mapping[str, float]],
    top_k: int = 100,
    batch_size: int = 16,
    show_progress: bool = True,
) -> Run:
    """Rescore each query's ``top_k`` documents of ``run`` with a reranker (``compute_score`` on pairs).

    Documents below the ``top_k`` are dropped, so metrics at a cutoff <= ``top_k`` see the reranked order.
    """
    from finetune.metrics import rank_documents

    out: Run = {}
    for qid in tqdm(list(run), desc="Reranking", unit="query", disable=not show_progress):
        candidates = rank_documents(run[qid])[:top_k]
        if not candidates:
            out[qid] = {}
            continue
        scores = ranker.compute_score([(queries[qid], corpus[d]) for d in candidates], batch_size=batch_size)
        out[qid] = {d: float(s) for d, s in zip(candidates, scores, strict=True)}
    return out


# ---------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class System:
    """What is evaluated: an embedder, and optionally a reranker of one kind; ``label`` names it in tables."""

    model: Any
    reranker: Any = None
    reranker_kind: RerankerKindName | RerankerKind = "cross-encoder"
    label: str | None = None

    def name(self) -> str:
        if self.label:
            return self.label
        first = self.model if isinstance(self.model, str | Path) else type(self.model).__name__
        if self.reranker is None:
            return str(first)
        second = self.reranker if isinstance(self.reranker, str | Path) else type(self.reranker).__name__
        return f"{first} + {second} ({self.reranker_kind})"


@dataclass(frozen=True)
class EvalReport:
    """Mean metrics of one system on one test set, with per-query values and timings."""

    system: str
    data: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)
    num_queries: int = 0
    num_documents: int = 0
    candidates: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"system": self.system, "data": self.data, "num_queries": self.num_queries,
                "num_documents": self.num_documents, "candidates": self.candidates,
                "seconds": round(self.seconds, 3), "metrics": self.metrics}


def _load_embedder(model: Any, device: str | None) -> Any:
    if not isinstance(model, str | Path):
        return model
    from retrievers import AutoModelForEmbedding

    return AutoModelForEmbedding.from_pretrained(model, device=device)


def _load_ranker(ranker: Any, kind: str, device: str | None) -> Any:
    options = RerankerKind.parse(kind, "reranker kind").ranker_options
    if not isinstance(ranker, str | Path):
        return ranker
    from retrievers import AutoModelForRanking

    return AutoModelForRanking.from_pretrained(ranker, device=device, **options)


def evaluate(
    data: EvalData,
    model: Any,
    reranker: Any = None,
    reranker_kind: RerankerKindName | RerankerKind = "cross-encoder",
    k: int = 10,
    candidates: int | None = None,
    metrics: Sequence[str] | None = None,
    batch_size: int = 32,
    device: str | None = None,
    label: str | None = None,
    show_progress: bool = True,
) -> EvalReport:
    """Dense retrieval with ``model`` (a name or a loaded embedder), optional reranking, metrics at ``k``.

    ``candidates`` is how many documents per query the embedder hands to the reranker (default: the deepest
    metric cutoff, usually ``k``: the reranker then reorders the top k, which changes nDCG, MRR and MAP but
    not Recall@k; a larger value lets it bring up documents from further down, at a cost linear in it).
    Metrics named without a cutoff get ``k``.

    Example::

        report = evaluate(load_qa("qa.test.jsonl", "qa.jsonl"), "minilm", k=10)
        report.metrics   # {'ndcg@10': ..., 'mrr@10': ..., 'recall@10': ..., 'map@10': ...}
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1; got {k!r}.")
    parsed = metric_names([m.split("@")[0] for m in DEFAULT_METRICS] if metrics is None else metrics, k)
    deepest = max(cutoff or k for _, _, cutoff in parsed)
    depth = candidates if candidates is not None else deepest
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < deepest:
        raise ValueError(f"candidates must be an integer >= the deepest metric cutoff ({deepest}); got {depth!r}.")
    names = [name for name, _, _ in parsed]
    system = System(model, reranker, reranker_kind, label)
    start = time.perf_counter()
    embedder = _load_embedder(model, device)
    ranker = _load_ranker(reranker, reranker_kind, device) if reranker is not None else None
    run = dense_run(embedder, data.queries, data.corpus, top_k=depth, batch_size=batch_size, show_progress=show_progress)
    if ranker is not None:
        run = rerank_run(ranker, data.queries, data.corpus, run, top_k=depth, batch_size=batch_size,
                         show_progress=show_progress)
    report = evaluate_run(run, data.qrels, names, complete=True)
    return EvalReport(system=system.name(), data=data.name, metrics=report.mean, per_query=report.per_query,
                      num_queries=report.num_queries, num_documents=len(data.corpus), candidates=depth,
                      seconds=time.perf_counter() - start)


def compare(data: EvalData, systems: Sequence[System], **options: Any) -> list[EvalReport]:
    """Evaluate each system on the same data with the same options (see :func:`evaluate`)."""
    if len(systems) < 2:
        raise ValueError("compare() needs at least two systems.")
    reports = [evaluate(data, s.model, s.reranker, s.reranker_kind, label=s.label, **options) for s in systems]
    names = [r.system for r in reports]
    if len(set(names)) != len(names):
        raise ValueError(f"Systems need distinct labels to be compared; got {names}.")
    return reports


def comparison_markdown(reports: Sequence[EvalReport]) -> str:
    """A Markdown table: one row per metric, one column per system, and the change from the first system."""
    metrics = list(reports[0].metrics)
    head = ["metric", *(r.system.replace("|", "\\|") for r in reports)]
    two = len(reports) == 2
    if two:
        head.append("change")
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for metric in metrics:
        values = [r.metrics[metric] for r in reports]
        best = max(values)
        cells = [f"**{v:.4f}**" if v == best and len(set(values)) > 1 else f"{v:.4f}" for v in values]
        if two:
            base, new = values
            relative = f" ({(new - base) / base:+.1%})" if base > 0 else ""
            cells.append(f"{new - base:+.4f}{relative}")
        lines.append("| " + " | ".join([metric, *cells]) + " |")
    first = reports[0]
    lines.append("")
    lines.append(f"{first.data}: {first.num_queries} queries, {first.num_documents} documents, exact cosine "
                 f"retrieval" + (f", top {first.candidates} reranked" if any(" + " in r.system for r in reports) else "") + ".")
    return "\n".join(lines) + "\n"


def write_comparison(reports: Sequence[EvalReport], output_dir: str | Path, stem: str = "comparison") -> tuple[Path, Path, Path]:
    """Write ``<stem>.md`` (table), ``<stem>.png`` (bar chart) and ``<stem>.json`` into ``output_dir``."""
    from finetune.plots import plot_metric_comparison

    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / f"{stem}.md"
    markdown.write_text(comparison_markdown(reports), encoding="utf-8")
    values = {r.system: r.metrics for r in reports}
    chart = plot_metric_comparison(values, out / f"{stem}.png", title=f"{reports[0].data}: before and after")
    as_json = out / f"{stem}.json"
    as_json.write_text(json.dumps([r.to_json() for r in reports], indent=2) + "\n", encoding="utf-8")
    return markdown, chart, as_json

