"""Integration: the bundled models as embedders (MiniLM encoder, SmolLM2 decoder through its GGUF file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from retrievers import DEFAULT_LLM_QUERY_INSTRUCTION, AutoModelForEmbedding, resolve_model

pytestmark = pytest.mark.integration

DOCS = [
    "Paris is the capital and largest city of France.",
    "The mitochondria is the powerhouse of the cell.",
    "To install a Python package, run pip install followed by the package name.",
]


@pytest.fixture(scope="module")
def minilm() -> AutoModelForEmbedding:
    return AutoModelForEmbedding.from_pretrained("minilm")


def test_minilm_reads_its_sentence_transformers_settings(minilm: AutoModelForEmbedding) -> None:
    assert (minilm.pooling_method, minilm.max_length, minilm.normalize_embeddings) == ("mean", 256, True)
    assert minilm.embedding_dim == 384


def test_minilm_matches_sentence_transformers(minilm: AutoModelForEmbedding) -> None:
    reference = SentenceTransformer(str(resolve_model("minilm").path), device="cpu")
    texts = [*DOCS, "word " * 400]  # the last one is truncated at 256 tokens by both
    cosine = (minilm.encode(texts) * reference.encode(texts, normalize_embeddings=True)).sum(axis=1)
    assert cosine.min() >= 0.9999


def test_minilm_saved_copy_loads_in_sentence_transformers(minilm: AutoModelForEmbedding, tmp_path: Path) -> None:
    minilm.save_pretrained(tmp_path / "copy")
    reloaded = SentenceTransformer(str(tmp_path / "copy"), device="cpu")
    assert ((reloaded.encode(DOCS) * minilm.encode(DOCS)).sum(axis=1) >= 0.9999).all()
    again = AutoModelForEmbedding.from_pretrained(tmp_path / "copy")
    assert again.settings() == minilm.settings()


def test_minilm_ranks_the_relevant_document_first(minilm: AutoModelForEmbedding) -> None:
    scores = minilm.encode_queries(["How do I install a package in Python?", "What is the capital of France?"]) @ minilm.encode_documents(DOCS).T
    assert scores.argmax(axis=1).tolist() == [2, 0]


def test_smollm2_gguf_as_decoder_embedder(tmp_path: Path) -> None:
    model = AutoModelForEmbedding.from_pretrained("smollm2")
    assert (model.model_kind, model.pooling_method, model.append_eos) == ("decoder", "last", True)
    assert model.query_instruction == DEFAULT_LLM_QUERY_INSTRUCTION
    docs = model.encode_documents(DOCS)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    # Each vector is the hidden state of the appended EOS token, computed here by hand for one query.
    query = "What is the capital of France?"
    ids = model.tokenizer(DEFAULT_LLM_QUERY_INSTRUCTION.replace("{}", query), return_tensors="pt").input_ids
    ids = torch.cat([ids, torch.tensor([[model.tokenizer.eos_token_id]])], dim=1)
    with torch.no_grad():
        last = model.model(input_ids=ids).last_hidden_state[0, -1]
    np.testing.assert_allclose(model.encode_queries(query), (last / last.norm()).numpy(), atol=1e-4)
    # Left padding and batching give the same vectors as right padding and one at a time.
    model.tokenizer.padding_side = "left"
    np.testing.assert_allclose(model.encode_documents(DOCS), docs, atol=1e-4)
    np.testing.assert_allclose(np.stack([model.encode_documents(d) for d in DOCS]), docs, atol=1e-4)


def test_a_gguf_model_saves_as_a_float_checkpoint_and_reloads_with_the_same_vectors(tmp_path: Path) -> None:
    # transformers marks GGUF-loaded models as quantized and refuses to save them; fine-tuning smollm2 must save.
    embedder = AutoModelForEmbedding.from_pretrained("smollm2")
    embedder.save_pretrained(tmp_path / "smollm2-float")
    assert not list((tmp_path / "smollm2-float").glob("*.gguf"))
    again = AutoModelForEmbedding.from_pretrained(tmp_path / "smollm2-float")
    assert (again.pooling_method, again.query_instruction) == (embedder.pooling_method, embedder.query_instruction)
    before, after = embedder.encode_queries(DOCS), again.encode_queries(DOCS)
    assert np.allclose(before, after, atol=1e-5)
