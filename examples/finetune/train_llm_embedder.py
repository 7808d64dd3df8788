"""Fine-tune SmolLM2-135M as an embedder (LoRA, last-token pooling, query instruction) on python-faq pairs.

Before: ``smollm2`` used zero-shot as an embedder (the GGUF file dequantised by transformers, last-token
pooling, the default query instruction, documents without one). After: LoRA adapters trained with InfoNCE on
``pairs.train.jsonl``, merged and saved; the pooling, instruction and maximum length are saved with the model
and read back by ``AutoModelForEmbedding.from_pretrained``, so the evaluation embeds exactly as training did.
The run is capped (``--max-length 96``, ``--max-steps 54`` = 3 epochs, batch 8) to stay within a few minutes on CPU.

    .venv/bin/python examples/finetune/train_llm_embedder.py --json out/llm_embedder.json
"""

from __future__ import annotations

import _common

from finetune import train_embedder
from retrievers import AutoModelForEmbedding


def main() -> None:
    parser = _common.build_parser(
        __doc__.splitlines()[0],
        model="smollm2",
        train_file="pairs.train.jsonl",
        output="checkpoints/faq-smollm2-embedder",
        epochs=3.0,
    )
    parser.set_defaults(max_length=96, max_steps=54, batch_size=8)
    parser.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature")
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank")
    args = parser.parse_args()
    files = _common.data_files(args)
    name = args.model
    test = _common.load_test(files)
    report = _common.Report(
        "train_llm_embedder (SmolLM2 + LoRA, InfoNCE on pairs)", _common.settings_of(args, files)
    )
    with report.timed("evaluate before"):
        base = AutoModelForEmbedding.from_pretrained(args.model, max_length=args.max_length, device="cpu")
        report.extra["pooling"], report.extra["query_instruction"] = (
            base.pooling_method,
            base.query_instruction,
        )
        report.add(f"before: {name} zero-shot", _common.metrics(_common.dense(base, test), test))
        del base
    with report.timed("train"):
        lora = {"r": args.lora_r, "lora_alpha": 2 * args.lora_r, "lora_dropout": 0.05}
        result = train_embedder(
            args.model,
            files.train,
            args.output,
            temperature=args.temperature,
            lora=True,
            lora_config=lora,
            **_common.train_overrides(args),
        )
    with report.timed("evaluate after"):
        tuned = AutoModelForEmbedding.from_pretrained(result.output_dir, device="cpu")
        report.add(f"after: {result.output_dir.name}", _common.metrics(_common.dense(tuned, test), test))
    report.extra.update(_common.trained(result))
    report.show(args.json)


if __name__ == "__main__":
    _common.main_guard(main)
