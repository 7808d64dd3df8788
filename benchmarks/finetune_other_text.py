"""Does fine-tuning on python-faq hurt retrieval on other text? Base vs fine-tuned embedder on the sample docs.

Fine-tuning an embedder on one domain can make it worse elsewhere. This script checks a fine-tuned model on text
it never saw, from another domain: the project's sample documents (``rag_app/sample_data``, a weather station's
manual, warranty and accessories page). Each section (a Markdown heading's text, an HTML ``<h2>``'s paragraph,
a block of the text file) is one passage; 12 questions worded as a user would ask them each have the one
passage holding a fact as relevant. Both models rank all passages by cosine (``rag-app eval --beir`` on the
folder this script writes), and the table compares the metrics of `rag-app eval`.

The set is small (12 questions over 15 passages): it catches a model that forgot general retrieval, not a
one-point drift. Run: ``python benchmarks/finetune_other_text.py --finetuned DIR [--base minilm]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "rag_app" / "sample_data"
QUESTIONS: dict[str, str] = {  # question -> a phrase only its relevant passage holds
    "How do I reset the station to factory settings?": "restore factory settings",
    "Which batteries does the outdoor sensor need?": "two AA lithium batteries",
    "How often are readings uploaded to the cloud?": "uploads a summary to the Nimbus cloud",
    "How long is the warranty?": "two-year limited warranty",
    "Where should I mount the outdoor sensor?": "north-facing wall",
    "What do the dashes on the display mean?": "Dashes mean",
    "How do I correct the rain gauge if it reads too low?": "correction factor",
    "How far can the sensor be from the display?": "within 100 metres",
    "When are firmware updates installed?": "Updates install at 3 a.m.",
    "How many extra indoor sensors can I add?": "Up to three extra indoor sensors",
    "How long is my data kept in the cloud?": "stored for two years",
    "What comes in the box?": "The box holds",
}


def passages() -> list[str]:
    """One passage per section of the sample documents, whitespace collapsed."""
    from bs4 import BeautifulSoup

    found: list[str] = []
    markdown = (SAMPLES / "nimbus-manual.md").read_text(encoding="utf-8")
    found += re.split(r"^#+ .*$", markdown, flags=re.M)
    html = BeautifulSoup((SAMPLES / "nimbus-accessories.html").read_text(encoding="utf-8"), "html.parser")
    found += [p.get_text(" ") for p in html.find_all("p")]
    text = (SAMPLES / "nimbus-warranty.txt").read_text(encoding="utf-8")
    found += [block.split("\n", 1)[-1] for block in re.split(r"\n\s*\n", text)]
    return [" ".join(p.split()) for p in found if len(p.split()) > 5]


def write_beir(folder: Path) -> int:
    """The sample documents as a BEIR folder; returns the number of passages."""
    texts = passages()
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for number, text in enumerate(texts):
            out.write(json.dumps({"_id": f"p{number}", "title": "", "text": text}) + "\n")
    qrels = ["query-id\tcorpus-id\tscore"]
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for number, (question, phrase) in enumerate(QUESTIONS.items()):
            relevant = [f"p{i}" for i, text in enumerate(texts) if phrase in text]
            if len(relevant) != 1:
                raise SystemExit(f"{phrase!r} is in {len(relevant)} passages; the sample documents changed?")
            out.write(json.dumps({"_id": f"q{number}", "text": question}) + "\n")
            qrels.append(f"q{number}\t{relevant[0]}\t1")
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finetuned", required=True, help="The fine-tuned embedder (a folder).")
    parser.add_argument("--base", default="minilm", help="The model it was fine-tuned from.")
    parser.add_argument("--json", type=Path, help="Also write the reports here.")
    args = parser.parse_args()
    from finetune.evaluation import System, compare, comparison_markdown, load_beir

    with tempfile.TemporaryDirectory() as tmp:
        count = write_beir(Path(tmp))
        data = load_beir(tmp)
        reports = compare(data, [System(model=args.base, label="base"), System(model=args.finetuned, label="fine-tuned")],
                          k=10)
    print(f"{len(QUESTIONS)} questions over {count} passages of rag_app/sample_data\n")
    print(comparison_markdown(reports))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=2))


if __name__ == "__main__":
    main()
