"""Fine-tune SmolLM2-135M as a yes/no reranker (LoRA) on python-faq pairs with mined negatives; rerank MiniLM's top 5.

Before: zero-shot ``smollm2`` as an LLM reranker (the score is the "Yes" logit at the last real token)
reranking the MiniLM embedder's top ``--candidates``; the embedder alone is shown too. After: LoRA adapters
trained with listwise cross-entropy on the same "Yes" logit over 1 positive + ``--group-size - 1`` negatives,
merged, saved and reloaded from ``--output``. The negatives are mined first with the first-stage embedder
(``--hard-negatives 1-20``: its top 20 training answers other than the right one, the on-topic passages the
reranker must push down at test time); ``--hard-negatives none`` trains on ``--train`` as it is (for
example ``scored.train.jsonl``, BCE on its labels). Capped (``--max-steps 70`` = about two epochs, batch 4,
lr 1e-3, the framework's LoRA default, ``--max-length 160``, top 5) to stay within minutes on CPU. LoRA on
a model this small needs the large step and the second epoch: the loss stays near chance (ln 4) through
the first epoch, and 70 steps at lr 2e-4 gave nDCG@10 0.68 where 1e-3 gives 0.81.

    .venv/bin/python examples/finetune/train_llm_reranker.py --json out/llm_reranker.json
"""

from __future__ import annotations

import _common

from finetune import train_reranker
from retrievers import AutoModelForEmbedding, AutoModelForRanking


def main() -> None:
    parser = _common.build_parser(
        __doc__.splitlines()[0],
        model="smollm2",
        train_file="pairs.train.jsonl",
        output="checkpoints/faq-smollm2-reranker",
        epochs=2.0,
        embedder=True,
    )
    parser.set_defaults(max_length=160, max_steps=70, batch_size=4, candidates=5)
    parser.add_argument("--group-size", type=int, default=4, help="1 positive + group-size - 1 negatives")
    _common.add_mining_options(parser, rank_range="1-20", per_query=7)
    args = parser.parse_args()
    files = _common.data_files(args)
    name = args.model
    test = _common.load_test(files)
    report = _common.Report(
        f"train_llm_reranker (SmolLM2 yes/no + LoRA, rerank top {args.candidates})",
        _common.settings_of(args, files),
    )
    with report.timed("first stage"):
        embedder = AutoModelForEmbedding.from_pretrained(args.embedder, device="cpu")
        run = _common.dense(embedder, test, depth=args.candidates)
        embedder_only = _common.metrics(run, test)
    with report.timed("mine hard negatives"):
        train_file = _common.mined_training_file(args, files, embedder, report)
    with report.timed("evaluate before"):
        base = AutoModelForRanking.from_pretrained(
            args.model, causal_lm=True, max_length=args.max_length, device="cpu"
        )
        report.add(
            f"before: + {name} zero-shot",
            _common.metrics(_common.reranked(base, test, run, args.candidates), test),
        )
        report.add(f"({args.embedder} embedder alone, for reference)", embedder_only)
        del base
    with report.timed("train"):
        result = train_reranker(
            args.model,
            train_file,
            args.output,
            kind="llm",
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
