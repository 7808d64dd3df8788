"""Train embedders and rerankers on the Hugging Face ``Trainer``: ``train_embedder`` and ``train_reranker``.

Each function validates the data first (:func:`finetune.data.load_examples`), loads the model in float32,
plugs a training module (:mod:`finetune.objectives`) and a collator (:mod:`finetune.collators`) into a
``Trainer``, and writes into ``output_dir``:

- the trained model, loadable with ``AutoModelForEmbedding``/``AutoModelForRanking.from_pretrained(dir)`` and
  usable as a model name in ``rag-app.toml`` (its settings, such as pooling and instructions, travel with it);
- ``training_config.json`` (the settings, the data source, the final loss) and ``loss_curve.png``;
- ``checkpoints/checkpoint-N`` (resume with ``resume_from_checkpoint=True``).

Mixed precision only through ``bf16``/``fp16`` (the Trainer's autocast): weights stay float32, checked before
and after training, and a step whose gradients are all zero while the loss is not stops the run with an
error. ``fp16`` needs a CUDA GPU; on CPU use ``bf16`` (or nothing). Under ``torchrun --nproc_per_node N``
in-batch negatives are gathered across processes.

Example::

    result = train_embedder("minilm", "pairs.train.jsonl", "checkpoints/faq-minilm")
    AutoModelForEmbedding.from_pretrained(result.output_dir)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

from finetune.collators import ColbertCollator, EmbedderCollator, PairScoringCollator
from finetune.config import (
    DEFAULT_EMBEDDER_LR,
    DEFAULT_RERANKER_LR,
    ConfigT,
    EmbedderTrainingConfig,
    RerankerTrainingConfig,
    apply_overrides,
    config_to_dict,
)
from finetune.data import TrainingData, load_examples
from finetune.objectives import ColbertObjective, EmbedderObjective, PairScoringObjective
from finetune.plots import plot_loss_curve
from retrievers.embedder import AutoModelForEmbedding
from retrievers.loading import attach_lora
from retrievers.model_names import resolve_model
from retrievers.names import RerankerKind, RerankerKindName
from retrievers.rerankers.colbert import COLBERT_LINEAR, ColBERT
from retrievers.rerankers.cross_encoder import CrossEncoderRanker
from retrievers.rerankers.llm_ranker import LLMRanker

__all__ = [
    "CONFIG_FILE",
    "LOSS_PLOT",
    "EmbedderTrainingConfig",
    "RerankerTrainingConfig",
    "TrainResult",
    "train_embedder",
    "train_reranker",
]

logger = logging.getLogger(__name__)
CONFIG_FILE = "training_config.json"
LOSS_PLOT = "loss_curve.png"
CHECKPOINTS = "checkpoints"


@dataclass
class TrainResult:
    """Where the model went, its final mean training loss, the Trainer's log history and the loss plot.

    ``model`` is the trained model in memory (on the main process), in eval mode.
    """

    output_dir: Path
    train_loss: float
    history: list[dict[str, Any]]
    loss_plot: Path | None
    global_step: int = 0
    config_file: Path | None = None
    model: Any = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------- guards
def check_float32(module: nn.Module, when: str) -> None:
    """Training weights must be float32: half-precision weights make small gradients underflow to zero."""
    bad = sorted({str(p.dtype) for p in module.parameters() if p.is_floating_point() and p.dtype != torch.float32})
    if bad:
        raise ValueError(
            f"{when}: the model has {', '.join(bad)} weights; training needs float32 weights. Load the model "
            "without use_fp16/dtype and ask for mixed precision with bf16=True (or fp16=True on a GPU)."
        )


def _check_precision(config: EmbedderTrainingConfig | RerankerTrainingConfig, on_cpu: bool) -> None:
    if config.fp16 and on_cpu:
        raise ValueError(
            "fp16=True needs a CUDA GPU: on CPU PyTorch has no float16 gradient scaling and autocast runs in "
            "bfloat16 only. Use bf16=True on CPU, or train in float32 (the default)."
        )


class GradientGuard(TrainerCallback):
    """Stop a run whose gradients are all zero while its loss is not (frozen weights, fp16 underflow),
    and one whose gradient norm stays non-finite for five logs in a row."""

    def __init__(self) -> None:
        self.non_finite = 0

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs or "grad_norm" not in logs:
            return
        norm, loss = float(logs["grad_norm"]), float(logs.get("loss", float("nan")))
        if norm == 0.0 and loss > 1e-6:
            raise RuntimeError(
                f"Gradient norm is 0 at step {state.global_step} while the loss is {loss:.4g}: no gradient reaches "
                "the weights. Check that the model is trainable (LoRA adapters attached, not frozen) and in "
                "float32; use bf16/fp16 training arguments rather than half-precision weights."
            )
        self.non_finite = self.non_finite + 1 if not math.isfinite(norm) else 0
        if self.non_finite >= 5:
            raise RuntimeError(
                f"Gradient norm has been {norm} for five logged steps (step {state.global_step}): training diverged "
                "or fp16 overflowed. Lower the learning rate, or use bf16=True instead of fp16=True."
            )


class _ExamplesDataset(torch.utils.data.Dataset):
    def __init__(self, data: TrainingData) -> None:
        self.examples = data.examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Any:
        return self.examples[index]


class ObjectiveTrainer(Trainer):
    """A ``Trainer`` whose model returns ``{"loss": ...}`` from the batch (a :mod:`finetune.objectives` module).

    Checkpoints hold the training module's weights (``model.safetensors``, shared tensors written once),
    which the Trainer reloads to resume; the final model is written by the model's own ``save_pretrained``.
    """

    loss_is_scaled_for_ga = False  # the objective returns a per-batch mean

    def compute_loss(
        self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        outputs = model(**inputs)
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if not self.args.should_save:
            return
        from safetensors.torch import save_model

        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        save_model(self.accelerator.unwrap_model(self.model), os.path.join(output_dir, "model.safetensors"))


# ---------------------------------------------------------------------------------------------- shared loop
def _training_arguments(config: Any, output_dir: Path, lr: float, on_cpu: bool) -> TrainingArguments:
    # transformers < 5 has warmup_ratio; 5.x takes the ratio as a float warmup_steps.
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    warmup = {"warmup_ratio": config.warmup_ratio} if "warmup_ratio" in names else {"warmup_steps": config.warmup_ratio}
    return TrainingArguments(
        output_dir=str(output_dir / CHECKPOINTS),
        num_train_epochs=float(config.epochs),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=lr,
        **warmup,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type="linear",
        bf16=config.bf16,
        fp16=config.fp16,
        seed=config.seed,
        data_seed=config.seed,
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="no" if not config.save_checkpoints else "steps" if config.save_steps else "epoch",
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        report_to="none",
        remove_unused_columns=False,
        disable_tqdm=not config.show_progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=not on_cpu,
        use_cpu=on_cpu,
    )


def _on_cpu(config: Any) -> bool:
    return config.device == "cpu" or not torch.cuda.is_available()


def _check_output_dir(output_dir: str | os.PathLike[str], model: str | os.PathLike[str]) -> Path:
    out = Path(output_dir).expanduser().resolve()
    source = Path(model).expanduser()
    if source.exists() and source.resolve() == out:
        raise ValueError(f"output_dir {out} is the model being trained; write the fine-tuned model to another folder.")
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir {out} exists and is not a folder.")
    return out


def _prepare(
    config: ConfigT | None, cls: type[ConfigT], overrides: dict[str, Any], output_dir: str | os.PathLike[str],
    model: str | os.PathLike[str], data: Any,
) -> tuple[ConfigT, Path, TrainingData]:
    """What every run starts with: the settings, checked; the output folder, checked; the data, validated;
    the seed, set."""
    cfg = apply_overrides(config, cls, overrides)
    _check_precision(cfg, _on_cpu(cfg))
    out = _check_output_dir(output_dir, model)
    examples = load_examples(data)
    set_seed(cfg.seed)
    return cfg, out, examples


def _run(
    *,
    task: str,
    objective: nn.Module,
    collator: Any,
    data: TrainingData,
    config: Any,
    output_dir: Path,
    lr: float,
    model_name: str,
    save: Any,
    extra: dict[str, Any],
) -> TrainResult:
    on_cpu = _on_cpu(config)
    check_float32(objective, "Before training")
    args = _training_arguments(config, output_dir, lr, on_cpu)
    trainer = ObjectiveTrainer(
        model=objective, args=args, train_dataset=_ExamplesDataset(data), data_collator=collator,
        callbacks=[GradientGuard()],
    )
    resume = config.resume_from_checkpoint
    output = trainer.train(resume_from_checkpoint=resume if resume not in (None, False) else None)
    check_float32(objective, "After training")
    history = list(trainer.state.log_history)
    objective.eval()
    plot = None
    config_file = None
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        save(output_dir)
        config_file = output_dir / CONFIG_FILE
        record = {
            "task": task,
            "model": model_name,
            "data": {"source": data.source, "kind": data.kind, "examples": len(data)},
            "config": config_to_dict(config),
            "learning_rate": lr,
            "train_loss": output.training_loss,
            "global_step": output.global_step,
            "world_size": trainer.args.world_size,
            "versions": {"torch": torch.__version__, "transformers": _version("transformers")},
            **extra,
        }
        config_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        plot = plot_loss_curve(history, output_dir / LOSS_PLOT, title=f"{task} on {data.kind}: training loss")
    trainer.accelerator.wait_for_everyone()
    return TrainResult(
        output_dir=output_dir, train_loss=float(output.training_loss), history=history, loss_plot=plot,
        global_step=int(output.global_step), config_file=config_file,
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# ---------------------------------------------------------------------------------------------- embedders
def train_embedder(
    model: str | os.PathLike[str],
    data: Any,
    output_dir: str | os.PathLike[str],
    config: EmbedderTrainingConfig | None = None,
    **overrides: Any,
) -> TrainResult:
    """Fine-tune an embedder (encoder, or decoder LLM with LoRA) and save it to ``output_dir``.

    ``data`` is anything :func:`~finetune.data.load_examples` takes: pairs train InfoNCE with in-batch
    negatives, triplets add ``group_size - 1`` hard negatives per query, scored pairs train CoSENT.
    The pooling and instructions used in training are saved with the model, so inference matches.

    Example::

        train_embedder("minilm", "pairs.train.jsonl", "out/minilm-faq", epochs=2)
    """
    cfg, out, examples = _prepare(config, EmbedderTrainingConfig, overrides, output_dir, model, data)
    embedder = AutoModelForEmbedding.from_pretrained(
        model, pooling_method=cfg.pooling_method, query_instruction=cfg.query_instruction,
        document_instruction=cfg.document_instruction, max_length=cfg.max_length,
        normalize_embeddings=cfg.normalize_embeddings, device="cpu",
    )
    use_lora = cfg.lora if cfg.lora is not None else embedder.model_kind == "decoder"
    if use_lora:
        embedder.model = attach_lora(embedder.model, None, True, cfg.lora_config)
    objective = EmbedderObjective(embedder, examples.kind, cfg.temperature, cfg.gather_across_devices, cfg.symmetric_loss)
    collator = EmbedderCollator(embedder, examples.kind, group_size=cfg.group_size, seed=cfg.seed)
    result = _run(
        task="embedder", objective=objective, collator=collator, data=examples, config=cfg, output_dir=out,
        lr=float(cfg.lr if cfg.lr is not None else DEFAULT_EMBEDDER_LR["lora" if use_lora else "full"]), model_name=str(model),
        save=lambda path: embedder.save_pretrained(path, merge_lora=cfg.merge_lora),
        extra={"lora": use_lora, "model_settings": embedder.settings()},
    )
    result.model = embedder.eval()
    return result


# ---------------------------------------------------------------------------------------------- rerankers
def _load_ranker(model: str | os.PathLike[str], kind: RerankerKind, cfg: RerankerTrainingConfig) -> tuple[Any, bool]:
    common = {"max_length": cfg.max_length, "query_instruction": cfg.query_instruction,
              "document_instruction": cfg.document_instruction, "device": "cpu"}
    if kind == RerankerKind.CROSS_ENCODER:
        with warnings.catch_warnings():
            # A fresh classification head is expected here: it is what we are about to train.
            warnings.filterwarnings("ignore", message=".*has no sequence-classification head.*")
            return CrossEncoderRanker.from_pretrained(model, **common), False
    if kind == RerankerKind.COLBERT:
        if (resolve_model(model).path / COLBERT_LINEAR).is_file() and (cfg.bf16 or cfg.fp16):
            warnings.warn(
                f"{model} has a trained {COLBERT_LINEAR} (as bge-m3): its ColBERT fine-tuning is known to need "
                "full precision and a small learning rate (<= 1e-5); mixed precision may degrade it.",
                stacklevel=3,
            )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*new random projection.*")
            return ColBERT.from_pretrained(model, colbert_dim=cfg.colbert_dim, **common), False
    use_lora = True if cfg.lora is None else cfg.lora
    prompt = {"prompt_template": cfg.prompt_template} if cfg.prompt_template is not None else {}
    if cfg.instruction is not None:
        prompt["instruction"] = cfg.instruction
    ranker = LLMRanker.from_pretrained(model, use_lora=use_lora, lora_config=cfg.lora_config, **prompt, **common)
    return ranker, use_lora


def train_reranker(
    model: str | os.PathLike[str],
    data: Any,
    output_dir: str | os.PathLike[str],
    kind: RerankerKindName | RerankerKind = "cross-encoder",
    config: RerankerTrainingConfig | None = None,
    **overrides: Any,
) -> TrainResult:
    """Fine-tune a reranker and save it to ``output_dir`` (loads with ``AutoModelForRanking.from_pretrained``).

    - ``cross-encoder``: scored pairs train BCE on the logit; triplets (and pairs, with random negatives drawn
      from other examples' positives) train listwise cross-entropy over groups of ``group_size``.
    - ``colbert``: MaxSim with in-batch negatives (pairs, triplets) or CoSENT on MaxSim (scored pairs), from
      a plain encoder (a new ``colbert_linear.pt``, the identity or ``colbert_dim``) or a ColBERT checkpoint.
      For bge-m3, keep full precision and a small lr (the default 1e-5).
    - ``llm``: a causal LM with LoRA (default); the loss reads the "Yes" logit at the last real token, the
      same number the ranker scores with (BCE for scored pairs, listwise CE over groups otherwise).
    """
    kind = RerankerKind.parse(kind, "kind")
    cfg, out, examples = _prepare(config, RerankerTrainingConfig, overrides, output_dir, model, data)
    ranker, use_lora = _load_ranker(model, kind, cfg)
    if kind == RerankerKind.COLBERT:
        objective: nn.Module = ColbertObjective(ranker, examples.kind, cfg.temperature, cfg.gather_across_devices)
        collator: Any = ColbertCollator(ranker, examples.kind, group_size=cfg.group_size, seed=cfg.seed)
    else:
        objective = PairScoringObjective(ranker, examples.kind, cfg.group_size)
        pool = [p for e in examples.examples for p in getattr(e, "positives", ())]
        collator = PairScoringCollator(ranker, examples.kind, group_size=cfg.group_size, seed=cfg.seed, negative_pool=pool)
    default_lr = DEFAULT_RERANKER_LR["llm" if use_lora else "llm-full"] if kind == RerankerKind.LLM else DEFAULT_RERANKER_LR[kind]
    lr = float(cfg.lr if cfg.lr is not None else default_lr)

    result = _run(
        task=f"reranker ({kind})", objective=objective, collator=collator, data=examples, config=cfg,
        output_dir=out, lr=lr, model_name=str(model), save=lambda path: ranker.save_pretrained(path, merge_lora=cfg.merge_lora),
        extra={"ranker_kind": kind.value, "lora": use_lora, "model_settings": ranker.settings()},
    )
    result.model = ranker.eval()
    return result
