"""Shared fixtures: tiny models on disk, and an offline hub for every test."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests import tiny_models  # noqa: E402


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="session")
def tiny_decoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_decoder(tmp_path_factory.mktemp("tiny-decoder"))


@pytest.fixture(scope="session")
def tiny_bow_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_bag_of_words_encoder(tmp_path_factory.mktemp("tiny-bow-encoder"))


@pytest.fixture(scope="session")
def tiny_chat_decoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.build_chat_decoder(tmp_path_factory.mktemp("tiny-chat-decoder"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """llama-cpp-python opens os.devnull twice at import and never closes it, which Python reports as a
    ResourceWarning after the test summary; close them once every test is done."""
    import gc
    import sys

    gc.collect()  # finalise any model that still needs them first
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None and not handle.closed:
            handle.close()
