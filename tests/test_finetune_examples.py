"""The five ``examples/finetune`` scripts, each run as a subprocess on tiny models and a tiny python-faq-like set.

Each run must train, save a model that reloads, and report before/after metrics that are the ones a fresh
evaluation of the base and of the reloaded model gives (so the numbers are computed, not made up).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from finetune.evaluation import dense_run, load_qa, rerank_run
from finetune.metrics import evaluate_run
from retrievers import AutoModelForEmbedding, AutoModelForRanking

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "finetune"
METRICS = ["ndcg@10", "mrr@10", "recall@10"]
QA = [
    {"id": "a", "question": "where did the cat sit ?", "answer": "the cat sat on the mat ."},
    {
        "id": "b",
        "question": "what did the dog chase ?",
        "answer": "the dog chased the cat around the garden .",
    },
    {
        "id": "c",
        "question": "how do i install packages ?",
        "answer": "use pip install with the package name .",
    },
    {"id": "d", "question": "what is mean pooling ?", "answer": "mean pooling averages the token vectors ."},
    {
        "id": "e",
        "question": "what does a reranker do ?",
        "answer": "a reranker scores each query and passage pair .",
    },
    {
        "id": "f",
        "question": "why normalise the vectors ?",
        "answer": "normalised vectors make the dot product a cosine .",
    },
]
TRAIN, TEST = QA[:4], QA[4:]


def _jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def faq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python-faq-shaped folder: qa.jsonl, qa.test.jsonl and the three training files."""
    folder = tmp_path_factory.mktemp("faq")
    _jsonl(folder / "qa.jsonl", QA)
    _jsonl(folder / "qa.test.jsonl", TEST)
    _jsonl(folder / "pairs.train.jsonl", [{"query": r["question"], "positive": [r["answer"]]} for r in TRAIN])
    _jsonl(
        folder / "triplets.train.jsonl",
        [
            {
                "query": r["question"],
                "positive": [r["answer"]],
                "negative": [o["answer"] for o in TRAIN if o is not r][:2],
            }
            for r in TRAIN
        ],
    )
    scored = []
    for i, r in enumerate(TRAIN):
        scored.append({"query": r["question"], "document": r["answer"], "label": 1.0})
        scored.append(
            {"query": r["question"], "document": TRAIN[(i + 1) % len(TRAIN)]["answer"], "label": 0.0}
        )
    _jsonl(folder / "scored.train.jsonl", scored)
    return folder


#: script -> (model fixture, extra options); the rerankers rerank the tiny encoder's top 3.
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "train_pairwise.py": ("tiny_encoder_dir", ("--max-length", "32")),
    "train_llm_embedder.py": ("tiny_decoder_dir", ("--max-length", "32")),
    "train_cross_encoder.py": ("tiny_encoder_dir", ("--max-length", "64", "--candidates", "3")),
    "train_colbert.py": ("tiny_encoder_dir", ("--max-length", "64", "--candidates", "3")),
    # the tiny byte-level vocabulary makes the yes/no prompt long
    "train_llm_reranker.py": ("tiny_chat_decoder_dir", ("--max-length", "192", "--candidates", "3")),
}


