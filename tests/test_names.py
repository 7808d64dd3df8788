"""The shared names of :mod:`retrievers.names`, and the lazy packages that make them cheap to import."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import get_args

import pytest

from retrievers.names import (
    RANKER_OPTIONS,
    RELEVANCE_SCORE_KEY,
    RERANKER_KINDS,
    RerankerKind,
    RerankerKindName,
)


def _modules_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().replace("'", '"'))


@pytest.mark.parametrize("code", [
    "import retrievers.names",
    "from retrievers.langchain import RELEVANCE_SCORE_KEY, FUSED_SCORE_KEY, BM25_RANK_KEY, DENSE_RANK_KEY",
    "from retrievers import RerankerKind, resolve_model, ModelNotFoundError",
    "import retrievers.rerankers, retrievers.validation, retrievers.lazy",
])
def test_names_import_no_model_library(code: str) -> None:
    assert _modules_after(code) == []


def test_a_model_name_still_imports_its_model() -> None:
    assert _modules_after("from retrievers import AutoModelForEmbedding") == ["torch", "transformers"]


@pytest.mark.parametrize("package", ["retrievers", "retrievers.langchain", "retrievers.rerankers", "finetune"])
def test_every_public_name_of_a_lazy_package_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


def test_the_keys_are_one_object_everywhere() -> None:
    from retrievers.langchain import hybrid, reranker

    assert reranker.RELEVANCE_SCORE_KEY is RELEVANCE_SCORE_KEY == "relevance_score"
    assert hybrid.FUSED_SCORE_KEY == "fused_score"


def test_kinds_are_strings_and_parse_the_legacy_spelling() -> None:
    assert RERANKER_KINDS == ("cross-encoder", "colbert", "llm") == get_args(RerankerKindName)
    assert RerankerKind.parse("cross_encoder") is RerankerKind("cross_encoder") is RerankerKind.CROSS_ENCODER
    assert RerankerKind.parse(RerankerKind.LLM) is RerankerKind.LLM
    assert RerankerKind.COLBERT == "colbert" and f"{RerankerKind.CROSS_ENCODER}" == "cross-encoder"
    assert json.dumps({"kind": RerankerKind.CROSS_ENCODER}) == '{"kind": "cross-encoder"}'
    with pytest.raises(ValueError, match="--kind must be one of cross-encoder, colbert, llm; got 'bm25'"):
        RerankerKind.parse("bm25", "--kind")


def test_each_kind_has_the_options_that_load_it_and_no_other() -> None:
    assert RANKER_OPTIONS == {RerankerKind.CROSS_ENCODER: {"colbert": False}, RerankerKind.COLBERT: {"colbert": True},
                              RerankerKind.LLM: {"causal_lm": True}}
    options = RerankerKind.LLM.ranker_options
    options["causal_lm"] = False  # a copy: the shared map cannot be changed through it
    assert RANKER_OPTIONS[RerankerKind.LLM]["causal_lm"] is True
    with pytest.raises(TypeError):
        RANKER_OPTIONS[RerankerKind.LLM]["causal_lm"] = False  # type: ignore[index]
    assert {kind.class_name for kind in RerankerKind} == {"CrossEncoderRanker", "ColBERT", "LLMRanker"}


def test_the_options_load_their_kind(tiny_encoder_dir, tiny_cross_encoder_dir, tiny_decoder_dir) -> None:
    from retrievers import AutoModelForRanking, ColBERT, CrossEncoderRanker, LLMRanker

    folders = {RerankerKind.CROSS_ENCODER: tiny_cross_encoder_dir, RerankerKind.COLBERT: tiny_encoder_dir,
               RerankerKind.LLM: tiny_decoder_dir}
    classes = {RerankerKind.CROSS_ENCODER: CrossEncoderRanker, RerankerKind.COLBERT: ColBERT, RerankerKind.LLM: LLMRanker}
    for kind, folder in folders.items():
        ranker = AutoModelForRanking.from_pretrained(folder, **kind.ranker_options)
        assert type(ranker) is classes[kind] and ranker.ranker_kind is kind
