"""Embedding throughput: AutoModelForEmbedding against plain SentenceTransformer on the same bundled model.

Both embed the same 2,000 passages from the python-faq data, in interleaved rounds inside one process (so
machine load affects both alike); the script prints passages/s for each and the ratio ours / theirs.
Target: ratio >= 1.0. Run: ``python benchmarks/embed_throughput.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "python-faq"


class _TextOfHtml(HTMLParser):
    """Paragraph-level text of an HTML page (enough for a benchmark corpus)."""

    BLOCKS = {"p", "li", "pre", "h1", "h2", "h3", "h4", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._buf: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if len(text) > 40:
            self.blocks.append(text)
        self._buf = []


def load_passages(data: Path, n: int) -> list[str]:
    passages: list[str] = []
    for page in sorted((data / "corpus").glob("*.html")):
        parser = _TextOfHtml()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        passages.extend(parser.blocks)
    for line in (data / "qa.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        passages.extend(p for p in record["answer"].split("\n\n") if len(p) > 40)
    unique = list(dict.fromkeys(passages))
    if not unique:
        raise SystemExit(f"No passages found under {data}.")
    # Repeat the corpus if it is smaller than n: throughput, not retrieval, is measured here.
    return [unique[i % len(unique)] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="python-faq folder (default: %(default)s)")
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="minilm")
    args = parser.parse_args()
    if not (args.data / "qa.jsonl").is_file():
        sys.exit(f"python-faq data not found at {args.data}; pass --data DIR (see README, 'Data').")

    import torch
    from sentence_transformers import SentenceTransformer

    from retrievers import AutoModelForEmbedding, resolve_model

    passages = load_passages(args.data, args.passages)
    path = str(resolve_model(args.model).path)
    ours = AutoModelForEmbedding.from_pretrained(args.model, device="cpu")
    theirs = SentenceTransformer(path, device="cpu")
    print(f"torch threads: {torch.get_num_threads()}  passages: {len(passages)}  batch size: {args.batch_size}")

    def run_ours() -> object:
        return ours.encode(passages, batch_size=args.batch_size, show_progress_bar=False)

    def run_theirs() -> object:
        return theirs.encode(passages, batch_size=args.batch_size, show_progress_bar=False, normalize_embeddings=True)

    # Warm-up, and a check that both compute the same vectors.
    a, b = run_ours(), run_theirs()
    agreement = float((a * b).sum(axis=1).min())
    times: dict[str, list[float]] = {"ours": [], "sentence-transformers": []}
    for r in range(args.rounds):
        order = [("ours", run_ours), ("sentence-transformers", run_theirs)]
        if r % 2:
            order.reverse()
        for name, fn in order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    rate = {name: len(passages) / statistics.median(t) for name, t in times.items()}
    ratio = rate["ours"] / rate["sentence-transformers"]
    print(f"min cosine between the two: {agreement:.6f}")
    for name, value in rate.items():
        print(f"{name:>22}: {value:8.1f} passages/s  (median of {args.rounds} rounds)")
    print(f"{'ratio ours/theirs':>22}: {ratio:8.3f}  (target >= 1.0: {'met' if ratio >= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
