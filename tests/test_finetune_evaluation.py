"""Evaluation: QA and BEIR readers, exact dense retrieval, reranking, metrics, the before/after table and chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from finetune.data import DataError
from finetune.evaluation import (
    EvalData,
    EvalReport,
    comparison_markdown,
    dense_run,
    evaluate,
    load_beir,
    load_corpus,
    load_qa,
    rerank_run,
    write_comparison,
)
from finetune.metrics import evaluate_run
from finetune.plots import plot_metric_comparison

QA = [
    {"id": "pets#cat", "source": "pets.html", "question": "where did the cat sit ?", "answer": "the cat sat on the mat ."},
    {"id": "pets#dog", "source": "pets.html", "question": "what did the dog chase ?", "answer": "the dog chased the cat around the garden ."},
    {"id": "code#pip", "source": "code.html", "question": "how do i install packages ?", "answer": "use pip install with the package name ."},
    {"id": "code#pool", "source": "code.html", "question": "what is mean pooling ?", "answer": "mean pooling averages the token vectors ."},
]


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture()
def qa_files(tmp_path: Path) -> tuple[Path, Path]:
    return _write_jsonl(tmp_path / "qa.test.jsonl", QA[:2] + QA[3:]), _write_jsonl(tmp_path / "qa.jsonl", QA)


class KeywordEmbedder:
    """One dimension per keyword: cosine similarity counts shared keywords, so rankings are known."""

    KEYWORDS = ("cat", "dog", "pip", "pooling", "mat", "garden")

    def _encode(self, texts: list[str], **_: object) -> torch.Tensor:
        rows = [[float(w in t.split()) for w in self.KEYWORDS] + [0.01] for t in texts]
        return torch.nn.functional.normalize(torch.tensor(rows), dim=-1)

    encode_queries = encode_documents = _encode


class LengthRanker:
    """A reranker that prefers shorter documents: the reranked order is known."""

    def compute_score(self, pairs: list[tuple[str, str]], batch_size: int = 16) -> list[float]:
        return [-float(len(doc)) for _, doc in pairs]


def test_load_qa_relevance_is_the_same_id(qa_files: tuple[Path, Path]) -> None:
    data = load_qa(*qa_files)
    assert data.queries == {"pets#cat": "where did the cat sit ?", "pets#dog": "what did the dog chase ?",
                            "code#pool": "what is mean pooling ?"}
    assert data.corpus == {r["id"]: r["answer"] for r in QA}
    assert data.qrels == {"pets#cat": {"pets#cat": 1}, "pets#dog": {"pets#dog": 1}, "code#pool": {"code#pool": 1}}


def test_load_qa_lists_every_bad_line(tmp_path: Path) -> None:
    corpus = _write_jsonl(tmp_path / "qa.jsonl", QA)
    test = _write_jsonl(tmp_path / "test.jsonl", [
        QA[0], "{not json", {"id": "pets#cow", "question": "moo ?"}, {"id": "pets#dog", "question": ""}, {"question": "q"},
    ])
    with pytest.raises(DataError) as info:
        load_qa(test, corpus)
    message = str(info.value)
    assert f"{test}:2: not valid JSON" in message
    assert f"{test}:3: field 'id': 'pets#cow' is not an id of the corpus" in message
    assert f"{test}:4: field 'question': empty" in message
    assert f"{test}:5: field 'id': missing" in message
    assert len(info.value.problems) == 4


def test_load_corpus_formats(tmp_path: Path) -> None:
    plain = _write_jsonl(tmp_path / "plain.jsonl", [{"text": "alpha"}, "", {"text": "beta"}])
    assert load_corpus(plain) == {"1": "alpha", "3": "beta"}
    folder = tmp_path / "beir"
    folder.mkdir()
    _write_jsonl(folder / "corpus.jsonl", [{"_id": "d1", "title": "Cats", "text": "sat on the mat"},
                                           {"_id": 7, "title": "", "text": "no title"}])
    assert load_corpus(folder) == {"d1": "Cats sat on the mat", "7": "no title"}
    duplicate = _write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}, {"id": "b"}])
    with pytest.raises(DataError, match=r"dup.jsonl:2: field 'id': duplicate document id 'a'") as info:
        load_corpus(duplicate)
    assert "dup.jsonl:3: field 'text': missing" in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "missing.jsonl")


def _beir(folder: Path, qrels: str) -> Path:
    (folder / "qrels").mkdir(parents=True)
    _write_jsonl(folder / "corpus.jsonl", [{"_id": r["id"], "title": "", "text": r["answer"]} for r in QA])
    _write_jsonl(folder / "queries.jsonl", [{"_id": f"q{i}", "text": r["question"]} for i, r in enumerate(QA)])
    (folder / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return folder


def test_load_beir_reads_judged_queries_and_graded_qrels(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "set", "query-id\tcorpus-id\tscore\nq0\tpets#cat\t2\nq0\tpets#dog\t1\nq2\tcode#pip\t1\n")
    data = load_beir(folder)
    assert data.name == "set/test"
    assert data.queries == {"q0": QA[0]["question"], "q2": QA[2]["question"]}
    assert data.qrels == {"q0": {"pets#cat": 2, "pets#dog": 1}, "q2": {"code#pip": 1}}
    with pytest.raises(FileNotFoundError, match="splits present: test.tsv"):
        load_beir(folder, split="dev")
    bad = _beir(tmp_path / "bad", "query-id\tcorpus-id\tscore\nq0\tpets#cat\thigh\nq9\tpets#cat\n")
    with pytest.raises(DataError) as info:
        load_beir(bad)
    assert "test.tsv:2: field 'score': 'high' is not an integer" in str(info.value)
    assert "test.tsv:3: expected 3 columns" in str(info.value)


def test_dense_run_is_exact_cosine_top_k(qa_files: tuple[Path, Path]) -> None:
    data = load_qa(*qa_files)
    run = dense_run(KeywordEmbedder(), data.queries, data.corpus, top_k=2, show_progress=False)
    assert set(run) == set(data.queries)
    # "where did the cat sit ?" shares "cat" with the cat answer and the dog answer (which has "dog", "garden" too).
    cat = run["pets#cat"]
    assert list(cat) == ["pets#cat", "pets#dog"]
    assert cat["pets#cat"] == pytest.approx(np.sqrt(1 + 1e-4) / np.sqrt(2 + 1e-4), rel=1e-5)
    assert cat["pets#dog"] == pytest.approx(np.sqrt(1 + 1e-4) / np.sqrt(3 + 1e-4), rel=1e-5)
    assert len(dense_run(KeywordEmbedder(), data.queries, data.corpus, top_k=99, show_progress=False)["pets#cat"]) == 4


def test_rerank_run_rescales_the_top_candidates_only() -> None:
    queries = {"q": "question"}
    corpus = {"long": "a much longer document", "mid": "medium doc", "short": "tiny", "cut": "x"}
    run = {"q": {"long": 0.9, "mid": 0.8, "short": 0.7, "cut": 0.1}}
    reranked = rerank_run(LengthRanker(), queries, corpus, run, top_k=3, show_progress=False)
    assert reranked == {"q": {"long": -22.0, "mid": -10.0, "short": -4.0}}


def test_evaluate_matches_metrics_of_the_run_it_made(qa_files: tuple[Path, Path]) -> None:
    data = load_qa(*qa_files)
    report = evaluate(data, KeywordEmbedder(), k=1, metrics=["mrr", "recall", "ndcg@2"], show_progress=False)
    run = dense_run(KeywordEmbedder(), data.queries, data.corpus, top_k=2, show_progress=False)
    assert report.metrics == evaluate_run(run, data.qrels, ["mrr@1", "recall@1", "ndcg@2"]).mean
    assert report.metrics["recall@1"] == 1.0  # every question's keyword points at its own answer
    assert report.candidates == 2 and report.num_queries == 3 and report.num_documents == 4
    reranked = evaluate(data, KeywordEmbedder(), reranker=LengthRanker(), k=1, candidates=4, show_progress=False)
    # The shortest answer (the cat's, 24 characters) now comes first for every question.
    assert {q: v["mrr@1"] for q, v in reranked.per_query.items()} == {"pets#cat": 1.0, "pets#dog": 0.0, "code#pool": 0.0}
    with pytest.raises(ValueError, match="candidates must be an integer >= the deepest metric cutoff"):
        evaluate(data, KeywordEmbedder(), k=5, candidates=3, show_progress=False)


def test_evaluate_loads_models_by_name(qa_files: tuple[Path, Path], tiny_encoder_dir: Path, tiny_cross_encoder_dir: Path) -> None:
    from retrievers import AutoModelForEmbedding

    data = load_qa(*qa_files)
    report = evaluate(data, str(tiny_encoder_dir), reranker=str(tiny_cross_encoder_dir), k=2, show_progress=False)
    assert report.system == f"{tiny_encoder_dir} + {tiny_cross_encoder_dir} (cross-encoder)"
    assert report.candidates == 2 and set(report.metrics) == {"ndcg@2", "mrr@2", "recall@2", "map@2"}
    # Without a reranker, the metrics are those of the embedder's own cosine ranking, computed by hand.
    plain = evaluate(data, str(tiny_encoder_dir), k=2, show_progress=False)
    model = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)
    ids = list(data.corpus)
    docs = model.encode_documents([data.corpus[i] for i in ids], normalize_embeddings=True)
    by_hand = {}
    for qid, text in data.queries.items():
        scores = docs @ model.encode_queries([text], normalize_embeddings=True)[0]
        by_hand[qid] = {ids[j]: float(scores[j]) for j in np.argsort(-scores)[:2]}
    expected = evaluate_run(by_hand, data.qrels, ["ndcg@2", "mrr@2", "recall@2", "map@2"]).mean
    assert plain.metrics == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="reranker kind must be one of"):
        evaluate(data, KeywordEmbedder(), reranker="x", reranker_kind="bm25", show_progress=False)  # type: ignore[arg-type]


def _report(system: str, values: dict[str, float]) -> EvalReport:
    return EvalReport(system=system, data="faq/test", metrics=values, per_query={}, num_queries=39, num_documents=179,
                      candidates=10)


def test_comparison_markdown_shows_both_systems_and_the_change() -> None:
    base = _report("minilm", {"ndcg@10": 0.5, "mrr@10": 0.4})
    tuned = _report("out/tuned", {"ndcg@10": 0.75, "mrr@10": 0.4})
    text = comparison_markdown([base, tuned])
    lines = text.splitlines()
    assert lines[0] == "| metric | minilm | out/tuned | change |"
    assert lines[2] == "| ndcg@10 | 0.5000 | **0.7500** | +0.2500 (+50.0%) |"
    assert lines[3] == "| mrr@10 | 0.4000 | 0.4000 | +0.0000 (+0.0%) |"
    assert "39 queries, 179 documents" in text


def test_write_comparison_writes_table_chart_and_json(tmp_path: Path) -> None:
    reports = [_report("base", {"ndcg@10": 0.5, "recall@10": 0.6}), _report("tuned", {"ndcg@10": 0.7, "recall@10": 0.9})]
    markdown, chart, as_json = write_comparison(reports, tmp_path / "out")
    assert markdown.read_text(encoding="utf-8") == comparison_markdown(reports)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000
    assert [r["metrics"] for r in json.loads(as_json.read_text())] == [r.metrics for r in reports]


def test_bar_chart_draws_one_bar_per_system_and_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The figure as it is saved: its bars, labels, legend and title are what the reader of the PNG sees.
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    saved: list[Figure] = []
    original = Figure.savefig

    def keep(self: Figure, *args: Any, **kwargs: Any) -> Any:
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    values = {"a": {"m1": 0.2, "m2": 1.0}, "b": {"m1": 0.9, "m2": 0.1}}
    path = plot_metric_comparison(values, tmp_path / "c.png", title="Before and after")
    (axes,) = saved[0].axes
    heights = [[round(bar.get_height(), 6) for bar in container] for container in axes.containers]
    assert heights == [[0.2, 1.0], [0.9, 0.1]]  # one group per system, one bar per metric, in order
    assert [t.get_text() for t in axes.get_xticklabels()] == ["m1", "m2"]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["a", "b"]
    assert axes.get_title() == "Before and after"
    assert sorted(t.get_text() for t in axes.texts) == ["0.100", "0.200", "0.900", "1.000"]  # each bar's value
    assert imread(path).shape[0] == 450
    with pytest.raises(ValueError, match="compare systems on the same metrics"):
        plot_metric_comparison({"a": {"m1": 0.2}, "b": {"m2": 0.9}}, tmp_path / "d.png")


def test_eval_data_checks_that_judged_queries_have_text() -> None:
    with pytest.raises(ValueError, match="judged query id"):
        EvalData("x", queries={}, corpus={"d": "t"}, qrels={"q": {"d": 1}})
