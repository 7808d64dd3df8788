"""AutoModelForEmbedding on tiny random encoder and decoder models."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer

from retrievers import DEFAULT_LLM_QUERY_INSTRUCTION, AutoModelForEmbedding, ModelNotFoundError
from retrievers.loading import FRAMEWORK_CONFIG

TEXTS = [
    "Python is a programming language.",
    "The cat sat on the mat.",
    "Mean pooling averages the token vectors of a sentence into one vector, and a reranker scores pairs.",
    "pip",
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return (a * b).sum(-1)


@pytest.fixture(scope="module")
def encoder(tiny_encoder_dir: Path) -> AutoModelForEmbedding:
    return AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, pooling_method="mean")


@pytest.fixture(scope="module")
def decoder(tiny_decoder_dir: Path) -> AutoModelForEmbedding:
    return AutoModelForEmbedding.from_pretrained(tiny_decoder_dir)


def test_encode_equals_manual_forward_and_mean_pooling(encoder: AutoModelForEmbedding, tiny_encoder_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model = AutoModel.from_pretrained(tiny_encoder_dir).eval()
    expected = []
    for text in TEXTS:
        ids = tok(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**ids).last_hidden_state[0]  # (T, H): no padding, so a plain mean
        vec = hidden.mean(0)
        expected.append((vec / vec.norm()).numpy())
    got = encoder.encode(TEXTS, batch_size=3)
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_encode_keeps_input_order_and_is_batch_independent(encoder: AutoModelForEmbedding) -> None:
    together = encoder.encode(TEXTS, batch_size=2)
    alone = np.stack([encoder.encode(t) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert encoder.encode(TEXTS[0]).ndim == 1
    assert encoder.encode([]).shape == (0, encoder.embedding_dim)


def test_normalize_flag_and_tensor_output(encoder: AutoModelForEmbedding) -> None:
    raw = encoder.encode(TEXTS, normalize_embeddings=False, convert_to_tensor=True)
    assert isinstance(raw, torch.Tensor)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(len(TEXTS)))
    normed = encoder.encode(TEXTS)
    np.testing.assert_allclose(normed, torch.nn.functional.normalize(raw, dim=1).numpy(), atol=1e-5)


def test_cls_pooling_takes_first_token(tiny_encoder_dir: Path) -> None:
    model = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, pooling_method="cls", normalize_embeddings=False)
    features = model.tokenize(TEXTS[:2])
    with torch.no_grad():
        hidden = model.model(**features).last_hidden_state
    np.testing.assert_allclose(model.encode(TEXTS[:2]), hidden[:, 0].numpy(), atol=1e-5)


def test_query_instruction_template_and_prefix(tiny_encoder_dir: Path) -> None:
    template = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, query_instruction="query : {} ?")
    prefix = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, query_instruction="query : ")
    plain = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)
    assert template.prepare_texts(["the cat"], is_query=True) == ["query : the cat ?"]
    assert prefix.prepare_texts(["the cat"], is_query=True) == ["query : the cat"]
    assert prefix.prepare_texts(["the cat"], is_query=False) == ["the cat"]
    # The instruction changes the query vector, the text still counts, documents are untouched.
    q_prefix = prefix.encode_queries(["the cat", "the dog"])
    assert not np.allclose(q_prefix[0], q_prefix[1], atol=1e-4)
    np.testing.assert_allclose(q_prefix[0], plain.encode("query : the cat"), atol=1e-5)
    np.testing.assert_allclose(prefix.encode_documents("the cat"), plain.encode("the cat"), atol=1e-5)


def test_save_and_load_restore_every_setting(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    original = AutoModelForEmbedding.from_pretrained(
        tiny_encoder_dir, pooling_method="mean", query_instruction="query : ", document_instruction="passage : ",
        max_length=32, normalize_embeddings=False,
    )
    original.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / FRAMEWORK_CONFIG).read_text())
    assert saved["kind"] == "embedder" and saved["model_kind"] == "encoder"
    reloaded = AutoModelForEmbedding.from_pretrained(tmp_path / "saved")
    assert reloaded.settings() == original.settings()
    np.testing.assert_allclose(reloaded.encode_queries(TEXTS), original.encode_queries(TEXTS), atol=1e-6)
    np.testing.assert_allclose(reloaded.encode_documents(TEXTS), original.encode_documents(TEXTS), atol=1e-6)


def test_empty_instruction_is_kept_distinct_from_none(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    # None means "the default" (for a decoder, the LLM retrieval instruction); "" means "no instruction".
    assert AutoModelForEmbedding.from_pretrained(tiny_decoder_dir).query_instruction == DEFAULT_LLM_QUERY_INSTRUCTION
    bare = AutoModelForEmbedding.from_pretrained(tiny_decoder_dir, query_instruction="")
    bare.save_pretrained(tmp_path / "bare")
    assert AutoModelForEmbedding.from_pretrained(tmp_path / "bare").query_instruction == ""


def test_explicit_argument_against_saved_setting_warns(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, pooling_method="mean").save_pretrained(tmp_path / "m")
    with pytest.warns(UserWarning, match="pooling_method='cls' overrides the value 'mean'"):
        model = AutoModelForEmbedding.from_pretrained(tmp_path / "m", pooling_method="cls")
    assert model.pooling_method == "cls"


def test_sentence_transformers_loads_the_saved_encoder(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    ours = AutoModelForEmbedding.from_pretrained(
        tiny_encoder_dir, pooling_method="mean", query_instruction="query : ", max_length=64
    )
    ours.save_pretrained(tmp_path / "st")
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    assert st.max_seq_length == 64
    assert (_cos(st.encode(TEXTS), ours.encode_documents(TEXTS)) >= 0.9999).all()
    assert (_cos(st.encode(TEXTS, prompt_name="query"), ours.encode_queries(TEXTS)) >= 0.9999).all()


@pytest.mark.parametrize("pooling", ["cls", "last"])
def test_sentence_transformers_agrees_for_other_poolings(tiny_encoder_dir: Path, tmp_path: Path, pooling: str) -> None:
    ours = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, pooling_method=pooling)
    ours.save_pretrained(tmp_path / pooling)
    st = SentenceTransformer(str(tmp_path / pooling), device="cpu")
    assert (_cos(st.encode(TEXTS), ours.encode(TEXTS)) >= 0.9999).all()


def test_decoder_defaults_last_pooling_eos_and_instruction(decoder: AutoModelForEmbedding) -> None:
    assert (decoder.model_kind, decoder.pooling_method, decoder.append_eos) == ("decoder", "last", True)
    features = decoder.tokenize(["the cat", "the cat sat on the mat"])
    eos = decoder.tokenizer.eos_token_id
    last = features["attention_mask"].sum(1) - 1
    assert features["input_ids"][torch.arange(2), last].tolist() == [eos, eos]
    assert decoder.prepare_texts(["x"], is_query=True) == [DEFAULT_LLM_QUERY_INSTRUCTION.replace("{}", "x")]
    assert decoder.prepare_texts(["x"], is_query=False) == ["x"]


def test_decoder_embeddings_do_not_depend_on_padding_side(decoder: AutoModelForEmbedding) -> None:
    right = decoder.encode(TEXTS, batch_size=4)
    decoder.tokenizer.padding_side = "left"
    try:
        left = decoder.encode(TEXTS, batch_size=4)
    finally:
        decoder.tokenizer.padding_side = "right"
    alone = np.stack([decoder.encode(t) for t in TEXTS])
    np.testing.assert_allclose(left, right, atol=1e-5)
    np.testing.assert_allclose(alone, right, atol=1e-5)


def test_decoder_truncation_keeps_eos_last(decoder: AutoModelForEmbedding) -> None:
    features = decoder.tokenize(["the cat sat on the mat " * 20], max_length=8)
    assert features["input_ids"].shape[1] == 8
    assert features["input_ids"][0, -1].item() == decoder.tokenizer.eos_token_id


def test_lora_trains_only_adapters_and_round_trips(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    model = AutoModelForEmbedding.from_pretrained(tiny_decoder_dir, use_lora=True, lora_config={"r": 4, "lora_alpha": 8})
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    # Move the adapters away from their zero init so that merging is observable.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    expected = model.encode_queries(TEXTS)
    plain = AutoModelForEmbedding.from_pretrained(tiny_decoder_dir).encode_queries(TEXTS)
    assert not np.allclose(expected, plain, atol=1e-3)

    model.save_pretrained(tmp_path / "adapters", merge_lora=False)
    assert (tmp_path / "adapters" / "adapter_config.json").is_file()
    assert not (tmp_path / "adapters" / "config.json").exists()
    np.testing.assert_allclose(AutoModelForEmbedding.from_pretrained(tmp_path / "adapters").encode_queries(TEXTS), expected, atol=1e-5)
    via_lora_path = AutoModelForEmbedding.from_pretrained(tiny_decoder_dir, lora_path=tmp_path / "adapters")
    np.testing.assert_allclose(via_lora_path.encode_queries(TEXTS), expected, atol=1e-5)

    model.save_pretrained(tmp_path / "merged")
    merged = AutoModelForEmbedding.from_pretrained(tmp_path / "merged")
    assert not hasattr(merged.model, "peft_config")
    np.testing.assert_allclose(merged.encode_queries(TEXTS), expected, atol=1e-5)


def test_fp16_is_a_warning_on_cpu_and_an_error_for_training(tiny_encoder_dir: Path) -> None:
    with pytest.warns(UserWarning, match="use_fp16=True is ignored on CPU"):
        model = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, use_fp16=True)
    assert next(model.model.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="inference only.*fp16=True or bf16=True"):
        AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, use_fp16=True, use_lora=True)
    half = AutoModelForEmbedding(model.model, model.tokenizer, use_fp16=True)
    with pytest.raises(RuntimeError, match="inference only"):
        half.train()


def test_bad_arguments_have_clear_errors(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pooling_method must be one of cls, mean, last; got 'max'"):
        AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, pooling_method="max")
    with pytest.raises(ValueError, match="trust_remote_code is not supported"):
        AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, trust_remote_code=True)
    with pytest.raises(ModelNotFoundError, match="no-such-model-xyz"):
        AutoModelForEmbedding.from_pretrained("acme/no-such-model-xyz")
    model = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string, got int"):
        model.encode(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.encode(["ok"], batch_size=0)


def test_a_ranker_folder_is_refused(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    model = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)
    model.save_pretrained(tmp_path / "r")
    config = tmp_path / "r" / FRAMEWORK_CONFIG
    config.write_text(json.dumps({**json.loads(config.read_text()), "kind": "ranker"}))
    with pytest.raises(ValueError, match="holds a ranker, not an embedder; load it with AutoModelForRanking"):
        AutoModelForEmbedding.from_pretrained(tmp_path / "r")


def test_failed_save_leaves_no_partial_folder(tiny_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(model.tokenizer, "save_pretrained", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_no_warning_when_arguments_match_saved(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, pooling_method="mean").save_pretrained(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        AutoModelForEmbedding.from_pretrained(tmp_path / "m", pooling_method="mean")


def test_encode_across_tokenization_blocks_keeps_order(encoder: AutoModelForEmbedding, monkeypatch: pytest.MonkeyPatch) -> None:
    import retrievers.embedder as embedder_module

    texts = TEXTS * 3
    expected = np.stack([encoder.encode(t) for t in texts])
    monkeypatch.setattr(embedder_module, "_TOKENIZE_BLOCK", 5)
    np.testing.assert_allclose(encoder.encode(texts, batch_size=2), expected, atol=1e-5)


def test_pad_follows_the_tokenizer_padding_side(encoder: AutoModelForEmbedding) -> None:
    ids = [[5, 6, 7], [8]]
    pad = encoder.tokenizer.pad_token_id
    right = encoder.pad(ids)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, pad, pad]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    encoder.tokenizer.padding_side = "left"
    try:
        left = encoder.pad(ids)
    finally:
        encoder.tokenizer.padding_side = "right"
    assert left["input_ids"].tolist() == [[5, 6, 7], [pad, pad, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
