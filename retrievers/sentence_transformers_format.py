"""Read and write the sentence-transformers folder layout (``modules.json``, ``1_Pooling/``, ...).

Reading lets a sentence-transformers checkpoint (such as the bundled all-MiniLM-L6-v2) load with the pooling,
normalisation, length and prompts it was trained with. Writing lets an encoder saved by this framework load
in plain ``sentence_transformers.SentenceTransformer(dir)`` and give the same vectors. We write the classic
layout, which every sentence-transformers release since 2.x reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SentenceTransformersSettings", "read_sentence_transformers", "write_sentence_transformers"]

_ST_TO_OURS = {"cls": "cls", "mean": "mean", "lasttoken": "last"}
_OURS_TO_ST = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "last": "pooling_mode_lasttoken"}


@dataclass
class SentenceTransformersSettings:
    pooling_method: str | None = None
    normalize_embeddings: bool = False
    max_length: int | None = None
    prompts: dict[str, str] = field(default_factory=dict)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read sentence-transformers file {path}: {exc}") from exc


def read_sentence_transformers(folder: Path) -> SentenceTransformersSettings | None:
    """Settings of a sentence-transformers folder, or None when ``folder`` is not one."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return None
    settings = SentenceTransformersSettings()
    for module in _read_json(modules_file):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        module_dir = folder / module.get("path", "")
        if kind == "Pooling" and (module_dir / "config.json").is_file():
            cfg = _read_json(module_dir / "config.json")
            mode = cfg.get("pooling_mode")
            if mode is None:
                mode = next((m for m in ("cls", "mean", "lasttoken", "max") if cfg.get(f"pooling_mode_{m}_token") or cfg.get(f"pooling_mode_{m}_tokens")), None)
            if mode not in _ST_TO_OURS:
                raise ValueError(f"{module_dir / 'config.json'}: pooling mode {mode!r} is not supported; use cls, mean or lasttoken.")
            settings.pooling_method = _ST_TO_OURS[mode]
        elif kind == "Normalize":
            settings.normalize_embeddings = True
    bert_cfg = folder / "sentence_bert_config.json"
    if bert_cfg.is_file():
        settings.max_length = _read_json(bert_cfg).get("max_seq_length")
    st_cfg = folder / "config_sentence_transformers.json"
    if st_cfg.is_file():
        settings.prompts = {k: v for k, v in (_read_json(st_cfg).get("prompts") or {}).items() if isinstance(v, str)}
    return settings


def write_sentence_transformers(
    folder: Path, *, pooling_method: str, hidden_size: int, normalize: bool, max_length: int,
    prompts: dict[str, str], do_lower_case: bool = False,
) -> None:
    """Write the module files around an already saved transformers model and tokenizer in ``folder``."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(parents=True, exist_ok=True)
    pooling = {"word_embedding_dimension": hidden_size, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
               "pooling_mode_lasttoken": False, "include_prompt": True}
    pooling[_OURS_TO_ST[pooling_method]] = True
    (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n", encoding="utf-8")
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_length, "do_lower_case": do_lower_case}, indent=2) + "\n", encoding="utf-8"
    )
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"}, indent=2) + "\n",
        encoding="utf-8",
    )
