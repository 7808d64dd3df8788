"""Does embedding "title > heading path" in front of each chunk improve retrieval? Measured on python-faq.

The FAQ's HTML pages are loaded and chunked by the ingest pipeline (chunk_size 200 MiniLM tokens). Each
chunk is embedded twice with the bundled MiniLM: the chunk alone, and ``contextual_text(chunk)`` (title and
heading path in front). Every test question retrieves the top 10 chunks by cosine. A chunk is relevant to a
question when it comes from the question's page and its text lies inside the gold answer (the FAQ entry's
section) — judged on whitespace-normalised text, so it does not depend on the heading (``faq_eval.relevant``).
Metrics: MRR@10, Recall@10 (a relevant chunk in the top 10), nDCG@10, over the questions of ``qa.test.jsonl``.

Run: ``python benchmarks/contextual_chunks.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from faq_eval import DEFAULT_DATA  # noqa: E402  (this folder is on sys.path when the script runs)
from faq_eval import relevant as _relevant  # noqa: E402


def evaluate(scores, chunks, questions, k: int = 10) -> dict[str, float]:  # noqa: ANN001
    import numpy as np

    mrr = recall = ndcg = 0.0
    for q, row in zip(questions, scores, strict=True):
        top = np.argsort(-row)[:k]
        rels = [_relevant(chunks[i].page_content, chunks[i].metadata["source"], q) for i in top]
        first = next((r for r, hit in enumerate(rels, 1) if hit), None)
        mrr += 1 / first if first else 0.0
        recall += 1.0 if first else 0.0
        dcg = sum(1 / math.log2(r + 1) for r, hit in enumerate(rels, 1) if hit)
        total_rel = sum(_relevant(c.page_content, c.metadata["source"], q) for c in chunks)
        idcg = sum(1 / math.log2(r + 1) for r in range(1, min(k, total_rel) + 1))
        ndcg += dcg / idcg if idcg else 0.0
    n = len(questions)
    return {"MRR@10": mrr / n, "Recall@10": recall / n, "nDCG@10": ndcg / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--chunk-size", type=int, default=200)
    args = parser.parse_args()
    if not (args.data / "qa.test.jsonl").is_file():
        sys.exit(f"python-faq data not found at {args.data}; pass --data DIR.")

    from ingest.chunking import chunk_file
    from ingest.contextual import contextual_texts
    from ingest.loaders import load_file
    from retrievers import AutoModelForEmbedding

    model = AutoModelForEmbedding.from_pretrained("minilm")
    chunks = []
    for page in sorted((args.data / "corpus").glob("*.html")):
        loaded = load_file(page, args.data / "corpus")
        chunks += chunk_file(loaded, model.tokenizer, chunk_size=args.chunk_size, chunk_overlap=40, max_tokens=model.max_length)
    questions = [json.loads(line) for line in (args.data / "qa.test.jsonl").read_text().splitlines()]
    queries = model.encode_queries([q["question"] for q in questions])
    plain = model.encode_documents([c.page_content for c in chunks])
    contextual = model.encode_documents(contextual_texts(chunks, model.tokenizer, model.max_length))
    answerable = sum(any(_relevant(c.page_content, c.metadata["source"], q) for c in chunks) for q in questions)
    print(f"{len(chunks)} chunks from {len(list((args.data / 'corpus').glob('*.html')))} HTML pages; "
          f"{len(questions)} test questions, {answerable} with a relevant chunk")
    print(f"{'embedded text':28} {'MRR@10':>7} {'Recall@10':>9} {'nDCG@10':>8}")
    for name, vectors in (("chunk only", plain), ("title > headings + chunk", contextual)):
        m = evaluate(queries @ vectors.T, chunks, questions)
        print(f"{name:28} {m['MRR@10']:7.3f} {m['Recall@10']:9.3f} {m['nDCG@10']:8.3f}")


if __name__ == "__main__":
    main()
