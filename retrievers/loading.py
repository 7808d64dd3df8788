"""Load tokenizers and transformers models from a :class:`ResolvedModel`, and the framework's saved settings.

Every checkpoint written by this framework carries ``retrievers_config.json`` beside its weights, so that
pooling, instructions, maximum length, normalisation and model kind come back without being repeated.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from retrievers.model_names import ResolvedModel, resolve_model

__all__ = [
    "FRAMEWORK_CONFIG",
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
