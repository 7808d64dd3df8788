"""The support check (:func:`rag_app.citations.cite`) measured as a classifier on hand-labelled answer sentences.

Each record of the labelled set (``benchmarks/data/support-labels.jsonl``) is one sentence of an answer the
bundled generator wrote in ``benchmarks/answer_quality.py`` runs over the sample documents (our own text), the
passages that answer was given, and a label set by a person reading them: ``supported`` when one passage
states what the sentence says (paraphrase allowed, nothing added: numbers, names, negation as in the
passage), else ``not_supported``. A few records are the examples of issue 13 (a wrong UID range, a negation
the passage does not have, a lone list marker) on passages written for them.

The check's verdict for a sentence is whether ``cite(sentence, passages)`` marks it supported (a sentence the
check drops as a fragment counts as "not supported"). Reported: precision and recall of "supported" (the
check must keep precision >= 0.95: a sentence it vouches for must be true), the confusion counts, and every
disagreement.

Run: ``python benchmarks/support_check_eval.py [--labels FILE] [--json out.json]``.
Collect unlabelled sentences from an answer_quality run: ``--collect run.json --out new.jsonl`` (then label
them by hand and append them to the labelled set).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from faq_eval import make_console, print_table, write_json

from rag_app.citations import cite, split_sentences

LABELS = Path(__file__).resolve().parent / "data" / "support-labels.jsonl"


def verdict(sentence: str, passages: list[dict[str, Any]]) -> bool:
    """Whether the support check marks ``sentence`` supported by one of ``passages``."""
    citations = cite(sentence, passages)["citations"]
    return bool(citations) and all(c["supported"] for c in citations)


def collect(run: Path, out: Path, sets: tuple[str, ...] = ("sample",)) -> int:
    """Write each distinct answer sentence of an answer_quality ``--json`` run (generated answers and drafts),
    with the passages it was given, as unlabelled records; return how many."""
    data = json.loads(run.read_text(encoding="utf-8"))
    seen: set[str] = set()
    records = []
    for answer in data["answers"]:
        if answer["set"] not in sets:
            continue
        text = answer.get("draft") or (answer["answer"] if answer["mode"] == "generate" else "")
        passages = [{"id": s["id"], "text": s["text"]} for s in answer["sources"]]
        for start, end in split_sentences(text or ""):
            sentence = text[start:end]
            if sentence in seen or not passages:
                continue
            seen.add(sentence)
            records.append({"id": f"{answer['id']}-{len(records)}", "question": answer["question"],
                            "sentence": sentence, "passages": passages, "label": None})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return len(records)


def evaluate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall of "supported", confusion counts and the disagreements."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    wrong = []
    for record in records:
        truth = record["label"] == "supported"
        said = verdict(record["sentence"], record["passages"])
        counts[("t" if said == truth else "f") + ("p" if said else "n")] += 1
        if said != truth:
            wrong.append({"id": record["id"], "sentence": record["sentence"], "label": record["label"],
                          "check": "supported" if said else "not supported", "note": record.get("note", "")})
    precision = counts["tp"] / max(1, counts["tp"] + counts["fp"])
    recall = counts["tp"] / max(1, counts["tp"] + counts["fn"])
    return {"n": len(records), **counts, "precision": precision, "recall": recall, "disagreements": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=LABELS, help=f"labelled set (default {LABELS})")
    parser.add_argument("--collect", type=Path, help="an answer_quality --json run to take sentences from")
    parser.add_argument("--out", type=Path, help="with --collect: where to write the unlabelled records")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    console = make_console()
    if args.collect:
        if not args.out:
            parser.error("--collect needs --out")
        console.print(f"{collect(args.collect, args.out)} sentences written to {args.out}")
        return
    records = [json.loads(line) for line in args.labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    unlabelled = [r["id"] for r in records if r.get("label") not in ("supported", "not_supported")]
    if unlabelled:
        raise SystemExit(f"{args.labels}: records without a label (supported / not_supported): {unlabelled[:5]}")
    result = evaluate(records)
    supported = sum(r["label"] == "supported" for r in records)
    print_table(
        f"Support check on {result['n']} hand-labelled sentences ({supported} supported, "
        f"{result['n'] - supported} not)",
        ["precision (supported)", "recall (supported)", "true +", "false +", "false -", "true -"],
        [(f"{result['precision']:.3f}", f"{result['recall']:.3f}", str(result["tp"]), str(result["fp"]),
          str(result["fn"]), str(result["tn"]))],
        console,
    )
    for miss in result["disagreements"]:
        console.print(f"[{miss['id']}] labelled {miss['label']}, check says {miss['check']}: {miss['sentence']}",
                      markup=False)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
