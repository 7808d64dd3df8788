"""The one loading sequence of every model here, and the helpers it is made of.

``from_pretrained`` of the embedder and of each ranker runs the same steps, through :class:`Checkpoint`:

1. :meth:`Checkpoint.open`: resolve the name (:mod:`retrievers.model_names`) and read the settings the
   framework saved beside the weights (``retrievers_config.json``: pooling, instructions, maximum length,
   normalisation, kind), so they come back without being repeated;
2. :meth:`Checkpoint.check_kind`: refuse a folder that holds another kind of model, naming its loader;
3. :meth:`Checkpoint.with_adapters`: for a folder of LoRA adapters, the base model it names;
4. :meth:`Checkpoint.load`: device, precision (half precision for inference only), tokenizer, weights,
   LoRA adapters (loaded, or fresh ones to train);
5. :meth:`Checkpoint.setting` for each setting: an explicit argument, else the saved value, else a default.

The options all loaders share are declared once, in :class:`LoadOptions` and :class:`LoraOptions`. What a
kind does with its model (pooling, windows, prompts) is not here; writing a checkpoint is
:mod:`retrievers.saving`'s job.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from retrievers.model_names import ResolvedModel, resolve_model
from retrievers.names import EMBEDDER_CHECKPOINT, RANKER_CHECKPOINT

__all__ = [
    "Checkpoint",
    "FRAMEWORK_CONFIG",
    "LoadOptions",
    "LoadedModel",
    "LoraOptions",
    "split_options",
    "with_article",
    "is_decoder_config",
    "load_config",
    "load_framework_config",
    "load_tokenizer",
    "pick_device",
    "save_framework_config",
    "fp16_allowed",
    "DEFAULT_LORA",
    "attach_lora",
    "load_weights",
    "pick_setting",
    "resolve_adapter_folder",
]

FRAMEWORK_CONFIG = "retrievers_config.json"
CONFIG_VERSION = 1


def _gguf_kwargs(resolved: ResolvedModel) -> dict[str, Any]:
    return {"gguf_file": resolved.gguf_file} if resolved.is_gguf else {}


def load_weights(auto_class: Any, resolved: ResolvedModel, **model_kwargs: Any) -> Any:
    """``auto_class.from_pretrained`` for a folder or a GGUF file.

    GGUF weights are de-quantised to float tensors on load, yet transformers keeps the model marked as
    GGUF-quantized and then refuses ``save_pretrained``. The mark is dropped, so a model loaded (and fine-tuned)
    from a ``.gguf`` file saves like any float checkpoint.
    """
    model = auto_class.from_pretrained(str(resolved.path), **_gguf_kwargs(resolved), **model_kwargs)
    if resolved.is_gguf:
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def load_config(resolved: ResolvedModel) -> PretrainedConfig:
    return AutoConfig.from_pretrained(str(resolved.path), **_gguf_kwargs(resolved))


def is_decoder_config(config: PretrainedConfig) -> bool:
    """True for causal (decoder-only) language models: they pool on the last token."""
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") for a in archs):
        return True
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    encoder_types = {"bert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "distilbert", "electra",
                     "mpnet", "albert", "camembert", "modernbert", "nomic_bert", "new", "t5", "mt5"}
    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and config.model_type not in encoder_types


def load_tokenizer(resolved: ResolvedModel, *, padding_side: str | None = None) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path), **_gguf_kwargs(resolved))
    if tokenizer.pad_token is None:
        # Decoder LLMs often ship without a pad token; any token works since padding is masked out.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    return tokenizer


def load_framework_config(path: Path) -> dict[str, Any]:
    file = Path(path) / FRAMEWORK_CONFIG
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not valid JSON ({exc}); restore it or delete it to use defaults.") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a JSON object.")
    return data


def save_framework_config(path: Path, settings: dict[str, Any]) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    data = {"config_version": CONFIG_VERSION, **settings}
    (Path(path) / FRAMEWORK_CONFIG).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def pick_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def fp16_allowed(use_fp16: bool, device: torch.device, *, training: bool, owner: str) -> bool:
    """Half precision is for inference on an accelerator only.

    On CPU it is a no-op with a warning (fp16 matmuls are slow or unsupported there); for a model that is
    about to train it is an error, because fp16 weights make gradients underflow to zero. Mixed precision
    training goes through the trainer's ``fp16``/``bf16`` arguments, which keep the weights in fp32.
    """
    if not use_fp16:
        return False
    if training:
        raise ValueError(
            f"{owner}: use_fp16=True is for inference only and cannot be combined with training (use_lora or "
            "a model about to train). Keep the weights in fp32 and pass fp16=True or bf16=True to the "
            "training arguments instead."
        )
    if device.type == "cpu":
        warnings.warn(f"{owner}: use_fp16=True is ignored on CPU; running in float32.", stacklevel=3)
        return False
    return True


def pick_setting(name: str, explicit: Any, saved: dict[str, Any], fallback: Any) -> Any:
    """An explicit argument wins over the checkpoint's saved setting, with a warning when they differ."""
    if explicit is None:
        return saved.get(name, fallback)
    if name in saved and saved[name] != explicit:
        warnings.warn(
            f"{name}={explicit!r} overrides the value {saved[name]!r} this checkpoint was saved with; results "
            "may not match those it was trained, indexed or evaluated with.",
            stacklevel=3,
        )
    return explicit


