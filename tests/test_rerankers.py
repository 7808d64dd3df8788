"""Unit tests for the rerankers, on tiny random models built locally (see tests/tiny_models.py).

Scores are checked against ground truth computed another way: the cross-encoder's logit straight from
transformers, the LLM's "Yes" logit from a full forward pass over the whole prompt, MaxSim by hand on small
tensors, long documents against windows cut by hand, and a bag-of-words encoder whose MaxSim is exactly 1
when every query token is in the window.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from retrievers.embedder import AutoModelForEmbedding
from retrievers.loading import FRAMEWORK_CONFIG
from retrievers.model_names import ModelNotFoundError
from retrievers.rerankers import (
    AutoModelForRanking,
    ColBERT,
    CrossEncoderRanker,
    LLMRanker,
    RerankResult,
    maxsim,
    maxsim_matrix,
    split_into_windows,
)
from retrievers.rerankers.colbert import COLBERT_LINEAR
from retrievers.rerankers.llm_ranker import DEFAULT_LLM_RANKER_INSTRUCTION, PLAIN_PROMPT_TEMPLATE

QUERY = "what is mean pooling?"
DOCS = [
    "Mean pooling averages the token vectors of a sentence into one vector.",
    "The cat sat on the mat.",
    "Python is a programming language. It has modules, classes and exceptions. " * 3,
    "pip",
]
PAIRS = [(QUERY, d) for d in DOCS] + [("how do I install packages?", "Use pip install with the package name.")]


@pytest.fixture()
def cross_encoder(tiny_cross_encoder_dir: Path) -> CrossEncoderRanker:
    return CrossEncoderRanker.from_pretrained(tiny_cross_encoder_dir)


@pytest.fixture()
def colbert(tiny_encoder_dir: Path) -> ColBERT:
    return AutoModelForRanking.from_pretrained(tiny_encoder_dir, colbert=True)


@pytest.fixture()
def llm(tiny_decoder_dir: Path) -> LLMRanker:
    return AutoModelForRanking.from_pretrained(tiny_decoder_dir, causal_lm=True)


def _save_colbert_linear(folder: Path, out_dim: int, in_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    linear = torch.nn.Linear(in_dim, out_dim)
    state = {k: v.detach().clone() for k, v in linear.state_dict().items()}
    torch.save(state, folder / COLBERT_LINEAR)
    return state


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------------------------------- windows
@pytest.mark.parametrize("n", [0, 1, 5, 8, 9, 17, 40, 41])
@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (8, 3), (8, 7), (1, 0), (5, 2)])
def test_windows_cover_every_token_with_the_overlap(n: int, size: int, overlap: int) -> None:
    ids = list(range(100, 100 + n))
    windows = split_into_windows(ids, size, overlap)
    assert windows[0][: min(n, size)] == ids[: min(n, size)]
    assert all(len(w) <= size for w in windows)
    assert sorted({t for w in windows for t in w}) == ids  # every token, nothing else
    if n > size:
        assert all(len(w) == size for w in windows)
        assert windows[-1][-1] == ids[-1]
        for left, right in zip(windows, windows[1:], strict=False):
            shared = set(left) & set(right)
            assert len(shared) >= overlap
            assert right[0] > left[0]  # in order
        assert len(windows) == 1 + -(-(n - size) // (size - overlap))  # ceil((n - size) / stride) + 1
    else:
        assert windows == [ids]


def test_windows_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="size must be"):
        split_into_windows([1, 2], 0, 0)
    with pytest.raises(ValueError, match="overlap must be"):
        split_into_windows([1, 2], 4, 4)
    with pytest.raises(ValueError, match="overlap must be"):
        split_into_windows([1, 2], 4, -1)


# ---------------------------------------------------------------------------------------------- MaxSim
def test_maxsim_by_hand_with_padding_masked() -> None:
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]])  # (1, 3, 2); the third token is padding
    q_mask = torch.tensor([[1, 1, 0]])
    d = torch.tensor([[[0.8, 0.6], [0.0, -1.0], [0.0, 1.0]]])  # (1, 3, 2); the third token is padding
    d_mask = torch.tensor([[1, 1, 0]])
    # q0: max(0.8, 0.0) = 0.8; q1: max(0.6, -1.0) = 0.6 (the padded [0, 1] would give 1.0); mean over 2 tokens.
    assert maxsim(q, q_mask, d, d_mask).tolist() == pytest.approx([0.7])
    # With every similarity negative, the padded document token (a zero vector) must not win with 0.
    d_neg = torch.tensor([[[-0.6, -0.8], [-0.8, -0.6], [0.0, 0.0]]])
    # q0: max(-0.6, -0.8) = -0.6; q1: max(-0.8, -0.6) = -0.6
    assert maxsim(q, q_mask, d_neg, d_mask).tolist() == pytest.approx([-0.6])


def test_maxsim_matrix_equals_paired_maxsim_and_has_gradients() -> None:
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(3, 5, 4), dim=-1).requires_grad_()
    d = torch.nn.functional.normalize(torch.randn(4, 6, 4), dim=-1)
    q_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    d_mask = torch.tensor([[1] * 6, [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0], [0] * 6])
    matrix = maxsim_matrix(q, q_mask, d, d_mask)  # (3, 4)
    values = matrix.detach()
    assert matrix.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            paired = maxsim(q.detach()[i : i + 1], q_mask[i : i + 1], d[j : j + 1], d_mask[j : j + 1])
            qi, dj = q.detach()[i, q_mask[i].bool()], d[j, d_mask[j].bool()]
            by_hand = (qi @ dj.T).max(dim=1).values.mean().item() if d_mask[j].any() else 0.0
            assert values[i, j].item() == pytest.approx(paired.item(), abs=1e-6)
            assert values[i, j].item() == pytest.approx(by_hand, abs=1e-6)
    assert values[:, 3].tolist() == [0.0, 0.0, 0.0]  # a document without tokens
    matrix.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0


def test_maxsim_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, Tq, D\)"):
        maxsim(torch.zeros(2, 3, 4), torch.ones(2, 3), torch.zeros(1, 3, 4), torch.ones(1, 3))


# ---------------------------------------------------------------------------------------------- contract
def test_compute_score_single_pair_gives_float_and_list_gives_list(cross_encoder: CrossEncoderRanker) -> None:
    one = cross_encoder.compute_score(PAIRS[0])
    many = cross_encoder.compute_score(PAIRS)
    assert isinstance(one, float)
    assert isinstance(many, list) and len(many) == len(PAIRS) and all(isinstance(s, float) for s in many)
    assert one == pytest.approx(many[0], abs=1e-5)
    assert cross_encoder.compute_score([]) == []
    assert cross_encoder.compute_score([list(PAIRS[1])]) == pytest.approx([many[1]], abs=1e-5)


def test_rerank_orders_by_score_and_maps_indices(cross_encoder: CrossEncoderRanker) -> None:
    scores = cross_encoder.compute_score([(QUERY, d) for d in DOCS])
    result = cross_encoder.rerank(QUERY, DOCS)
    assert isinstance(result, RerankResult) and len(result) == len(DOCS)
    assert result.indices == sorted(range(len(DOCS)), key=lambda i: -scores[i])
    assert result.documents == [DOCS[i] for i in result.indices]
    assert result.scores == pytest.approx(sorted(scores, reverse=True), abs=1e-5)
    top = cross_encoder.rerank(QUERY, DOCS, top_n=2)
    assert top.indices == result.indices[:2]
    assert len(cross_encoder.rerank(QUERY, DOCS, top_n=0)) == 0
    assert len(cross_encoder.rerank(QUERY, [])) == 0


def test_input_errors_name_the_argument(cross_encoder: CrossEncoderRanker) -> None:
    with pytest.raises(ValueError, match="top_n must be >= 0"):
        cross_encoder.rerank(QUERY, DOCS, top_n=-1)
    with pytest.raises(TypeError, match="top_n"):
        cross_encoder.rerank(QUERY, DOCS, top_n=1.5)
    with pytest.raises(TypeError, match="query must be a string"):
        cross_encoder.rerank(42, DOCS)
    with pytest.raises(TypeError, match=r"documents\[1\] must be a string"):
        cross_encoder.rerank(QUERY, ["ok", None])
    with pytest.raises(TypeError, match="not one string"):
        cross_encoder.rerank(QUERY, "one document")
    with pytest.raises(TypeError, match=r"sentence_pairs\[1\]\[1\] \(the document\)"):
        cross_encoder.compute_score([("q", "d"), ("q", 3)])
    with pytest.raises(TypeError, match=r"sentence_pairs\[0\] must be a \(query, document\) pair"):
        cross_encoder.compute_score([("q", "d", "x")])
    with pytest.raises(ValueError, match="batch_size must be"):
        cross_encoder.compute_score(PAIRS, batch_size=0)


# ---------------------------------------------------------------------------------------------- cross-encoder
def test_cross_encoder_score_is_the_models_own_logit(tiny_cross_encoder_dir: Path, cross_encoder: CrossEncoderRanker) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_cross_encoder_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_dir).eval()
    for query, doc in PAIRS:
        with torch.no_grad():
            expected = model(**tokenizer(query, doc, return_tensors="pt")).logits[0, 0].item()
        assert cross_encoder.compute_score((query, doc)) == pytest.approx(expected, abs=1e-5)


def test_cross_encoder_long_document_scores_its_best_window(tiny_cross_encoder_dir: Path) -> None:
    ranker = CrossEncoderRanker.from_pretrained(
        tiny_cross_encoder_dir, max_length=24, window_overlap=3, document_instruction="passage: {}"
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_cross_encoder_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_dir).eval()
    query = "what is a reranker?"
    doc = " ".join(DOCS[:3]) + " A reranker scores each query and passage pair; higher means more relevant."
    q = tokenizer(query, add_special_tokens=False)["input_ids"]
    head = tokenizer("passage: ", add_special_tokens=False)["input_ids"]
    body = tokenizer(doc, add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = 24 - 3 - len(q) - len(head)  # [CLS] q [SEP] head window [SEP]
    starts = list(range(0, len(body) - budget, budget - 3)) + [len(body) - budget]
    assert len(starts) >= 4
    window_scores = []
    for s in starts:
        ids = [cls, *q, sep, *head, *body[s : s + budget], sep]
        types = [0] * (len(q) + 2) + [1] * (len(head) + budget + 1)
        assert len(ids) == 24
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]))
        window_scores.append(out.logits[0, 0].item())
    assert ranker.compute_score((query, doc)) == pytest.approx(max(window_scores), abs=1e-5)
    # tokenize_pairs (training) holds the first window only, laid out the same way.
    features = ranker.tokenize_pairs([(query, doc)])
    assert features["input_ids"][0].tolist() == [cls, *q, sep, *head, *body[:budget], sep]


def test_cross_encoder_without_head_gets_one_logit_with_a_warning(tiny_encoder_dir: Path) -> None:
    with pytest.warns(UserWarning, match="no sequence-classification head"):
        ranker = AutoModelForRanking.from_pretrained(tiny_encoder_dir)
    assert isinstance(ranker, CrossEncoderRanker)
    assert ranker.model.config.num_labels == 1
    assert isinstance(ranker.compute_score(PAIRS[0]), float)


def test_long_query_is_truncated_with_a_warning(tiny_cross_encoder_dir: Path) -> None:
    ranker = CrossEncoderRanker.from_pretrained(tiny_cross_encoder_dir, max_length=32)
    long_query = "what is mean pooling " * 20
    with pytest.warns(UserWarning, match="truncated"):
        score = ranker.compute_score((long_query, "Mean pooling averages token vectors."))
    assert isinstance(score, float)


# ---------------------------------------------------------------------------------------------- ColBERT
def test_colbert_vectors_are_the_encoders_normalised_tokens_without_cls(tiny_encoder_dir: Path, colbert: ColBERT) -> None:
    assert colbert.colbert_dim == 32  # no colbert_linear.pt: identity projection, dim = hidden size
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model = AutoModel.from_pretrained(tiny_encoder_dir).eval()
    with torch.no_grad():
        q_hidden = model(**tokenizer(QUERY, return_tensors="pt")).last_hidden_state[0]  # (T, H)
        d_hidden = model(**tokenizer(DOCS[0], return_tensors="pt")).last_hidden_state[0]
    q_expected = torch.nn.functional.normalize(q_hidden[1:], dim=-1)  # [CLS] dropped, [SEP] kept (as bge-m3)
    d_expected = torch.nn.functional.normalize(d_hidden[1:], dim=-1)
    q_vecs = colbert.encode_queries(QUERY)
    d_vecs = colbert.encode_documents([DOCS[0], DOCS[1]])
    torch.testing.assert_close(q_vecs, q_expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(d_vecs[0], d_expected, atol=1e-5, rtol=0)
    by_hand = (q_expected @ d_expected.T).max(dim=1).values.mean().item()  # MaxSim / number of query tokens
    assert colbert.compute_score((QUERY, DOCS[0])) == pytest.approx(by_hand, abs=1e-5)


def test_colbert_finds_the_query_words_beyond_the_first_window(tiny_bow_encoder_dir: Path) -> None:
    """Token vectors of this encoder depend on the token alone: MaxSim is exactly 1 iff the window holds
    every query token (and [SEP], which every window has)."""
    ranker = ColBERT.from_pretrained(tiny_bow_encoder_dir, max_length=16, window_overlap=2)
    filler = "the cat sat on the mat . " * 4
    doc = filler + "python modules and classes " + filler  # the query words sit in a middle window
    query = "python modules"
    score = ranker.compute_score((query, doc))
    assert score == pytest.approx(1.0, abs=1e-5)
    truncated = maxsim(
        ranker.encode_queries(query)[None], torch.ones(1, 3), ranker.encode_documents(doc)[None], torch.ones(1, 15)
    )
    assert truncated.item() < 0.9  # the first window alone does not hold the query words
    assert ranker.compute_score((query, filler * 2)) < 0.9
    assert ranker.rerank(query, [filler * 2, doc, "the cat"]).indices[0] == 1


def test_colbert_loads_a_bge_m3_style_projection(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_encoder_dir, tmp_path / "with-linear")
    state = _save_colbert_linear(folder, out_dim=8, in_dim=32)
    ranker = AutoModelForRanking.from_pretrained(folder)  # colbert_linear.pt alone selects ColBERT
    assert isinstance(ranker, ColBERT) and ranker.colbert_dim == 8
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(DOCS[1], return_tensors="pt")).last_hidden_state[0, 1:]  # (T-1, 32)
    expected = torch.nn.functional.normalize(hidden @ state["weight"].T + state["bias"], dim=-1)  # (T-1, 8)
    torch.testing.assert_close(ranker.encode_documents(DOCS[1]), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="colbert_dim=16 does not match"):
        AutoModelForRanking.from_pretrained(folder, colbert_dim=16)


def test_colbert_linear_of_the_wrong_shape_names_file_and_shapes(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_encoder_dir, tmp_path / "bad-linear")
    _save_colbert_linear(folder, out_dim=8, in_dim=64)
    with pytest.raises(ValueError, match=r"colbert_linear\.pt: weight has shape \(8, 64\), expected \(dim, 32\)"):
        AutoModelForRanking.from_pretrained(folder)
    torch.save({"weight": torch.zeros(8, 32), "bias": torch.zeros(5)}, folder / COLBERT_LINEAR)
    with pytest.raises(ValueError, match=r"bias has shape \(5,\), expected \(8,\)"):
        ColBERT.from_pretrained(folder)
    (folder / COLBERT_LINEAR).write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not be read"):
        ColBERT.from_pretrained(folder)


def test_colbert_new_smaller_projection_warns(tiny_encoder_dir: Path) -> None:
    with pytest.warns(UserWarning, match="new random projection 32 -> 8"):
        ranker = ColBERT.from_pretrained(tiny_encoder_dir, colbert_dim=8)
    assert ranker.colbert_dim == 8
    assert ranker.encode_queries(QUERY).shape[1] == 8


def test_colbert_forward_is_differentiable(colbert: ColBERT) -> None:
    colbert.train()
    q = colbert.tokenize(["what is pooling?", "install packages"], is_query=True)
    d = colbert.tokenize(DOCS[:3])
    qv, dv = colbert(**q), colbert(**d)
    assert qv.vectors.shape[:2] == q["input_ids"].shape and (qv.mask[:, 0] == 0).all()  # [CLS] never scores
    loss = -maxsim_matrix(qv.vectors, qv.mask, dv.vectors, dv.mask).diagonal().sum()
    loss.backward()
    assert colbert.colbert_linear.weight.grad is not None and colbert.colbert_linear.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- LLM
def _yes_logit_by_hand(folder: Path, template: str, query: str, doc: str, yes: str = "Yes") -> float:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    text = template.replace("{query}", query).replace("{document}", doc)
    ids = tokenizer(text, return_tensors="pt")["input_ids"]  # the whole prompt at once
    yes_id = tokenizer(yes, add_special_tokens=False)["input_ids"]
    assert len(yes_id) == 1
    with torch.no_grad():
        return model(input_ids=ids).logits[0, -1, yes_id[0]].item()  # full forward, last position


def test_llm_score_is_the_yes_logit_of_a_full_forward(tiny_decoder_dir: Path, llm: LLMRanker) -> None:
    assert llm.prompt_template == PLAIN_PROMPT_TEMPLATE.replace("{instruction}", DEFAULT_LLM_RANKER_INSTRUCTION)
    for query, doc in PAIRS[:3]:
        expected = _yes_logit_by_hand(tiny_decoder_dir, llm.prompt_template, query, doc)
        assert llm.compute_score((query, doc)) == pytest.approx(expected, abs=1e-4)


def test_llm_long_document_scores_its_best_window(tiny_decoder_dir: Path) -> None:
    template = "Q: {query}\nD:\n{document}\nRelevant:\n"
    ranker = LLMRanker.from_pretrained(tiny_decoder_dir, prompt_template=template, max_length=40, window_overlap=5)
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_decoder_dir).eval()
    query, doc = "what is a reranker?", " ".join(DOCS[:3])
    pieces = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("Q: ", query, "\nD:\n", doc, "\nRelevant:\n")]
    head, q, middle, body, tail = pieces
    budget = 40 - len(head) - len(q) - len(middle) - len(tail)
    starts = list(range(0, len(body) - budget, budget - 5)) + [len(body) - budget]
    assert len(starts) >= 3
    yes = tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
    window_scores = []
    for s in starts:
        ids = torch.tensor([[*head, *q, *middle, *body[s : s + budget], *tail]])
        with torch.no_grad():
            window_scores.append(model(input_ids=ids).logits[0, -1, yes].item())
    assert ranker.compute_score((query, doc)) == pytest.approx(max(window_scores), abs=1e-4)


def test_llm_chat_template_is_rendered_once_and_saved(tiny_chat_decoder_dir: Path, tmp_path: Path) -> None:
    ranker = LLMRanker.from_pretrained(tiny_chat_decoder_dir)
    assert ranker.prompt_template == (
        f"<|im_start|>system\n{DEFAULT_LLM_RANKER_INSTRUCTION}<|im_end|>\n<|im_start|>user\nQuery:\n{{query}}\n\n"
        "Document:\n{document}<|im_end|>\n<|im_start|>assistant\n"
    )
    expected = _yes_logit_by_hand(tiny_chat_decoder_dir, ranker.prompt_template, *PAIRS[0])
    assert ranker.compute_score(PAIRS[0]) == pytest.approx(expected, abs=1e-4)
    plain = LLMRanker.from_pretrained(tiny_chat_decoder_dir, use_chat_template=False, instruction="Relevant?")
    assert plain.prompt_template == PLAIN_PROMPT_TEMPLATE.replace("{instruction}", "Relevant?")
    ranker.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / FRAMEWORK_CONFIG).read_text())
    assert saved["prompt_template"] == ranker.prompt_template
    with pytest.warns(UserWarning, match="ignored"):
        again = LLMRanker.from_pretrained(tmp_path / "saved", use_chat_template=False)
    assert again.prompt_template == ranker.prompt_template


def test_llm_prompt_and_yes_token_errors(tiny_decoder_dir: Path) -> None:
    with pytest.raises(ValueError, match="no chat template"):
        LLMRanker.from_pretrained(tiny_decoder_dir, use_chat_template=True)
    with pytest.raises(ValueError, match=r"'\{query\}' and '\{document\}' exactly once"):
        LLMRanker.from_pretrained(tiny_decoder_dir, prompt_template="Query: {query}")
    with pytest.raises(ValueError, match=r"'\{query\}' before '\{document\}'"):
        LLMRanker.from_pretrained(tiny_decoder_dir, prompt_template="{document} {query}")
    with pytest.raises(ValueError, match=r"yes_token='Relevant yes indeed' is \d+ tokens"):
        LLMRanker.from_pretrained(tiny_decoder_dir, yes_token="Relevant yes indeed")


def test_llm_custom_yes_token(tiny_decoder_dir: Path) -> None:
    ranker = LLMRanker.from_pretrained(tiny_decoder_dir, yes_token="No")
    expected = _yes_logit_by_hand(tiny_decoder_dir, ranker.prompt_template, *PAIRS[1], yes="No")
    assert ranker.compute_score(PAIRS[1]) == pytest.approx(expected, abs=1e-4)


def test_llm_forward_is_differentiable(llm: LLMRanker) -> None:
    llm.train()
    features = llm.tokenize_pairs(PAIRS[:3])
    logits = llm(**features)  # (3,)
    assert logits.shape == (3,)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 0.0, 0.0])).backward()
    grads = [p.grad for p in llm.model.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    llm.eval()
    with torch.no_grad():
        assert llm(**llm.tokenize_pairs(PAIRS[:3])).tolist() == pytest.approx(llm.compute_score(PAIRS[:3]), abs=1e-4)


def test_llm_lora_train_save_merged_and_adapters(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    base_scores = LLMRanker.from_pretrained(tiny_decoder_dir).compute_score(PAIRS[:3])
    ranker = AutoModelForRanking.from_pretrained(tiny_decoder_dir, causal_lm=True, use_lora=True)
    assert hasattr(ranker.model, "peft_config") and ranker.training
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in ranker.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # as if trained: adapters change the scores
    scores = ranker.compute_score(PAIRS[:3])
    assert ranker.training  # compute_score restores the training mode
    assert max(abs(a - b) for a, b in zip(scores, base_scores, strict=True)) > 1e-3
    ranker.save_pretrained(tmp_path / "merged")
    merged = AutoModelForRanking.from_pretrained(tmp_path / "merged")
    assert isinstance(merged, LLMRanker) and not hasattr(merged.model, "peft_config")
    assert merged.compute_score(PAIRS[:3]) == pytest.approx(scores, abs=1e-4)
    ranker.save_pretrained(tmp_path / "adapters", merge_lora=False)
    assert (tmp_path / "adapters" / "adapter_config.json").is_file()
    adapters = AutoModelForRanking.from_pretrained(tmp_path / "adapters")
    assert hasattr(adapters.model, "peft_config")
    assert adapters.compute_score(PAIRS[:3]) == pytest.approx(scores, abs=1e-4)
    loaded = LLMRanker.from_pretrained(tiny_decoder_dir, lora_path=tmp_path / "adapters")
    assert loaded.compute_score(PAIRS[:3]) == pytest.approx(scores, abs=1e-4)


# ---------------------------------------------------------------------------------------------- every kind
KINDS = ["cross_encoder", "colbert", "llm-left", "llm-right"]


def _ranker(kind: str, request: pytest.FixtureRequest):
    if kind.startswith("llm"):
        ranker = request.getfixturevalue("llm")
        ranker.padding_side = kind.split("-")[1]
        return ranker
    return request.getfixturevalue(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_score_does_not_depend_on_batch_or_padding(kind: str, request: pytest.FixtureRequest) -> None:
    ranker = _ranker(kind, request)
    alone = [ranker.compute_score(pair) for pair in PAIRS]
    together = ranker.compute_score(PAIRS, batch_size=len(PAIRS))
    in_pairs = ranker.compute_score(list(reversed(PAIRS)), batch_size=2)[::-1]
    assert together == pytest.approx(alone, abs=1e-4)
    assert in_pairs == pytest.approx(alone, abs=1e-4)
    assert len(set(round(s, 4) for s in alone)) > 1  # the pairs do score differently


def test_llm_left_and_right_padding_agree(llm: LLMRanker) -> None:
    llm.padding_side = "left"
    left = llm.compute_score(PAIRS, batch_size=len(PAIRS))
    llm.padding_side = "right"
    right = llm.compute_score(PAIRS, batch_size=len(PAIRS))
    assert left == pytest.approx(right, abs=1e-4)
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        llm.padding_side = "middle"


@pytest.mark.parametrize("kind", ["cross-encoder", "colbert", "llm"])
def test_save_and_load_restore_settings_and_scores(
    kind: str, tiny_cross_encoder_dir: Path, tiny_encoder_dir: Path, tiny_decoder_dir: Path, tmp_path: Path
) -> None:
    settings = {"max_length": 48, "window_overlap": 6, "query_instruction": "query: ", "document_instruction": "passage: {}"}
    if kind == "cross-encoder":
        ranker = AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, **settings)
    elif kind == "colbert":
        with pytest.warns(UserWarning, match="random projection"):
            ranker = AutoModelForRanking.from_pretrained(tiny_encoder_dir, colbert=True, colbert_dim=16, **settings)
    else:
        ranker = AutoModelForRanking.from_pretrained(
            tiny_decoder_dir, causal_lm=True, prompt_template="Q: {query}\nD:\n{document}\nOK:\n", yes_token="No",
            **settings,
        )
    pairs = [*PAIRS, (QUERY, " ".join(DOCS * 3))]  # a long document: several windows
    scores = ranker.compute_score(pairs)
    ranker.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / FRAMEWORK_CONFIG).read_text())
    assert saved["kind"] == "ranker" and saved["ranker_kind"] == kind  # the RerankerKind value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reloading needs no arguments and warns about nothing
        again = AutoModelForRanking.from_pretrained(tmp_path / "saved")
    assert type(again) is type(ranker)
    assert again.settings() == ranker.settings()
    for name, value in settings.items():
        assert getattr(again, name) == value
    if kind == "colbert":
        assert again.colbert_dim == 16 and (tmp_path / "saved" / COLBERT_LINEAR).is_file()
    if kind == "llm":
        assert again.prompt_template == "Q: {query}\nD:\n{document}\nOK:\n" and again.yes_token == "No"
    assert again.compute_score(pairs) == pytest.approx(scores, abs=1e-5)
    # An explicit "" means "no instruction" and wins over the saved one, with a warning.
    with pytest.warns(UserWarning, match="overrides"):
        plain = type(ranker).from_pretrained(tmp_path / "saved", query_instruction="")
    assert plain.query_instruction == ""


# ---------------------------------------------------------------------------------------------- loading errors
def test_unknown_model_name_is_named_in_the_error() -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-reranker-xyz"):
        AutoModelForRanking.from_pretrained("no-such-reranker-xyz")
    with pytest.raises(ModelNotFoundError, match="does-not-exist"):
        AutoModelForRanking.from_pretrained("./does-not-exist", causal_lm=True)


def test_embedder_and_ranker_folders_are_not_confused(tiny_encoder_dir: Path, tiny_cross_encoder_dir: Path, tmp_path: Path) -> None:
    AutoModelForEmbedding.from_pretrained(tiny_encoder_dir).save_pretrained(tmp_path / "embedder")
    for load in (AutoModelForRanking.from_pretrained, CrossEncoderRanker.from_pretrained, ColBERT.from_pretrained,
                 LLMRanker.from_pretrained):
        with pytest.raises(ValueError, match="holds an embedder, not a ranker; load it with AutoModelForEmbedding"):
            load(tmp_path / "embedder")
    CrossEncoderRanker.from_pretrained(tiny_cross_encoder_dir).save_pretrained(tmp_path / "ranker")
    with pytest.raises(ValueError, match="holds a ranker, not an embedder"):
        AutoModelForEmbedding.from_pretrained(tmp_path / "ranker")
    with pytest.raises(ValueError, match="holds a cross-encoder ranker, not a colbert one; load it with CrossEncoderRanker"):
        ColBERT.from_pretrained(tmp_path / "ranker")
    with pytest.raises(ValueError, match="holds a cross-encoder ranker, but causal_lm=True was passed"):
        AutoModelForRanking.from_pretrained(tmp_path / "ranker", causal_lm=True)


def test_kind_mismatches_are_clear(tiny_encoder_dir: Path, tiny_decoder_dir: Path) -> None:
    with pytest.raises(ValueError, match="causal_lm=True needs a causal .* bert encoder"):
        AutoModelForRanking.from_pretrained(tiny_encoder_dir, causal_lm=True)
    with pytest.raises(ValueError, match=r"causal language model \(llama\) without a classification head.*causal_lm=True"):
        AutoModelForRanking.from_pretrained(tiny_decoder_dir)
    with pytest.raises(ValueError, match="ColBERT needs an encoder"):
        AutoModelForRanking.from_pretrained(tiny_decoder_dir, colbert=True)
    with pytest.raises(ValueError, match="exclude each other"):
        AutoModelForRanking.from_pretrained(tiny_decoder_dir, causal_lm=True, colbert=True)


def test_options_are_checked(tiny_cross_encoder_dir: Path, tiny_decoder_dir: Path) -> None:
    with pytest.raises(ValueError, match="trust_remote_code is not supported"):
        AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, trust_remote_code=True)
    with pytest.raises(TypeError, match="colbert_dim is an option of ColBERT only"):
        AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, colbert_dim=8)
    with pytest.raises(TypeError, match="yes_token is an option of LLMRanker only"):
        CrossEncoderRanker.from_pretrained(tiny_cross_encoder_dir, yes_token="Yes")
    with pytest.raises(ValueError, match="use_lora/lora_path are supported for LLM rankers"):
        AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, use_lora=True)
    with pytest.raises(ValueError, match="window_overlap must be an integer >= 0"):
        AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, window_overlap=-1)
    with pytest.raises(ValueError, match="max_length must be an integer >= 4"):
        AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, max_length=2)
    with pytest.raises(TypeError, match="not instantiable"):
        AutoModelForRanking()


def test_fp16_on_cpu_warns_and_stays_fp32_and_refuses_lora(tiny_cross_encoder_dir: Path, tiny_encoder_dir: Path, tiny_decoder_dir: Path) -> None:
    with pytest.warns(UserWarning, match="use_fp16=True is ignored on CPU"):
        ce = AutoModelForRanking.from_pretrained(tiny_cross_encoder_dir, use_fp16=True, device="cpu")
    assert next(ce.parameters()).dtype == torch.float32
    with pytest.warns(UserWarning, match="use_fp16=True is ignored on CPU"):
        cb = AutoModelForRanking.from_pretrained(tiny_encoder_dir, colbert=True, use_fp16=True, device="cpu")
    assert cb.colbert_linear.weight.dtype == torch.float32
    with pytest.raises(ValueError, match="use_fp16=True is for inference only"):
        AutoModelForRanking.from_pretrained(tiny_decoder_dir, causal_lm=True, use_fp16=True, use_lora=True)
