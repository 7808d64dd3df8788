"""rag-app.toml and RAG_APP_* settings: precedence, defaults and errors that name the key."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from rag_app.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in [k for k in os.environ if k.startswith("RAG_APP_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_use_the_bundled_models() -> None:
    settings = load_settings()
    assert settings.retrieval.embedder == "minilm"
    assert settings.generator.model == "smollm2" and settings.generator.backend == "llama-cpp"
    assert settings.index.db == Path(".rag-app") and settings.server.host == "127.0.0.1"


def test_precedence_overrides_then_environment_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rag-app.toml").write_text('[retrieval]\nk = 8\ntop_n = 2\nembedder = "BAAI/bge-small-en-v1.5"\n[index]\ncollection = "manuals"\n')
    settings = load_settings()
    assert (settings.retrieval.k, settings.retrieval.top_n, settings.index.collection) == (8, 2, "manuals")
    assert settings.retrieval.embedder == "BAAI/bge-small-en-v1.5"
    monkeypatch.setenv("RAG_APP_RETRIEVAL__TOP_N", "3")
    assert load_settings().retrieval.top_n == 3
    overridden = load_settings(retrieval={"k": 30, "top_n": None})
    assert (overridden.retrieval.k, overridden.retrieval.top_n) == (30, 3)  # None leaves the lower layers


def test_explicit_config_path(tmp_path: Path) -> None:
    other = tmp_path / "conf" / "prod.toml"
    other.parent.mkdir()
    other.write_text('[generator]\nbackend = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\nmodel = "qwen"\n')
    settings = load_settings(other)
    assert (settings.generator.backend, settings.generator.base_url) == ("openai", "http://127.0.0.1:8080/v1")
    with pytest.raises(ConfigError, match=r"Config file .*missing\.toml does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_errors_name_the_key_the_value_and_the_choices(tmp_path: Path) -> None:
    (tmp_path / "rag-app.toml").write_text('[retrieval]\nmode = "sparse"\nembeder = "x"\n[ingest]\nchunk_size = 100\nchunk_overlap = 100\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "rag-app.toml" in message
    assert "retrieval.mode: must be one of 'dense' or 'hybrid'; got 'sparse'" in message
    assert "retrieval.embeder: unknown setting" in message
    assert "ingest: chunk_overlap (100) must be smaller than chunk_size (100)" in message


def test_cross_field_and_environment_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_APP_GENERATOR__BACKEND", "openai")
    with pytest.raises(ConfigError, match="generator: backend 'openai' needs base_url"):
        load_settings()
    monkeypatch.delenv("RAG_APP_GENERATOR__BACKEND")
    with pytest.raises(ConfigError, match=r"retrieval: top_n \(50\) cannot exceed k \(20\)"):
        load_settings(retrieval={"top_n": 50})
    monkeypatch.setenv("RAG_APP_SERVER__PORT", "99999")
    with pytest.raises(ConfigError, match=r"server.port: Input should be less than or equal to 65535 \(got '99999'\)"):
        load_settings()


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "rag-app.toml").write_text("[retrieval\nk = 3\n")
    with pytest.raises(ConfigError, match="Cannot read rag-app.toml"):
        load_settings()


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_APP_SERVER__API_TOKEN", "s3cret-token")
    settings = load_settings()
    assert settings.server.api_token is not None
    assert settings.server.api_token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(settings)


def test_retrieval_defaults_and_min_score_from_file_environment_and_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    retrieval = load_settings().retrieval  # chosen on manuals: dense candidates, ColBERT fused at 0.3
    assert (retrieval.mode, retrieval.reranker, retrieval.reranker_kind, retrieval.fusion_weight,
            retrieval.min_score) == ("dense", "minilm", "colbert", 0.3, None)
    (tmp_path / "rag-app.toml").write_text("[retrieval]\nmin_score = -inf\n")
    assert load_settings().retrieval.min_score == -math.inf
    monkeypatch.setenv("RAG_APP_RETRIEVAL__MIN_SCORE", "0.35")
    assert load_settings().retrieval.min_score == 0.35
    assert load_settings(retrieval={"min_score": 2}).retrieval.min_score == 2.0


@pytest.mark.parametrize(("value", "expected"), [
    ("nan", "retrieval.min_score: min_score must be a number, -inf (no threshold) or unset"),
    ("high", "retrieval.min_score: Input should be a valid number"),
])
def test_bad_min_score_names_the_key(value: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_APP_RETRIEVAL__MIN_SCORE", value)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_settings()