DEFAULT_LORA: dict[str, Any] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}


def attach_lora(model: torch.nn.Module, lora_path: Any, trainable: bool, lora_config: dict[str, Any] | None) -> torch.nn.Module:
    """Load trained LoRA adapters from ``lora_path`` onto ``model``, or wrap it in fresh ones (``DEFAULT_LORA``
    updated by ``lora_config``) for training."""
    try:
        from peft import LoraConfig, PeftModel, get_peft_model
    except ImportError as exc:  # pragma: no cover - peft is a dependency
        raise ImportError("LoRA needs peft: pip install peft") from exc
    if lora_path is not None:
        return PeftModel.from_pretrained(model, str(resolve_model(lora_path).path), is_trainable=trainable)
    return get_peft_model(model, LoraConfig(**{**DEFAULT_LORA, **(lora_config or {})}))


def resolve_adapter_folder(
    resolved: ResolvedModel, saved: dict[str, Any], lora_path: Any
) -> tuple[ResolvedModel, Any]:
    """For a folder holding only LoRA adapters (saved with ``merge_lora=False``), the base model it names
    and the folder as ``lora_path``; for any other folder, itself and ``lora_path`` unchanged."""
    if not (saved.get("base_model") and (resolved.path / "adapter_config.json").is_file()):
        return resolved, lora_path
    if lora_path is not None:
        raise ValueError(f"{resolved.path} already holds LoRA adapters; do not pass lora_path as well.")
    return resolve_model(saved["base_model"]), resolved.path


# ---------------------------------------------------------------------------------------------- the sequence
class LoadOptions(TypedDict, total=False):
    """Keyword arguments every ``from_pretrained`` here takes. ``None`` means "what the checkpoint was saved
    with, else the default for its kind"; an empty string for an instruction means "no instruction".
    Keywords not declared by a loader go to transformers' ``from_pretrained`` (``dtype``,
    ``attn_implementation``, ...)."""

    max_length: int | None
    """Longest input in tokens (the query, document and prompt together for a ranker's window)."""
    query_instruction: str | None
    """Put in front of every query, or around it with a ``{}`` placeholder (:mod:`retrievers.instructions`)."""
    document_instruction: str | None
    """Put in front of every document, or around it with a ``{}`` placeholder."""
    use_fp16: bool
    """Half-precision weights, for inference on an accelerator only (ignored on CPU, with a warning). False."""
    device: str | torch.device | None
    """Where the model runs; ``None``: CUDA when available, else the CPU."""
    revision: str | None
    """A hub revision (branch, tag or commit) for hub ids."""
    dtype: torch.dtype | str
    """Passed to transformers; default float32 (float16 with ``use_fp16``)."""
    attn_implementation: str
    """Passed to transformers (``"eager"``, ``"sdpa"``, ...)."""


class LoraOptions(TypedDict, total=False):
    """LoRA adapters (peft), for the models that take them: the embedder and the LLM ranker."""

    use_lora: bool
    """Wrap the model in fresh adapters (:data:`DEFAULT_LORA`, updated by ``lora_config``) to train them."""
    lora_config: dict[str, Any] | None
    """``peft.LoraConfig`` arguments for fresh adapters."""
    lora_path: str | os.PathLike[str] | None
    """Trained adapters to load on top of the model."""


_TRANSFORMERS_OPTIONS = frozenset({"dtype", "attn_implementation"})


def split_options(options: dict[str, Any], *declared: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the options the ``TypedDict`` classes ``declared`` name, every other keyword), the second for
    transformers' ``from_pretrained``."""
    names = set().union(*(d.__required_keys__ | d.__optional_keys__ for d in declared)) - _TRANSFORMERS_OPTIONS
    ours = {k: v for k, v in options.items() if k in names}
    return ours, {k: v for k, v in options.items() if k not in names}


