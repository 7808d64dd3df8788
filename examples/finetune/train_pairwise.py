"""Fine-tune the MiniLM embedder on python-faq (query, answer) pairs with InfoNCE, and measure the gain.

Before: the bundled ``minilm`` embedder. After: the same model trained on ``pairs.train.jsonl`` with
in-batch negatives (the defaults of :class:`finetune.EmbedderTrainingConfig`: 3 epochs, batch 32, lr 1e-4,
temperature 0.05), reloaded from ``--output`` with ``AutoModelForEmbedding.from_pretrained``, so the
"after" numbers are those of the saved model (pooling and normalisation read back from its folder).

    .venv/bin/python examples/finetune/train_pairwise.py --json out/pairwise.json
"""

from __future__ import annotations

import _common

from finetune import train_embedder
from retrievers import AutoModelForEmbedding


def main() -> None:
    parser = _common.build_parser(
        __doc__.splitlines()[0],
        model="minilm",
        train_file="pairs.train.jsonl",
        output="checkpoints/faq-minilm-pairwise",
        epochs=3.0,
    )
    parser.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature")
    args = parser.parse_args()
    files = _common.data_files(args)
    test = _common.load_test(files)
    report = _common.Report("train_pairwise (MiniLM, InfoNCE on pairs)", _common.settings_of(args, files))
    with report.timed("evaluate before"):
        base = AutoModelForEmbedding.from_pretrained(args.model, max_length=args.max_length, device="cpu")
        report.add(f"before: {args.model}", _common.metrics(_common.dense(base, test), test))
    with report.timed("train"):
        result = train_embedder(
            args.model,
            files.train,
            args.output,
            temperature=args.temperature,
            **_common.train_overrides(args),
        )
    with report.timed("evaluate after"):
        tuned = AutoModelForEmbedding.from_pretrained(result.output_dir, device="cpu")
        report.add(f"after: {result.output_dir.name}", _common.metrics(_common.dense(tuned, test), test))
    report.extra.update(_common.trained(result))
    report.show(args.json)


if __name__ == "__main__":
    _common.main_guard(main)
