"""Fine-tune a cross-encoder from MiniLM (a new classification head) and rerank the MiniLM embedder's top 20.

Before: the embedder alone (a fresh classification head scores at random, so there is no meaningful
"before" reranker; the untrained head is shown too, for honesty). After: the top ``--candidates`` answers
of the embedder reranked by the cross-encoder trained on ``triplets.train.jsonl`` (listwise cross-entropy over
the positive and its negatives; the default) or ``scored.train.jsonl`` (``--train .../scored.train.jsonl``:
BCE on the labels), reloaded from ``--output``. The example trains 3 epochs at lr 1e-4 rather than the
framework's cross-encoder default of 2e-5: the new head starts with near-zero logits, and at 2e-5 the listwise
loss stayed at ln 4 (chance over 1 positive + 3 negatives) through the first epoch of 140 triplets.

    .venv/bin/python examples/finetune/train_cross_encoder.py --json out/cross_encoder.json
"""

from __future__ import annotations

import _common
import torch

from finetune import train_reranker
from retrievers import AutoModelForEmbedding, AutoModelForRanking


def main() -> None:
    parser = _common.build_parser(
        __doc__.splitlines()[0],
        model="minilm",
        train_file="triplets.train.jsonl",
        output="checkpoints/faq-minilm-cross-encoder",
        epochs=3.0,
        embedder=True,
    )
    parser.set_defaults(max_length=256, batch_size=8, lr=1e-4)
    args = parser.parse_args()
    files = _common.data_files(args)
    test = _common.load_test(files)
    report = _common.Report(
        f"train_cross_encoder (MiniLM + new head, rerank top {args.candidates})",
        _common.settings_of(args, files),
    )
    with report.timed("first stage"):
        embedder = AutoModelForEmbedding.from_pretrained(args.embedder, device="cpu")
        run = _common.dense(embedder, test, depth=args.candidates)
        report.add(f"before: {args.embedder} embedder alone", _common.metrics(run, test))
    with report.timed("evaluate untrained head"):
        torch.manual_seed(args.seed)  # the new head's random weights, reproducibly
        fresh = AutoModelForRanking.from_pretrained(args.model, max_length=args.max_length, device="cpu")
        report.add(
            "(untrained head, for reference)",
            _common.metrics(_common.reranked(fresh, test, run, args.candidates), test),
        )
        del fresh
    with report.timed("train"):
        result = train_reranker(
            args.model, files.train, args.output, kind="cross-encoder", **_common.train_overrides(args)
        )
    with report.timed("evaluate after"):
        tuned = AutoModelForRanking.from_pretrained(result.output_dir, device="cpu")
        report.add(
            f"after: + {result.output_dir.name}",
            _common.metrics(_common.reranked(tuned, test, run, args.candidates), test),
        )
    report.extra.update(_common.trained(result))
    report.show(args.json)


if __name__ == "__main__":
    _common.main_guard(main)