def with_article(word: str) -> str:
    """``"an embedder"``, ``"a colbert"``, ``"an llm"``: for error messages."""
    return ("an " if word[:1].lower() in "aeiou" or word.startswith("llm") else "a ") + word


_LOADERS = {EMBEDDER_CHECKPOINT: "AutoModelForEmbedding", RANKER_CHECKPOINT: "AutoModelForRanking"}


class LoadedModel(NamedTuple):
    """What :meth:`Checkpoint.load` gives: the model on its device, its tokenizer, whether the weights are
    half precision, and whether the model is to train (fresh LoRA adapters)."""

    model: Any
    tokenizer: PreTrainedTokenizerBase
    half: bool
    training: bool


@dataclass(frozen=True)
class Checkpoint:
    """A model on its way into memory: its files, the settings saved with it and, for a folder of LoRA
    adapters, the base model under them (``base``; the folder itself otherwise)."""

    resolved: ResolvedModel
    saved: dict[str, Any]
    base: ResolvedModel
    lora_path: str | os.PathLike[str] | None = None

    @classmethod
    def open(cls, model_name_or_path: str | os.PathLike[str], options: LoadOptions | dict[str, Any]) -> Checkpoint:
        """Resolve the name (never downloading under ``HF_HUB_OFFLINE=1``) and read its saved settings."""
        if "trust_remote_code" in options:
            raise ValueError("trust_remote_code is not supported: this framework only runs model code shipped with transformers.")
        resolved = resolve_model(model_name_or_path, revision=options.get("revision"))
        return cls(resolved, load_framework_config(resolved.path), resolved)

    def check_kind(self, expected: str) -> None:
        """Refuse a folder saved as another kind of model (``"embedder"``, ``"ranker"``), naming its loader."""
        kind = self.saved.get("kind")
        if kind not in (None, expected):
            loader = _LOADERS.get(str(kind), "the matching loader")
            raise ValueError(
                f"{self.resolved.path} holds {with_article(str(kind))}, not {with_article(expected)}; load it with {loader}."
            )

    def with_adapters(self, lora_path: str | os.PathLike[str] | None) -> Checkpoint:
        """This checkpoint with ``lora_path`` to load on top; a folder of adapters alone (saved with
        ``merge_lora=False``) loads the base model it names, with the folder as ``lora_path``."""
        base, lora_path = resolve_adapter_folder(self.resolved, self.saved, lora_path)
        return dataclasses.replace(self, base=base, lora_path=lora_path)

    @cached_property
    def config(self) -> PretrainedConfig:
        """The transformers config of the weights that will be loaded (the base model's, for adapters)."""
        return load_config(self.base)

    @property
    def is_decoder(self) -> bool:
        return is_decoder_config(self.config)

    @property
    def base_model(self) -> str:
        """The name of the base model: the one saved beside adapters, else where the weights come from."""
        if self.lora_path is not None and self.saved.get("base_model"):
            return str(self.saved["base_model"])
        return self.base.reference

    def setting(self, name: str, explicit: Any, fallback: Any) -> Any:
        """An explicit argument, else the saved value, else ``fallback`` (see :func:`pick_setting`)."""
        return pick_setting(name, explicit, self.saved, fallback)

    def load(self, auto_class: Any, options: dict[str, Any], *, owner: str, model_kwargs: dict[str, Any]) -> LoadedModel:
        """Tokenizer and weights (with ``auto_class``), LoRA adapters, on the device ``options`` ask for.

        ``options`` are :class:`LoadOptions` and :class:`LoraOptions`; ``model_kwargs`` go to transformers.
        A model with fresh adapters is to train, so half precision is refused for it.
        """
        use_lora = bool(options.get("use_lora", False))
        device = pick_device(options.get("device"))
        half = fp16_allowed(bool(options.get("use_fp16", False)), device, training=use_lora, owner=owner)
        # An adapter folder saved by this framework holds the tokenizer it was trained with.
        own_tokenizer = self.lora_path is not None and (self.resolved.path / "tokenizer_config.json").is_file()
        tokenizer = load_tokenizer(self.resolved if own_tokenizer else self.base)
        model_kwargs = {"dtype": torch.float16 if half else torch.float32, **model_kwargs}
        model = load_weights(auto_class, self.base, **model_kwargs)
        if self.lora_path is not None or use_lora:
            model = attach_lora(model, self.lora_path, use_lora, options.get("lora_config"))
        model.to(device)
        return LoadedModel(model, tokenizer, half, use_lora)
