"""IR metrics against pytrec_eval (trec_eval) on random runs with ties, and against hand-worked values."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest

from finetune.metrics import evaluate_run, metric_names, rank_documents, score_query

CUTOFFS = (1, 3, 5, 10)


def _random_case(seed: int) -> tuple[dict, dict]:
    """Random graded qrels (some negative, some queries without a relevant document) and a run whose scores
    come from a few values, so many ties fall across cutoffs; doc ids of varied length so the tie order
    (descending id) is exercised."""
    rng = random.Random(seed)
    docs = [f"d{rng.randrange(1000)}" + "x" * rng.randrange(3) for _ in range(60)]
    docs = list(dict.fromkeys(docs))
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(rng.randint(1, 12)):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 15))
        qrels[qid] = {d: rng.choice([-1, 0, 0, 1, 1, 2, 3]) for d in judged}
        if rng.random() < 0.15:
            qrels[qid] = {d: 0 for d in judged}  # no relevant document
        if rng.random() < 0.1:
            continue  # judged but not in the run: pytrec_eval skips it
        retrieved = rng.sample(docs, rng.randint(0, 25))
        levels = [round(rng.uniform(-1, 1), 1) for _ in range(4)]
        run[qid] = {d: rng.choice(levels) if rng.random() < 0.7 else rng.uniform(-2, 2) for d in retrieved}
    run["not-judged"] = {docs[0]: 1.0}  # in the run only: ignored by both
    return run, qrels


_REFERENCE_SCRIPT = """
import json, sys
import pytrec_eval
args = json.load(sys.stdin)
run, qrels, level, cutoffs = args["run"], args["qrels"], args["level"], args["cutoffs"]
measures = {"ndcg", "map", "recip_rank"} | {m + "." + ",".join(map(str, cutoffs))
                                            for m in ("ndcg_cut", "map_cut", "recall", "P", "success")}
out = {"all": pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level).evaluate(run)}
for k, cut in args["cut_runs"].items():
    out[k] = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=level).evaluate(cut)
print(json.dumps(out))
"""


def _reference(run: dict, qrels: dict, relevance_level: int) -> dict[str, dict[str, float]]:
    """pytrec_eval's values, computed in a fresh interpreter with one evaluator per measure set: pytrec_eval
    keeps measure parameters in global state, and a second evaluator with cutoffs in the same process can
    hang or drop cutoffs (cvangysel/pytrec_eval#22, #38)."""
    # trec_eval has no MRR@k: its recip_rank on the run cut to the top k in trec_eval's own order (which the
    # precision and success checks pin down).
    cut_runs = {k: {q: {d: docs[d] for d in rank_documents(docs)[:k]} for q, docs in run.items()} for k in CUTOFFS}
    payload = json.dumps({"run": run, "qrels": qrels, "level": relevance_level, "cutoffs": CUTOFFS, "cut_runs": cut_runs})
    done = subprocess.run([sys.executable, "-c", _REFERENCE_SCRIPT], input=payload, capture_output=True,
                          text=True, timeout=300, check=True)
    ref = json.loads(done.stdout)
    out: dict[str, dict[str, float]] = {}
    for qid, values in ref["all"].items():
        row = {"ndcg": values["ndcg"], "map": values["map"], "mrr": values["recip_rank"]}
        for k in CUTOFFS:
            row |= {f"ndcg@{k}": values[f"ndcg_cut_{k}"], f"map@{k}": values[f"map_cut_{k}"],
                    f"recall@{k}": values[f"recall_{k}"], f"precision@{k}": values[f"P_{k}"],
                    f"hit@{k}": values[f"success_{k}"], f"mrr@{k}": ref[str(k)][qid]["recip_rank"]}
        out[qid] = row
    return out


@pytest.mark.parametrize("relevance_level", [1, 2])
def test_metrics_equal_pytrec_eval_on_random_runs_with_ties(relevance_level: int) -> None:
    """150 random cases, pooled into one run and one qrels (query ids prefixed by the seed)."""
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for seed in range(150):
        case_run, case_qrels = _random_case(seed)
        run |= {f"s{seed}-{q}": docs for q, docs in case_run.items()}
        qrels |= {f"s{seed}-{q}": docs for q, docs in case_qrels.items()}
    names = ["ndcg", "map", "mrr"] + [f"{m}@{k}" for k in CUTOFFS for m in ("ndcg", "map", "recall", "precision", "hit", "mrr")]
    reference = _reference(run, qrels, relevance_level)
    ours = evaluate_run(run, qrels, names, relevance_level=relevance_level)
    assert set(ours.per_query) == set(reference)
    assert len(reference) > 700
    for qid, values in reference.items():
        for name in names:
            assert ours.per_query[qid][name] == pytest.approx(values[name], abs=1e-12), (qid, name)
    for name in names:
        expected = math.fsum(v[name] for v in reference.values()) / len(reference)
        assert ours.mean[name] == pytest.approx(expected, abs=1e-12)
    # The cases do exercise what they are meant to: ties at cutoffs, no-relevant queries, empty runs.
    assert any(len(set(docs.values())) < len(docs) for docs in run.values())
    assert any(values["ndcg@10"] == 0 and max(qrels[q].values()) < relevance_level for q, values in reference.items())
    assert any(not run[q] for q in reference)


def test_hand_worked_example_with_tie_broken_by_descending_doc_id() -> None:
    # Scores: z 1.0 (judged -1), d 0.9 (unjudged), then a, b, c tied at 0.5 -> ranked c, b, a.
    run = {"q": {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.9, "z": 1.0}}
    qrels = {"q": {"a": 2, "b": 0, "c": 1, "z": -1}}
    assert rank_documents(run["q"]) == ["z", "d", "c", "b", "a"]
    report = evaluate_run(run, qrels, ["mrr@10", "mrr@2", "map@5", "recall@3", "precision@3", "hit@2", "ndcg@3"])
    ideal = 2 + 1 / math.log2(3)
    assert report.mean == pytest.approx({
        "mrr@10": 1 / 3, "mrr@2": 0.0, "map@5": (1 / 3 + 2 / 5) / 2, "recall@3": 0.5, "precision@3": 1 / 3,
        "hit@2": 0.0, "ndcg@3": (1 / math.log2(4)) / ideal,
    })


def test_queries_without_relevant_documents_score_zero_and_count_in_the_mean() -> None:
    run = {"q1": {"a": 1.0}, "q2": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"a": 0, "b": 0}}
    report = evaluate_run(run, qrels, ["recall@1", "map@1", "ndcg@1", "mrr@1"])
    assert report.per_query["q2"] == {"recall@1": 0.0, "map@1": 0.0, "ndcg@1": 0.0, "mrr@1": 0.0}
    assert report.mean == {"recall@1": 0.5, "map@1": 0.5, "ndcg@1": 0.5, "mrr@1": 0.5}


