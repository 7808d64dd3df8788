"""``rag-app finetune mine|embedder|reranker`` and ``rag-app eval`` on tiny models and tiny files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finetune.config import EmbedderTrainingConfig
from finetune.data import load_examples
from rag_app.cli import app

QA = [
    {"id": "a", "question": "where did the cat sit ?", "answer": "the cat sat on the mat ."},
    {"id": "b", "question": "what did the dog chase ?", "answer": "the dog chased the cat around the garden ."},
    {"id": "c", "question": "how do i install packages ?", "answer": "use pip install with the package name ."},
    {"id": "d", "question": "what is mean pooling ?", "answer": "mean pooling averages the token vectors ."},
    {"id": "e", "question": "what does a reranker do ?", "answer": "a reranker scores each query and passage pair ."},
]
PAIRS = [{"query": r["question"], "positive": [r["answer"]]} for r in QA]


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def _run(*args: str) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def qa(tmp_path: Path) -> tuple[Path, Path]:
    return _jsonl(tmp_path / "qa.test.jsonl", QA[:3]), _jsonl(tmp_path / "qa.jsonl", QA)


def test_eval_json_reports_the_metrics_at_k(qa: tuple[Path, Path], tiny_encoder_dir: Path) -> None:
    from finetune.evaluation import evaluate, load_qa

    result = _run("eval", "--model", tiny_encoder_dir, "--data", qa[0], "--corpus", qa[1], "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["num_queries"] == 3 and record["num_documents"] == 5 and record["candidates"] == 3
    expected = evaluate(load_qa(*qa), str(tiny_encoder_dir), k=3, show_progress=False).metrics
    assert record["metrics"] == pytest.approx(expected)
    assert list(record["metrics"]) == ["ndcg@3", "mrr@3", "recall@3", "map@3"]


def test_eval_table_with_a_reranker_and_chosen_metrics(qa: tuple[Path, Path], tiny_encoder_dir: Path,
                                                       tiny_bow_encoder_dir: Path) -> None:
    result = _run("eval", "--model", tiny_encoder_dir, "--reranker", tiny_bow_encoder_dir, "--reranker-kind", "colbert",
                  "--data", qa[0], "--corpus", qa[1], "--metric", "hit@1", "--metric", "mrr", "--k", "2", "--candidates", "5")
    assert result.exit_code == 0, result.output
    assert "hit@1" in result.output and "mrr@2" in result.output and "(colbert)" in result.output
    assert "qa.test.jsonl: 3 queries, 5 documents" in result.output


def test_eval_compare_writes_markdown_chart_and_json(qa: tuple[Path, Path], tiny_encoder_dir: Path,
                                                     tiny_bow_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = _run("eval", "--compare", tiny_encoder_dir, tiny_bow_encoder_dir, "--data", qa[0], "--corpus", qa[1],
                  "--output-dir", out, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [r["system"] for r in payload["results"]] == [str(tiny_encoder_dir), str(tiny_bow_encoder_dir)]
    assert sorted(Path(f).name for f in payload["files"]) == ["comparison.json", "comparison.md", "comparison.png"]
    table = (out / "comparison.md").read_text(encoding="utf-8")
    assert table.startswith(f"| metric | {tiny_encoder_dir} | {tiny_bow_encoder_dir} | change |")
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_beir_folder(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    _jsonl(folder / "corpus.jsonl", [{"_id": r["id"], "title": "", "text": r["answer"]} for r in QA])
    _jsonl(folder / "queries.jsonl", [{"_id": "q" + r["id"], "text": r["question"]} for r in QA])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nqa\ta\t1\nqb\tb\t2\n", encoding="utf-8")
    result = _run("eval", "--model", tiny_encoder_dir, "--beir", folder, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["data"] == "beir/test" and record["num_queries"] == 2


def test_eval_bad_input_exits_2_with_the_line(qa: tuple[Path, Path], tiny_encoder_dir: Path, tmp_path: Path) -> None:
    bad = _jsonl(tmp_path / "bad.jsonl", [QA[0], {"id": "zz", "question": "lost ?"}])
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_encoder_dir), "--data", str(bad), "--corpus", str(qa[1])])
    assert result.exit_code == 2
    assert f"{bad}:2: field 'id': 'zz' is not an id of the corpus" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["eval", "--model", str(tiny_encoder_dir), "--data", str(qa[0])])
    assert missing.exit_code == 2 and "--corpus" in missing.output
    unknown = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "nope"), "--data", str(qa[0]), "--corpus", str(qa[1])])
    assert unknown.exit_code == 2 and "nope" in unknown.output
    metric = CliRunner().invoke(app, ["eval", "--model", str(tiny_encoder_dir), "--data", str(qa[0]), "--corpus",
                                      str(qa[1]), "--metric", "f1"])
    assert metric.exit_code == 2 and "Unknown metric 'f1'" in metric.output


def test_mine_writes_triplets_that_load_as_training_data(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    pairs = _jsonl(tmp_path / "pairs.jsonl", PAIRS)
    corpus = _jsonl(tmp_path / "corpus.jsonl", [{"text": f"the cat sat on the mat {i} times ."} for i in range(12)])
    output = tmp_path / "out" / "triplets.jsonl"
    args = ["finetune", "mine", "--data", pairs, "--corpus", corpus, "--model", tiny_encoder_dir, "--output", output,
            "--range", "1-10", "--margin", "0", "--per-query", "2", "--seed", "5", "--json"]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["queries"] == 5 and stats["corpus_size"] == 17 and stats["triplets"] >= 1
    data = load_examples(output)
    assert data.kind == "triplets" and len(data) == stats["triplets"]
    assert all(1 <= len(t.negatives) <= 2 and not set(t.negatives) & set(t.positives) for t in data.examples)
    first = output.read_bytes()
    assert _run(*args).exit_code == 0 and output.read_bytes() == first  # same seed, same file


def test_mine_reports_bad_pairs_and_options(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    pairs = _jsonl(tmp_path / "pairs.jsonl", [PAIRS[0], {"query": "q", "positive": []}])
    result = CliRunner().invoke(app, ["finetune", "mine", "--data", str(pairs), "--model", str(tiny_encoder_dir),
                                      "--output", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 2
    assert f"{pairs}:2: field 'positive': empty list" in result.output
    bad_range = CliRunner().invoke(app, ["finetune", "mine", "--data", str(pairs), "--model", str(tiny_encoder_dir),
                                         "--output", str(tmp_path / "t.jsonl"), "--range", "50-10"])
    assert bad_range.exit_code == 2 and "rank range" in bad_range.output
    assert not (tmp_path / "t.jsonl").exists()


def test_finetune_embedder_trains_and_saves_a_loadable_model(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    from retrievers import AutoModelForEmbedding

    pairs = _jsonl(tmp_path / "pairs.jsonl", PAIRS)
    out = tmp_path / "tuned"
    result = _run("finetune", "embedder", "--data", pairs, "--model", tiny_encoder_dir, "--output", out,
                  "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--pooling", "mean", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # stdout holds the JSON only; the Trainer's logs went to stderr
    assert "'loss'" in result.stderr
    assert record["global_step"] == 2 and record["output_dir"] == str(out.resolve())
    config = json.loads((out / "training_config.json").read_text())
    assert config["config"]["lr"] == 1e-3 and config["config"]["batch_size"] == 2 and config["config"]["max_steps"] == 2
    assert config["config"]["epochs"] == EmbedderTrainingConfig().epochs  # not given: the default stays
    assert AutoModelForEmbedding.from_pretrained(out).pooling_method == "mean"


def test_finetune_reranker_cross_encoder_on_scored_pairs(tmp_path: Path, tiny_cross_encoder_dir: Path) -> None:
    from retrievers import AutoModelForRanking, CrossEncoderRanker

    scored = _jsonl(tmp_path / "scored.jsonl", [{"query": r["question"], "document": r["answer"], "label": 1.0} for r in QA]
                    + [{"query": QA[0]["question"], "document": QA[2]["answer"], "label": 0.0}])
    out = tmp_path / "ranker"
    result = _run("finetune", "reranker", "--kind", "cross-encoder", "--data", scored, "--model", tiny_cross_encoder_dir,
                  "--output", out, "--max-steps", "1", "--batch-size", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["global_step"] == 1
    assert isinstance(AutoModelForRanking.from_pretrained(out), CrossEncoderRanker)


def test_finetune_bad_data_and_kind_exit_2(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    bad = _jsonl(tmp_path / "bad.jsonl", [PAIRS[0], {"query": "q", "document": "d", "label": 3}])
    result = CliRunner().invoke(app, ["finetune", "embedder", "--data", str(bad), "--model", str(tiny_encoder_dir),
                                      "--output", str(tmp_path / "o")])
    assert result.exit_code == 2 and f"{bad}:2" in result.output and "Traceback" not in result.output
    kind = CliRunner().invoke(app, ["finetune", "reranker", "--kind", "bm25", "--data", str(bad), "--model",
                                    str(tiny_encoder_dir), "--output", str(tmp_path / "o")])
    assert kind.exit_code == 2 and "cross-encoder, colbert, llm" in kind.output
