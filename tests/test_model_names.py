"""The resolver: bundled aliases, local folders, .gguf files, hub ids and the errors for each."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest

from retrievers.model_names import ModelNotFoundError, resolve_model


def test_bundled_minilm_is_a_sentence_transformers_folder() -> None:
    resolved = resolve_model("minilm")
    assert resolved.origin == "bundled"
    assert (resolved.path / "config.json").is_file()
    assert (resolved.path / "modules.json").is_file()
    assert resolve_model("MiniLM").path == resolved.path


def test_bundled_smollm2_is_a_gguf_file() -> None:
    resolved = resolve_model("smollm2")
    assert resolved.is_gguf
    assert resolved.gguf_file.endswith(".gguf")
    assert (resolved.path / resolved.gguf_file).is_file()


def test_local_folder_and_gguf_file(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    assert resolve_model(tiny_encoder_dir).path == tiny_encoder_dir.resolve()
    assert resolve_model(str(tiny_encoder_dir)).origin == "local"
    gguf = tmp_path / "model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    resolved = resolve_model(gguf)
    assert (resolved.path, resolved.gguf_file) == (tmp_path.resolve(), "model.Q4.gguf")


def test_folder_without_a_model_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"holds no model: expected config\.json"):
        resolve_model(tmp_path)


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError, match=f"{missing}.*does not exist"):
        resolve_model(str(missing))


def test_other_file_is_rejected(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file; expected a model directory or a .gguf file"):
        resolve_model(weights)


def test_offline_hub_id_not_in_cache_says_how_to_provide_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("BAAI/bge-reranker-base")
    message = str(info.value)
    assert "BAAI/bge-reranker-base" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "--local-dir" in message and "minilm" in message


def test_hub_id_from_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_encoder_dir: Path) -> None:
    """A model already in the Hugging Face cache loads offline."""
    cache = tmp_path / "hub"
    snapshot = cache / "models--acme--tiny" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for item in tiny_encoder_dir.iterdir():
        (snapshot / item.name).write_bytes(item.read_bytes())
    (cache / "models--acme--tiny" / "refs").mkdir()
    (cache / "models--acme--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    resolved = resolve_model("acme/tiny")
    assert resolved.origin == "hub"
    assert (resolved.path / "config.json").is_file()


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_empty_or_wrong_type(bad: object) -> None:
    with pytest.raises(ValueError, match="model_name_or_path must be a non-empty string"):
        resolve_model(bad)  # type: ignore[arg-type]