def test_complete_counts_judged_queries_missing_from_the_run_as_zero() -> None:
    run = {"q1": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert evaluate_run(run, qrels, ["hit@1"]).mean == {"hit@1": 1.0}
    assert evaluate_run(run, qrels, ["hit@1"], complete=True).mean == {"hit@1": 0.5}


def test_map_and_recall_divide_by_all_relevant_documents_not_the_cutoff() -> None:
    ranking = ["a", "x", "b"]
    judgments = {"a": 1, "b": 1, "c": 1, "d": 1}
    values = score_query(ranking, judgments, metric_names(["map@2", "recall@2", "precision@5"]))
    assert values == pytest.approx({"map@2": 1 / 4, "recall@2": 1 / 4, "precision@5": 2 / 5})


def test_numpy_scores_and_relevances_are_accepted() -> None:
    run = {"q": {"a": np.float32(0.25), "b": np.float64(0.5)}}
    qrels = {"q": {"a": np.int64(1)}}
    assert evaluate_run(run, qrels, ["mrr@10"]).mean == {"mrr@10": 0.5}


def test_metric_names_default_cutoff_and_errors() -> None:
    assert [p[0] for p in metric_names(["ndcg", "Recall@5", "ndcg"], k=3)] == ["ndcg@3", "recall@5"]
    assert [p[0] for p in metric_names(["map", "ndcg@2"])] == ["map", "ndcg@2"]
    with pytest.raises(ValueError, match="Unknown metric 'f1@3'"):
        metric_names(["f1@3"])
    with pytest.raises(ValueError, match="needs a cutoff"):
        metric_names(["recall"])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        metric_names(["ndcg"], k=0)


def test_bad_runs_and_qrels_name_the_query_and_document() -> None:
    with pytest.raises(ValueError, match=r"run\['q'\]\['a'\] is nan"):
        evaluate_run({"q": {"a": float("nan")}}, {"q": {"a": 1}})
    with pytest.raises(TypeError, match=r"qrels\['q'\]\['a'\] must be an integer relevance"):
        evaluate_run({"q": {"a": 1.0}}, {"q": {"a": 0.5}})
    with pytest.raises(ValueError, match="No query is in both"):
        evaluate_run({"x": {"a": 1.0}}, {"q": {"a": 1}})