@pytest.fixture(scope="module")
def runs(
    faq: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    tiny_encoder_dir: Path,
) -> dict[str, tuple[subprocess.CompletedProcess, Path, Path]]:
    """All five examples started at once (most of each run is importing torch), then waited for."""
    started = {}
    for script, (fixture, extra) in CASES.items():
        folder = tmp_path_factory.mktemp(script.removesuffix(".py"))
        out, report = folder / "model", folder / "results.json"
        command = [
            sys.executable,
            str(EXAMPLES / script),
            "--model",
            str(request.getfixturevalue(fixture)),
            "--data",
            str(faq),
            "--output",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "1e-3",
            "--json",
            str(report),
            *extra,
        ]
        if "--candidates" in extra:
            command += ["--embedder", str(tiny_encoder_dir)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started[script] = (command, process, out, report)
    done = {}
    for script, (command, process, out, report) in started.items():
        stdout, stderr = process.communicate(timeout=300)
        done[script] = (subprocess.CompletedProcess(command, process.returncode, stdout, stderr), out, report)
    return done


def _record(runs: dict, script: str) -> dict:
    done, out, report = runs[script]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "change (after - before)" in done.stdout and "ndcg@10" in done.stdout
    record = json.loads(report.read_text(encoding="utf-8"))
    assert record["steps"] == 2 and Path(record["output"]) == out
    assert record["learning_rate"] == 1e-3 and record["training_config"]["batch_size"] == 4
    for row in record["results"]:
        assert list(row["metrics"]) == METRICS and all(0.0 <= v <= 1.0 for v in row["metrics"].values())
    assert record["change"] == pytest.approx({m: record["after"][m] - record["before"][m] for m in METRICS})
    assert (out / "training_config.json").is_file()
    return record


def _metrics(run: dict) -> dict[str, float]:
    return evaluate_run(run, {q["id"]: {q["id"]: 1} for q in TEST}, METRICS, complete=True).mean


@pytest.mark.parametrize(
    ("script", "fixture"),
    [("train_pairwise.py", "tiny_encoder_dir"), ("train_llm_embedder.py", "tiny_decoder_dir")],
)
def test_embedder_examples_report_base_and_reloaded_model(
    script: str, fixture: str, faq: Path, runs: dict, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(fixture)
    record = _record(runs, script)
    data = load_qa(faq / "qa.test.jsonl", faq / "qa.jsonl")
    base = AutoModelForEmbedding.from_pretrained(model, max_length=32, device="cpu")
    tuned = AutoModelForEmbedding.from_pretrained(record["output"], device="cpu")
    assert record["before"] == pytest.approx(
        _metrics(dense_run(base, data.queries, data.corpus, 10, show_progress=False))
    )
    assert record["after"] == pytest.approx(
        _metrics(dense_run(tuned, data.queries, data.corpus, 10, show_progress=False))
    )
    assert tuned.max_length == 32 and tuned.pooling_method == base.pooling_method
    if script == "train_llm_embedder.py":
        assert tuned.pooling_method == "last" and tuned.query_instruction == record["query_instruction"]
    # Training changed the model: a trainer that saved the base weights back would give the same vectors.
    texts = [q["question"] for q in QA] + [q["answer"] for q in QA]
    untouched = torch.as_tensor(base.encode_documents(texts))  # same max_length, no query instruction
    trained = torch.as_tensor(tuned.encode_documents(texts))
    assert (untouched - trained).abs().max().item() > 1e-4


@pytest.mark.parametrize("script", ["train_cross_encoder.py", "train_colbert.py", "train_llm_reranker.py"])
def test_reranker_examples_rerank_the_embedder_candidates(
    script: str, faq: Path, runs: dict, tiny_encoder_dir: Path, request: pytest.FixtureRequest
) -> None:
    record = _record(runs, script)
    fixture, extra = CASES[script]
    data = load_qa(faq / "qa.test.jsonl", faq / "qa.jsonl")
    run = dense_run(
        AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, device="cpu"),
        data.queries,
        data.corpus,
        3,
        show_progress=False,
    )
    embedder_alone = _metrics(run)
    tuned = AutoModelForRanking.from_pretrained(record["output"], device="cpu")
    after = _metrics(rerank_run(tuned, data.queries, data.corpus, run, top_k=3, show_progress=False))
    assert record["after"] == pytest.approx(after)
    labels = [row["system"] for row in record["results"]]
    alone = next(row["metrics"] for row in record["results"] if "embedder alone" in row["system"])
    assert alone == pytest.approx(embedder_alone)
    # "before" is the reranker before fine-tuning: zero-shot, or for the cross-encoder the new head as
    # seeded by the example (the head training starts from)
    if script == "train_cross_encoder.py":
        torch.manual_seed(42)
        with pytest.warns(UserWarning, match="no sequence-classification head"):
            base = AutoModelForRanking.from_pretrained(
                tiny_encoder_dir, max_length=int(extra[1]), device="cpu"
            )
    else:
        kind = {"colbert": True} if script == "train_colbert.py" else {"causal_lm": True}
        base = AutoModelForRanking.from_pretrained(
            request.getfixturevalue(fixture), max_length=int(extra[1]), device="cpu", **kind
        )
    before = _metrics(rerank_run(base, data.queries, data.corpus, run, top_k=3, show_progress=False))
    assert record["before"] == pytest.approx(before)
    # Training changed the model: a trainer that saved the starting weights back would score the same.
    pairs = [(q["question"], a["answer"]) for q in QA for a in QA]
    moved = torch.as_tensor(tuned.compute_score(pairs)) - torch.as_tensor(base.compute_score(pairs))
    assert moved.abs().max().item() > 1e-4
    assert len(labels) == 3 and labels[0].startswith("before") and labels[-1].startswith("after")
    assert record["settings"]["candidates"] == 3
    if script != "train_colbert.py":  # trained on negatives mined with the first-stage embedder
        mined = [json.loads(line) for line in Path(record["mining"]["file"]).read_text().splitlines()]
        assert Path(record["mining"]["file"]).parent == Path(record["output"])
        assert len(mined) == record["mining"]["triplets"] > 0
        assert record["training_config"]["group_size"] == record["settings"]["group_size"]
        answers = {r["question"]: r["answer"] for r in TRAIN}
        for triplet in mined:  # negatives are other training answers: never its own, never a test answer
            assert triplet["positive"] == [answers[triplet["query"]]]
            assert triplet["negative"] and set(triplet["negative"]) <= set(answers.values()) - {
                answers[triplet["query"]]
            }


def test_missing_data_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import _common

    args = argparse.Namespace(
        data=tmp_path, train=None, test=None, corpus=None, train_file="pairs.train.jsonl"
    )
    with pytest.raises(
        SystemExit, match=r"pairs\.train\.jsonl does not exist \(--train\); pass --train FILE"
    ):
        _common.data_files(args)
    monkeypatch.setattr(_common, "DEFAULT_DATA", tmp_path / "nowhere")
    args.data = None
    with pytest.raises(SystemExit, match=r"python-faq data is not at .*nowhere\. Pass --data FOLDER"):
        _common.data_files(args)
