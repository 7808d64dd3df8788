"""Ranking metrics (nDCG, MRR, Recall, MAP, Precision, Hit at a cutoff) with trec_eval's exact conventions.

A *run* maps each query id to ``{doc_id: score}`` (higher is better); *qrels* map each query id to
``{doc_id: relevance}`` (integers; graded for nDCG). The conventions are those of ``trec_eval`` as exposed by
``pytrec_eval`` (and checked against it by the tests), so numbers here match published ones:

- documents are ranked by score, highest first; equal scores are ranked by document id in *descending*
  string order (trec_eval's tie-break), so a metric never depends on dict order;
- a document is relevant when its judgment is ``>= relevance_level`` (default 1); unjudged is not relevant;
- nDCG's gain is the judgment itself when positive (negative judgments count 0, whatever
  ``relevance_level``), discounted by ``log2(rank + 1)``; the ideal ranking orders all judged documents;
- MAP@k divides by *all* the query's relevant documents (not ``min(k, R)``); Recall@k likewise;
  Precision@k divides by k even when fewer documents were retrieved;
- a query without any relevant document scores 0 on every metric (and still counts in the mean);
- only queries present in both the run and the qrels are scored (``complete=True`` scores every judged
  query, a missing run counting 0, like ``trec_eval -c``).

MRR@k is the reciprocal rank of the first relevant document within the top k (trec_eval's ``recip_rank``
has no cutoff; ``mrr`` without ``@k`` is that). This module computes metrics only; :mod:`finetune.evaluation`
produces runs from models.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_METRICS",
    "METRIC_NAMES",
    "MetricsReport",
    "evaluate_run",
    "metric_names",
    "rank_documents",
    "score_query",
]

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

#: Metrics and whether they need a cutoff (``name@k``).
METRIC_NAMES: dict[str, bool] = {
    "ndcg": False, "mrr": False, "map": False, "recall": True, "precision": True, "hit": True,
}
DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@10", "map@10")
_NAME = re.compile(r"^(?P<metric>[a-z]+)(?:@(?P<k>\d+))?$")


def metric_names(names: Iterable[str] | None = None, k: int | None = None) -> list[tuple[str, str, int | None]]:
    """Parse metric names (``"ndcg@10"``, ``"map"``) into ``(label, metric, cutoff)``.

    ``k`` gives a cutoff to names written without one (``["ndcg", "mrr"]`` with ``k=5``: nDCG@5 and MRR@5).
    """
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be an integer >= 1; got {k!r}.")
    if isinstance(names, str):
        names = [names]
    parsed: list[tuple[str, str, int | None]] = []
    for raw in DEFAULT_METRICS if names is None else names:
        match = _NAME.match(str(raw).strip().lower())
        metric = match["metric"] if match else None
        if metric not in METRIC_NAMES:
            raise ValueError(
                f"Unknown metric {raw!r}; use one of {', '.join(METRIC_NAMES)}, with a cutoff as in 'ndcg@10'."
            )
        cutoff = int(match["k"]) if match["k"] else k
        if cutoff is not None and cutoff < 1:
            raise ValueError(f"Metric {raw!r}: the cutoff must be >= 1.")
        if cutoff is None and METRIC_NAMES[metric]:
            raise ValueError(f"Metric {raw!r} needs a cutoff, as in '{metric}@10'.")
        label = metric if cutoff is None else f"{metric}@{cutoff}"
        if label not in {p[0] for p in parsed}:
            parsed.append((label, metric, cutoff))
    if not parsed:
        raise ValueError("No metric asked for; give at least one, e.g. 'ndcg@10'.")
    return parsed


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Document ids best first: score descending, then id descending (trec_eval's order for ties)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def _dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains) if g > 0)


def score_query(
    ranking: Sequence[str],
    judgments: Mapping[str, int],
    metrics: Sequence[tuple[str, str, int | None]],
    relevance_level: int = 1,
) -> dict[str, float]:
    """Metrics of one query's ranking (document ids best first) against its judgments."""
    relevant = {doc for doc, rel in judgments.items() if rel >= relevance_level}
    num_rel = len(relevant)
    hits = [doc in relevant for doc in ranking]
    out: dict[str, float] = {}
    for label, metric, k in metrics:
        top = hits if k is None else hits[:k]
        if metric == "ndcg":
            ideal = sorted((max(rel, 0) for rel in judgments.values()), reverse=True)
            ideal_dcg = _dcg(ideal if k is None else ideal[:k])
            gains = [max(judgments.get(doc, 0), 0) for doc in (ranking if k is None else ranking[:k])]
            out[label] = _dcg(gains) / ideal_dcg if ideal_dcg > 0 else 0.0
        elif metric == "mrr":
            out[label] = next((1.0 / (i + 1) for i, hit in enumerate(top) if hit), 0.0)
        elif metric == "map":
            found, total = 0, 0.0
            for i, hit in enumerate(top):
                if hit:
                    found += 1
                    total += found / (i + 1)
            out[label] = total / num_rel if num_rel else 0.0
        elif metric == "recall":
            out[label] = sum(top) / num_rel if num_rel else 0.0
        elif metric == "precision":
            out[label] = sum(top) / k  # type: ignore[operator]  # precision always has a cutoff
        elif metric == "hit":
            out[label] = 1.0 if any(top) else 0.0
        else:  # pragma: no cover - metric_names() only returns known metrics
            raise ValueError(f"Unknown metric {metric!r}.")
    return out


