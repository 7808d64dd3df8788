"""Fine-tune a cross-encoder from MiniLM (a new classification head) and rerank the MiniLM embedder's top 20.

Before: the cross-encoder before fine-tuning, i.e. MiniLM with its new, untrained classification head
(seeded), reranking the embedder's top ``--candidates``; the embedder alone is shown too, since a fresh head
is no real baseline. After: the same candidates reranked by the cross-encoder trained with listwise
cross-entropy (1 positive + ``--group-size - 1`` negatives) and reloaded from ``--output``. The negatives are
mined first with the first-stage embedder (``--hard-negatives 1-20``: its top 20 training answers other than
the right one, the kind of passage the reranker must push down at test time); ``--hard-negatives none``
trains on ``--train`` as it is (pairs then get random negatives). The example trains 6 epochs at lr 3e-4 and
``--max-length 128`` rather than the framework's cross-encoder default of 2e-5: the new head starts with
near-zero logits, and the listwise loss stays at chance (ln 8) for the first epochs even at 1e-4.

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
        train_file="pairs.train.jsonl",
        output="checkpoints/faq-minilm-cross-encoder",
        epochs=6.0,
        embedder=True,
    )
    parser.set_defaults(max_length=128, batch_size=8, lr=3e-4)
    parser.add_argument("--group-size", type=int, default=8, help="1 positive + group-size - 1 negatives")
    _common.add_mining_options(parser, rank_range="1-20", per_query=7)
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
        embedder_only = _common.metrics(run, test)
    with report.timed("mine hard negatives"):
        train_file = _common.mined_training_file(args, files, embedder, report)
    with report.timed("evaluate untrained head"):
        torch.manual_seed(args.seed)  # the new head's random weights, reproducibly
        fresh = AutoModelForRanking.from_pretrained(args.model, max_length=args.max_length, device="cpu")
        report.add(
            "before: + untrained cross-encoder (new head)",
            _common.metrics(_common.reranked(fresh, test, run, args.candidates), test),
        )
        report.add(f"({args.embedder} embedder alone, for reference)", embedder_only)
        del fresh
    with report.timed("train"):
        result = train_reranker(
            args.model,
            train_file,
            args.output,
            kind="cross-encoder",
            group_size=args.group_size,
            **_common.train_overrides(args),
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
