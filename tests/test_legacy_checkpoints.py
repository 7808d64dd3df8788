"""Checkpoints written before the reranker kinds got one spelling still load, with the same numbers.

The folders in ``tests/fixtures/legacy_checkpoints`` were written by the framework at commit 050de42 (see
``build.py`` there): a cross-encoder saved then records ``"ranker_kind": "cross_encoder"``, today's code
writes ``"cross-encoder"``. ``expected.json`` holds the scores and vectors each model gave when it was saved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from retrievers import AutoModelForEmbedding, AutoModelForRanking, ColBERT, CrossEncoderRanker, LLMRanker
from retrievers.loading import FRAMEWORK_CONFIG
from retrievers.names import RerankerKind

FIXTURES = Path(__file__).parent / "fixtures" / "legacy_checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
RANKERS = {"cross_encoder": CrossEncoderRanker, "colbert": ColBERT, "llm": LLMRanker}
KINDS = {"cross_encoder": RerankerKind.CROSS_ENCODER, "colbert": RerankerKind.COLBERT, "llm": RerankerKind.LLM}


def _pairs(name: str) -> list[tuple[str, str]]:
    return [(q, d) for q, d in EXPECTED[name]["pairs"]]


def test_the_fixture_is_the_old_format() -> None:
    saved = json.loads((FIXTURES / "cross_encoder" / FRAMEWORK_CONFIG).read_text(encoding="utf-8"))
    assert saved["ranker_kind"] == "cross_encoder"  # the legacy spelling this test is about
    assert not any(FIXTURES.rglob("*.bin")) and not any(FIXTURES.rglob("*.pkl"))


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_old_ranker_checkpoints_load_with_their_settings_and_scores(name: str) -> None:
    folder = FIXTURES / name
    saved = EXPECTED[name]["settings"]
    for ranker in (AutoModelForRanking.from_pretrained(folder), RANKERS[name].from_pretrained(folder)):
        assert type(ranker) is RANKERS[name]
        assert ranker.ranker_kind is KINDS[name]
        for key in ("max_length", "window_overlap", "query_instruction", "document_instruction"):
            assert getattr(ranker, key) == saved[key], key
        assert ranker.compute_score(_pairs(name)) == pytest.approx(EXPECTED[name]["scores"], abs=1e-5)


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_old_ranker_checkpoints_resave_in_todays_spelling(name: str, tmp_path: Path) -> None:
    AutoModelForRanking.from_pretrained(FIXTURES / name).save_pretrained(tmp_path / name)
    saved = json.loads((tmp_path / name / FRAMEWORK_CONFIG).read_text(encoding="utf-8"))
    assert saved["ranker_kind"] == KINDS[name].value  # "cross-encoder", not "cross_encoder"
    again = AutoModelForRanking.from_pretrained(tmp_path / name)
    assert again.compute_score(_pairs(name)) == pytest.approx(EXPECTED[name]["scores"], abs=1e-5)


def test_old_embedder_checkpoint_loads_with_its_settings_and_vectors() -> None:
    expected = EXPECTED["embedder"]
    embedder = AutoModelForEmbedding.from_pretrained(FIXTURES / "embedder")
    for key in ("pooling_method", "query_instruction", "document_instruction", "max_length", "normalize_embeddings"):
        assert getattr(embedder, key) == expected["settings"][key], key
    queries = torch.as_tensor(embedder.encode_queries(expected["queries"]))
    documents = torch.as_tensor(embedder.encode_documents(expected["documents"]))
    torch.testing.assert_close(queries, torch.tensor(expected["query_vectors"]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(documents, torch.tensor(expected["document_vectors"]), atol=1e-5, rtol=1e-5)


def test_a_copied_old_checkpoint_with_a_mistyped_kind_is_refused(tmp_path: Path) -> None:
    folder = shutil.copytree(FIXTURES / "cross_encoder", tmp_path / "ce")
    config = json.loads((folder / FRAMEWORK_CONFIG).read_text(encoding="utf-8"))
    (folder / FRAMEWORK_CONFIG).write_text(json.dumps({**config, "ranker_kind": "crossencoder"}), encoding="utf-8")
    with pytest.raises(ValueError, match="ranker_kind='crossencoder'.*cross-encoder, colbert, llm"):
        AutoModelForRanking.from_pretrained(folder)