@dataclass(frozen=True)
class MetricsReport:
    """Mean metrics over the scored queries, and each query's own values."""

    mean: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)

    @property
    def num_queries(self) -> int:
        return len(self.per_query)

    def to_json(self) -> dict:
        return {"num_queries": self.num_queries, "metrics": dict(self.mean)}


def _check(run: Run, qrels: Qrels) -> None:
    """Type errors name the query and document; numpy numbers are fine (they register as numbers.Real)."""
    for name, table, kind in (("run", run, numbers.Real), ("qrels", qrels, numbers.Integral)):
        if not isinstance(table, Mapping):
            raise TypeError(f"{name} must map query ids to {{doc_id: value}} dicts; got {type(table).__name__}.")
        for qid, docs in table.items():
            if not isinstance(docs, Mapping):
                raise TypeError(f"{name}[{qid!r}] must be a {{doc_id: value}} dict; got {type(docs).__name__}.")
            for doc, value in docs.items():
                if isinstance(value, bool) or not isinstance(value, kind):
                    what = "a finite number" if name == "run" else "an integer relevance"
                    raise TypeError(f"{name}[{qid!r}][{doc!r}] must be {what}; got {value!r}.")
                if name == "run" and not math.isfinite(value):
                    raise ValueError(f"run[{qid!r}][{doc!r}] is {value}; scores must be finite numbers.")


def evaluate_run(
    run: Run,
    qrels: Qrels,
    metrics: Iterable[str] | None = None,
    k: int | None = None,
    relevance_level: int = 1,
    complete: bool = False,
) -> MetricsReport:
    """Score a run against qrels; the mean is over the queries scored (see the module docstring).

    Example::

        report = evaluate_run({"q1": {"d1": 0.9, "d2": 0.4}}, {"q1": {"d2": 1}}, ["mrr@10", "recall@1"])
        report.mean   # {'mrr@10': 0.5, 'recall@1': 0.0}
    """
    parsed = metric_names(metrics, k)
    _check(run, qrels)
    queries = list(qrels) if complete else [q for q in qrels if q in run]
    if not queries:
        raise ValueError(
            "No query is in both the run and the qrels; check that both use the same query ids "
            f"(run: {_sample(run)}; qrels: {_sample(qrels)})."
        )
    per_query: dict[str, dict[str, float]] = {}
    for qid in queries:
        scores = {doc: float(score) for doc, score in run.get(qid, {}).items()}
        per_query[qid] = score_query(rank_documents(scores), qrels[qid], parsed, relevance_level)
    mean = {label: math.fsum(values[label] for values in per_query.values()) / len(per_query) for label, _, _ in parsed}
    return MetricsReport(mean=mean, per_query=per_query)


def _sample(table: Mapping) -> str:
    ids = list(table)[:3]
    return ", ".join(repr(i) for i in ids) + (", ..." if len(table) > 3 else "") if ids else "empty"
