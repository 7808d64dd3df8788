"""benchmarks/support_check_eval.py: the classifier arithmetic on hand-made labelled records, and the labelled
set that ships with the project keeps the support check's precision at or above 0.95."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "support_check_eval.py"


def _load():
    sys.path.insert(0, str(SCRIPT.parent))  # the script imports its sibling faq_eval
    spec = importlib.util.spec_from_file_location("support_check_eval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load()
PASSAGES = [{"id": 1, "text": "Regular users get UIDs from 1000 to 59999. System users get UIDs 100 to 999."}]


def record(sentence: str, label: str) -> dict:
    return {"id": sentence[:10], "sentence": sentence, "passages": PASSAGES, "label": label}


def test_precision_and_recall_count_each_kind_of_disagreement():
    records = [
        record("Regular users get UIDs from 1000 to 59999.", "supported"),  # true positive
        record("System users get UIDs 100 to 999.", "supported"),  # true positive
        record("Regular users get UIDs from 1000 to 65533.", "not_supported"),  # true negative (wrong number)
        record("System users do not get UIDs.", "not_supported"),  # true negative (negation)
        record("Users with UIDs from 1000 upwards are regular.", "supported"),  # a loose paraphrase
    ]
    result = tool.evaluate(records)
    assert result["tp"] + result["fn"] == 3 and result["tn"] + result["fp"] == 2
    assert result["fp"] == 0 and result["precision"] == 1.0
    assert result["recall"] == result["tp"] / 3
    assert [d["id"] for d in result["disagreements"]] == [r["id"] for r in records
                                                          if tool.verdict(r["sentence"], PASSAGES) != (r["label"] == "supported")]


def test_collect_takes_each_generated_sentence_once_with_its_passages(tmp_path: Path):
    run = {"answers": [
        {"set": "sample", "mode": "generate", "id": "s1", "question": "q", "answer": "One thing. Two things.",
         "sources": [{"id": 1, "text": "p"}]},
        {"set": "sample", "mode": "verified", "id": "s1", "question": "q", "answer": "Quoted…",
         "draft": "One thing. Three things.", "sources": [{"id": 1, "text": "p"}]},
        {"set": "debian", "mode": "generate", "id": "d1", "question": "q", "answer": "Other.", "sources": []},
    ]}
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert tool.collect(tmp_path / "run.json", tmp_path / "out.jsonl") == 3
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["sentence"] for r in rows] == ["One thing.", "Two things.", "Three things."]
    assert all(r["label"] is None and r["passages"] == [{"id": 1, "text": "p"}] for r in rows)
