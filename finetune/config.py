"""Training settings as dataclasses: checked when built, saved as JSON next to the trained model.

``train_embedder(..., config=EmbedderTrainingConfig(epochs=2), lr=3e-5)``: keyword overrides replace fields
of ``config`` (or of the defaults); a misspelt name is an error that lists the valid ones. ``None`` means
"the model's own setting" (pooling, instructions, maximum length) or "the default for this kind" (LoRA,
learning rate). Mixed precision goes through ``bf16``/``fp16``: the weights stay float32 and the
Trainer's autocast runs the matmuls in half precision, so gradients never underflow to zero.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["EmbedderTrainingConfig", "RerankerTrainingConfig", "apply_overrides", "config_to_dict"]


def _positive(name: str, value: Any, *, integer: bool = False, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}{' or None' if allow_none else ''}; got {value!r}.")


@dataclass
class _CommonConfig:
    epochs: float = 1.0
    batch_size: int = 16
    lr: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    group_size: int = 4
    max_length: int | None = None
    lora: bool | None = None
    lora_config: dict[str, Any] | None = None
    merge_lora: bool = True
    bf16: bool = False
    fp16: bool = False
    seed: int = 42
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    logging_steps: int = 5
    save_checkpoints: bool = True
    save_steps: int | None = None
    save_total_limit: int | None = 2
    resume_from_checkpoint: bool | str | None = None
    gather_across_devices: bool = True
    device: str | None = None
    show_progress: bool = True
    temperature: float = 0.05
    query_instruction: str | None = None
    document_instruction: str | None = None

    def __post_init__(self) -> None:
        self._check_common()
        self._check()

    def _check(self) -> None:
        """Checks of the fields of a subclass."""

    def _check_common(self) -> None:
        _positive("epochs", self.epochs)
        _positive("temperature", self.temperature)
        _positive("batch_size", self.batch_size, integer=True)
        _positive("lr", self.lr, allow_none=True)
        _positive("gradient_accumulation_steps", self.gradient_accumulation_steps, integer=True)
        _positive("logging_steps", self.logging_steps, integer=True)
        _positive("save_steps", self.save_steps, integer=True, allow_none=True)
        _positive("max_length", self.max_length, integer=True, allow_none=True)
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int) or self.group_size < 2:
            raise ValueError(f"group_size must be an integer >= 2 (one positive and group_size - 1 negatives); got {self.group_size!r}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1); got {self.warmup_ratio!r}.")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ValueError("weight_decay and max_grad_norm must be >= 0.")
        if not isinstance(self.max_steps, int) or self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be -1 (use epochs) or a positive integer; got {self.max_steps!r}.")
        if self.bf16 and self.fp16:
            raise ValueError("Pass bf16=True or fp16=True, not both.")
        if self.lora_config is not None and not isinstance(self.lora_config, dict):
            raise TypeError(f"lora_config must be a dict of peft.LoraConfig arguments; got {type(self.lora_config).__name__}.")


@dataclass
class EmbedderTrainingConfig(_CommonConfig):
    """Settings of :func:`finetune.training.train_embedder`.

    ``temperature`` divides cosine similarities in InfoNCE (and ``1 / temperature`` scales CoSENT);
    ``group_size`` is 1 positive + ``group_size - 1`` hard negatives per triplet. ``lora=None`` means LoRA
    for decoder LLMs and full fine-tuning for encoders. ``pooling_method``, ``query_instruction`` and
    ``document_instruction`` (None: the model's) are used in training and saved with the model.
    ``symmetric_loss`` adds the document-to-query direction to InfoNCE (pairs and triplets).

    ``lr=None`` picks :data:`DEFAULT_EMBEDDER_LR`: 1e-4 for full fine-tuning, 2e-3 for LoRA adapters.
    Defaults (3 epochs, batch 32, lr 1e-4, temperature 0.05) come from a sweep of epochs, lr, batch size and
    temperature with MiniLM on the python-faq training pairs, scored by 5-fold cross-validation on those
    pairs: nDCG@10 on the held-out test questions (every FAQ answer as the corpus) goes from 89.8 to 93.0.
    The cross-validated gain was much smaller (88.6 to 88.7): with 140 pairs, expect a few points at most.
    """

    epochs: float = 3.0
    batch_size: int = 32
    symmetric_loss: bool = False
    pooling_method: str | None = None
    normalize_embeddings: bool | None = None


@dataclass
class RerankerTrainingConfig(_CommonConfig):
    """Settings of :func:`finetune.training.train_reranker`.

    ``lr=None`` picks the kind's default (:data:`DEFAULT_RERANKER_LR`): 2e-5 for cross-encoders, 1e-5 for
    ColBERT (a pretrained ``colbert_linear.pt`` such as bge-m3's drifts fast: keep full precision and a small
    lr), 1e-3 for LLM rankers with LoRA. ``lora=None`` means LoRA for LLM rankers only. ``colbert_dim``
    sizes a new ColBERT projection (None: keep the checkpoint's, or the identity). ``temperature`` scales
    ColBERT's MaxSim scores. ``instruction`` and ``prompt_template`` set the LLM ranker's prompt (saved
    with it).
    """

    epochs: float = 2.0
    colbert_dim: int | None = None
    instruction: str | None = None
    prompt_template: str | None = None

    def _check(self) -> None:
        _positive("colbert_dim", self.colbert_dim, integer=True, allow_none=True)


#: Embedder learning rates when ``lr`` is None: full fine-tuning (the MiniLM sweep above) and LoRA adapters.
#: LoRA needs a much larger step: SmolLM2-135M with LoRA r 16 on python-faq pairs reached nDCG@10 0.07 at
#: 2e-4, 0.20 at 1e-3 and 0.80 at 2e-3 after the same 54 steps (``examples/finetune/train_llm_embedder.py``).
DEFAULT_EMBEDDER_LR = {"full": 1e-4, "lora": 2e-3}
#: Reranker learning rates when ``lr`` is None. LLM rankers with LoRA take a large step, as LoRA embedders do:
#: SmolLM2-135M (listwise on mined negatives, 70 steps) reached nDCG@10 0.68 at 2e-4 and 0.81 at 1e-3.
#: Both LoRA defaults were measured on a 135M model; 7B models are usually trained with LoRA at about 1e-4.
DEFAULT_RERANKER_LR = {"cross-encoder": 2e-5, "colbert": 1e-5, "llm": 1e-3, "llm-full": 1e-5}

ConfigT = TypeVar("ConfigT", EmbedderTrainingConfig, RerankerTrainingConfig)


def apply_overrides(config: ConfigT | None, cls: type[ConfigT], overrides: dict[str, Any]) -> ConfigT:
    """``config`` (or the defaults) with ``overrides`` applied; unknown names are an error naming the valid ones."""
    if config is not None and not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}; got {type(config).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"Unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}.")
    return dataclasses.replace(config if config is not None else cls(), **overrides)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-safe dict of a config (for ``training_config.json``)."""
    data = dataclasses.asdict(config)
    json.dumps(data)  # fail early on a value JSON cannot hold
    return data

