"""Fine-tune ColBERT from MiniLM (MaxSim over token vectors) and rerank the MiniLM embedder's top 20.

Before: zero-shot ColBERT over MiniLM's token vectors (identity projection) reranking the embedder's top
``--candidates``; the embedder alone is shown too. After: the same ColBERT trained on ``pairs.train.jsonl``
(MaxSim InfoNCE with in-batch negatives; ``--train .../triplets.train.jsonl`` adds hard negatives) in full
precision, reloaded from ``--output``. The example uses lr 5e-5: the framework's ColBERT default of 1e-5 is
meant for a trained projection such as bge-m3's ``colbert_linear.pt``; MiniLM's is the identity.

    .venv/bin/python examples/finetune/train_colbert.py --json out/colbert.json
"""

from __future__ import annotations

import _common

from finetune import train_reranker
from retrievers import AutoModelForEmbedding, AutoModelForRanking


def main() -> None:
    parser = _common.build_parser(
        __doc__.splitlines()[0],
        model="minilm",
        train_file="pairs.train.jsonl",
        output="checkpoints/faq-minilm-colbert",
        epochs=3.0,
        embedder=True,
    )
    parser.set_defaults(max_length=256, batch_size=16, lr=5e-5)
    args = parser.parse_args()
    files = _common.data_files(args)
    test = _common.load_test(files)
    report = _common.Report(
        f"train_colbert (MiniLM MaxSim, rerank top {args.candidates})", _common.settings_of(args, files)
    )
    with report.timed("first stage"):
        embedder = AutoModelForEmbedding.from_pretrained(args.embedder, device="cpu")
        run = _common.dense(embedder, test, depth=args.candidates)
        embedder_only = _common.metrics(run, test)
    with report.timed("evaluate before"):
        base = AutoModelForRanking.from_pretrained(
            args.model, colbert=True, max_length=args.max_length, device="cpu"
        )
        report.add(
            f"before: + {args.model} ColBERT zero-shot",
            _common.metrics(_common.reranked(base, test, run, args.candidates), test),
        )
        report.add(f"({args.embedder} embedder alone, for reference)", embedder_only)
        del base
    with report.timed("train"):
        result = train_reranker(
            args.model, files.train, args.output, kind="colbert", **_common.train_overrides(args)
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
