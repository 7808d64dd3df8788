"""Trainers on tiny models: every kind lowers its loss on a small separable dataset, the output folder reloads
with the same scores, settings travel with the model, gradients are non-zero and finite (bf16 included),
and bad settings fail before training with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from finetune.collators import ColbertCollator, EmbedderCollator, PairScoringCollator
from finetune.config import EmbedderTrainingConfig
from finetune.data import DataError, load_examples
from finetune.objectives import ColbertObjective, EmbedderObjective, PairScoringObjective
from finetune.training import GradientGuard, check_float32, train_embedder, train_reranker
from retrievers import (
    AutoModelForEmbedding,
    AutoModelForRanking,
    ColBERT,
    CrossEncoderRanker,
    LLMRanker,
    resolve_model,
)

WORDS = ["cat", "dog", "python", "pooling", "garden", "reranker", "pip", "modules"]
PAIRS = [{"query": f"what about the {w}?", "positive": f"the {w} is described here."} for w in WORDS]
TRIPLETS = [
    {**p, "negative": [f"the {v} is described here." for v in WORDS if v != w][i % 3 :: 3]}
    for i, (p, w) in enumerate(zip(PAIRS, WORDS, strict=True))
]
SCORED = [
    {"query": f"what about the {w}?", "document": f"the {v} is described here.", "label": 1.0 if v == w else 0.0}
    for i, w in enumerate(WORDS) for v in (w, WORDS[(i + 3) % len(WORDS)])
]
# Rerankers on "marker" data: relevant documents say "described", irrelevant ones "sat on the mat", a
# difference that tiny random models learn in a few steps (matching words across query and document is slower).
MARKED_TRIPLETS = [
    {"query": f"what about the {w}?", "positive": f"the {w} is described here.",
     "negative": [f"the {v} sat on the mat." for v in WORDS if v != w][i % 3 :: 3]}
    for i, w in enumerate(WORDS)
]
MARKED_SCORED = [
    {"query": f"what about the {w}?", "document": d, "label": label}
    for i, w in enumerate(WORDS)
    for d, label in ((f"the {w} is described here.", 1.0), (f"the {WORDS[(i + 3) % 8]} sat on the mat.", 0.0))
]
FAST = {"batch_size": 4, "logging_steps": 1, "show_progress": False, "seed": 0}
QUERIES = ["what about the cat?", "what about the pip?"]
DOCS = ["the cat is described here.", "the pip is described here.", "the dog is described here."]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # tiny models: threads only add contention on a shared machine


def _dataset_loss(objective: torch.nn.Module, collator: object, records: list[dict]) -> float:
    """The training loss over the whole dataset in one batch, without dropout (same sampling seed each time)."""
    objective.eval()
    with torch.no_grad():
        return float(objective(**collator(load_examples(records).examples))["loss"])


def _embedder_loss(model: AutoModelForEmbedding, records: list[dict]) -> float:
    kind = load_examples(records).kind
    objective = EmbedderObjective(model, kind, temperature=0.05, gather_across_devices=False)
    return _dataset_loss(objective, EmbedderCollator(model, kind, group_size=3, seed=0), records)


def _ranker_loss(ranker: torch.nn.Module, kind: str, records: list[dict]) -> float:
    data_kind = load_examples(records).kind
    if kind == "colbert":
        objective: torch.nn.Module = ColbertObjective(ranker, data_kind, temperature=0.05, gather_across_devices=False)
        return _dataset_loss(objective, ColbertCollator(ranker, data_kind, group_size=3, seed=0), records)
    pool = [p["positive"] for p in PAIRS]
    collator = PairScoringCollator(ranker, data_kind, group_size=3, seed=0, negative_pool=pool)
    return _dataset_loss(PairScoringObjective(ranker, data_kind, group_size=3), collator, records)


def _grad_norms(history: list[dict]) -> list[float]:
    return [e["grad_norm"] for e in history if "grad_norm" in e]


def _assert_real_gradients(result: object) -> None:
    """A gradient norm per step, finite, and non-zero wherever the loss is (CoSENT is exactly 0, with no
    gradient, on a batch whose labels are all equal)."""
    logged = [(e["loss"], e["grad_norm"]) for e in result.history if "grad_norm" in e]  # type: ignore[attr-defined]
    assert len(logged) == result.global_step and all(np.isfinite(n) for _, n in logged)  # type: ignore[attr-defined]
    assert all(n > 0 for loss, n in logged if loss > 0) and any(n > 0 for _, n in logged)


def _assert_outputs(out: Path, task: str, data_kind: str) -> dict:
    record = json.loads((out / "training_config.json").read_text())
    assert record["task"].startswith(task) and record["data"]["kind"] == data_kind
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert resolve_model(out).path == out.resolve()  # usable as a model name in rag-app.toml
    return record


# ---------------------------------------------------------------------------------------------- embedders
@pytest.mark.parametrize(("records", "factor"), [(PAIRS, 0.5), (TRIPLETS, 0.5), (SCORED, 0.9)], ids=["pairs", "triplets", "scored"])
def test_encoder_embedder_learns_and_reloads_with_the_same_vectors(
    records: list[dict], factor: float, tiny_bow_encoder_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "embedder"
    base = AutoModelForEmbedding.from_pretrained(tiny_bow_encoder_dir, pooling_method="mean", device="cpu")
    before = _embedder_loss(base, records)
    result = train_embedder(str(tiny_bow_encoder_dir), records, out, epochs=20, lr=1e-2, group_size=3,
                            pooling_method="mean", save_checkpoints=False, **FAST)
    after = _embedder_loss(result.model, records)
    assert after < factor * before, (before, after)

    _assert_real_gradients(result)
    record = _assert_outputs(out, "embedder", load_examples(records).kind)
    assert record["config"]["epochs"] == 20 and record["config"]["lr"] == 1e-2 and record["world_size"] == 1
    assert result.train_loss == pytest.approx(record["train_loss"]) and result.loss_plot == out / "loss_curve.png"

    reloaded = AutoModelForEmbedding.from_pretrained(out)
    assert reloaded.pooling_method == "mean"  # the pooling it was trained with, saved with it
    np.testing.assert_allclose(reloaded.encode_queries(QUERIES), result.model.encode_queries(QUERIES), atol=1e-5)
    np.testing.assert_allclose(reloaded.encode_documents(DOCS), result.model.encode_documents(DOCS), atol=1e-5)


def test_decoder_embedder_trains_lora_and_saves_its_pooling_and_instruction(tiny_decoder_dir: Path, tmp_path: Path) -> None:
    before = _embedder_loss(AutoModelForEmbedding.from_pretrained(tiny_decoder_dir, query_instruction="Q: {}", device="cpu"), PAIRS)
    merged, adapters = tmp_path / "merged", tmp_path / "adapters"
    result = train_embedder(str(tiny_decoder_dir), PAIRS, merged, epochs=6, lr=5e-3, query_instruction="Q: {}", **FAST)
    assert hasattr(result.model.model, "peft_config")  # decoders get LoRA by default
    assert json.loads((merged / "training_config.json").read_text())["lora"] is True
    after = _embedder_loss(result.model, PAIRS)
    assert after < 0.7 * before, (before, after)

    reloaded = AutoModelForEmbedding.from_pretrained(merged)
    assert (reloaded.pooling_method, reloaded.query_instruction, reloaded.model_kind) == ("last", "Q: {}", "decoder")
    assert not (merged / "adapter_config.json").exists()
    np.testing.assert_allclose(reloaded.encode_queries(QUERIES), result.model.encode_queries(QUERIES), atol=1e-5)

    kept = train_embedder(str(tiny_decoder_dir), PAIRS, adapters, epochs=1, lr=5e-3, query_instruction="Q: {}",
                          merge_lora=False, **FAST)
    assert (adapters / "adapter_config.json").is_file()
    from_adapters = AutoModelForEmbedding.from_pretrained(adapters)
    assert from_adapters.query_instruction == "Q: {}"
    np.testing.assert_allclose(from_adapters.encode_queries(QUERIES), kept.model.encode_queries(QUERIES), atol=1e-5)


def test_bf16_mixed_precision_keeps_float32_weights_and_real_gradients(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    seen: set[torch.dtype] = set()

    def record_linear_outputs(module: torch.nn.Module, args: object, output: object) -> None:
        if isinstance(module, torch.nn.Linear) and isinstance(output, torch.Tensor) and torch.is_grad_enabled():
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record_linear_outputs)
    try:
        result = train_embedder(str(tiny_encoder_dir), PAIRS, tmp_path / "bf16", epochs=2, lr=1e-3, bf16=True,
                                save_checkpoints=False, **FAST)
    finally:
        handle.remove()
    assert torch.bfloat16 in seen  # the matmuls ran under bf16 autocast ...
    norms = _grad_norms(result.history)
    assert len(norms) >= 4 and all(0 < n < float("inf") for n in norms)
    assert {p.dtype for p in result.model.parameters()} == {torch.float32}  # ... on float32 weights
    losses = [e["loss"] for e in result.history if "loss" in e]
    assert all(np.isfinite(losses))


def test_fp16_on_cpu_is_refused_with_the_alternative(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fp16=True needs a CUDA GPU.*Use bf16=True on CPU"):
        train_embedder(str(tiny_encoder_dir), PAIRS, tmp_path / "fp16", fp16=True, device="cpu", **FAST)


def test_half_precision_weights_are_refused_before_training() -> None:
    with pytest.raises(ValueError, match=r"torch.float16 weights; training needs float32 weights"):
        check_float32(torch.nn.Linear(2, 2).half(), "Before training")


def test_gradient_guard_stops_a_run_whose_gradients_are_zero() -> None:
    class State:
        global_step = 3

    guard = GradientGuard()
    guard.on_log(None, State(), None, logs={"loss": 0.0, "grad_norm": 0.0})  # nothing to learn: fine
    guard.on_log(None, State(), None, logs={"loss": 1.2, "grad_norm": 0.4})
    with pytest.raises(RuntimeError, match="Gradient norm is 0 at step 3 while the loss is 1.2"):
        guard.on_log(None, State(), None, logs={"loss": 1.2, "grad_norm": 0.0})
    for _ in range(4):
        guard.on_log(None, State(), None, logs={"loss": 1.0, "grad_norm": float("inf")})
    with pytest.raises(RuntimeError, match="non-finite|five logged steps"):
        guard.on_log(None, State(), None, logs={"loss": 1.0, "grad_norm": float("nan")})


def test_bad_data_fails_before_the_model_is_loaded(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"<records>\[1\]: field 'positive': empty list"):
        train_embedder("no/such-model", [PAIRS[0], {"query": "q", "positive": []}], tmp_path / "out")


def test_settings_are_checked_by_name_and_value(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Unknown training setting.*epoch.*valid:.*epochs"):
        train_embedder(str(tiny_encoder_dir), PAIRS, tmp_path / "out", epoch=2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        EmbedderTrainingConfig(batch_size=0)
    with pytest.raises(ValueError, match="group_size must be an integer >= 2"):
        EmbedderTrainingConfig(group_size=1)
    with pytest.raises(ValueError, match="output_dir .* is the model being trained"):
        train_embedder(str(tiny_encoder_dir), PAIRS, tiny_encoder_dir)


def test_training_resumes_from_the_last_checkpoint(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumable"
    first = train_embedder(str(tiny_encoder_dir), PAIRS, out, epochs=1, lr=1e-3, **FAST)
    assert first.global_step == 2 and (out / "checkpoints" / "checkpoint-2").is_dir()
    second = train_embedder(str(tiny_encoder_dir), PAIRS, out, epochs=2, lr=1e-3, resume_from_checkpoint=True, **FAST)
    assert second.global_step == 4
    steps = [e["step"] for e in second.history if "loss" in e]
    assert steps[-2:] == [3, 4] and steps[0] == 1  # the history carries on from the checkpoint's


# ---------------------------------------------------------------------------------------------- rerankers
@pytest.mark.parametrize(
    ("kind", "records", "factor"),
    [("cross-encoder", MARKED_SCORED, 0.5), ("cross-encoder", MARKED_TRIPLETS, 0.5), ("colbert", MARKED_SCORED, 0.5),
     ("colbert", MARKED_TRIPLETS, 0.85), ("llm", TRIPLETS, 0.8), ("llm", SCORED, 0.8)],
    ids=["ce-scored", "ce-triplets", "colbert-scored", "colbert-triplets", "llm-triplets", "llm-scored"],
)
def test_reranker_learns_and_reloads_with_the_same_scores(
    kind: str, records: list[dict], factor: float, tiny_cross_encoder_dir: Path, tiny_bow_encoder_dir: Path,
    tiny_chat_decoder_dir: Path, tmp_path: Path,
) -> None:
    folder = {"cross-encoder": tiny_cross_encoder_dir, "colbert": tiny_bow_encoder_dir, "llm": tiny_chat_decoder_dir}[kind]
    loader = {"cross-encoder": CrossEncoderRanker, "colbert": ColBERT, "llm": LLMRanker}[kind]
    before = _ranker_loss(loader.from_pretrained(folder, device="cpu"), kind, records)
    out = tmp_path / "ranker"
    lr, epochs = {"cross-encoder": (2e-3, 6), "colbert": (3e-3, 20), "llm": (1e-2, 6)}[kind]
    result = train_reranker(str(folder), records, out, kind=kind, epochs=epochs, lr=lr, group_size=3,
                            save_checkpoints=False, **FAST)
    after = _ranker_loss(result.model, kind, records)
    assert after < factor * before, (before, after)
    _assert_real_gradients(result)
    _assert_outputs(out, "reranker", load_examples(records).kind)

    reloaded = AutoModelForRanking.from_pretrained(out)
    assert type(reloaded) is loader
    pairs = [(q, d) for q in QUERIES for d in DOCS]
    np.testing.assert_allclose(reloaded.compute_score(pairs), result.model.compute_score(pairs), atol=1e-4)


def test_cross_encoder_trains_on_pairs_with_random_negatives(tiny_cross_encoder_dir: Path, tmp_path: Path) -> None:
    result = train_reranker(str(tiny_cross_encoder_dir), PAIRS, tmp_path / "ce", epochs=1, group_size=3, **FAST)
    assert all(0 < n < float("inf") for n in _grad_norms(result.history))
    pairs = [(q, d) for q in QUERIES for d in DOCS]
    np.testing.assert_allclose(AutoModelForRanking.from_pretrained(tmp_path / "ce").compute_score(pairs),
                               result.model.compute_score(pairs), atol=1e-4)


class _Recorder:
    """Stands in for a model's tokenizer methods, to see which texts a collator puts in a batch."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, bool | None]] = []

    def tokenize_pairs(self, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
        self.calls.append((list(pairs), None))
        return {"input_ids": torch.zeros(len(pairs), 2, dtype=torch.long)}

    def tokenize(self, texts: list[str], is_query: bool = False) -> dict[str, torch.Tensor]:
        self.calls.append((list(texts), is_query))
        return {"input_ids": torch.zeros(len(texts), 2, dtype=torch.long)}


def test_pair_scoring_collator_groups_each_positive_with_other_examples_positives() -> None:
    recorder = _Recorder()
    pool = [p["positive"] for p in PAIRS]
    batch = PairScoringCollator(recorder, "pairs", group_size=3, seed=0, negative_pool=pool)(load_examples(PAIRS[:2]).examples)
    (pairs, _), = recorder.calls
    assert batch["input_ids"].shape[0] == 6 and "labels" not in batch
    for group, record in zip((pairs[:3], pairs[3:]), PAIRS[:2], strict=True):
        assert {q for q, _ in group} == {record["query"]}
        assert group[0][1] == record["positive"]  # positive first
        assert all(d in pool and d != record["positive"] for _, d in group[1:])


def test_embedder_collator_lays_out_triplet_groups_with_text_keys() -> None:
    recorder = _Recorder()
    examples = load_examples(TRIPLETS[:2]).examples
    batch = EmbedderCollator(recorder, "triplets", group_size=3, seed=0)(examples)
    (queries, q_flag), (docs, d_flag) = recorder.calls
    assert (q_flag, d_flag) == (True, False) and queries == [e.query for e in examples]
    assert len(docs) == 6 and docs[0] == examples[0].positives[0] and docs[3] == examples[1].positives[0]
    assert set(docs[1:3]) <= set(examples[0].negatives) and set(docs[4:6]) <= set(examples[1].negatives)
    keys = batch["doc_keys"].tolist()
    assert all((keys[i] == keys[j]) == (docs[i] == docs[j]) for i in range(6) for j in range(6))
    assert set(batch) == {"query_input_ids", "doc_input_ids", "doc_keys"}


def test_llm_ranker_keeps_its_prompt_and_trains_lora(tiny_chat_decoder_dir: Path, tmp_path: Path) -> None:
    result = train_reranker(str(tiny_chat_decoder_dir), TRIPLETS, tmp_path / "llm", kind="llm", epochs=1,
                            instruction="Is the document about the query?", group_size=2, **FAST)
    assert hasattr(result.model.model, "peft_config")
    reloaded = AutoModelForRanking.from_pretrained(tmp_path / "llm")
    assert "Is the document about the query?" in reloaded.prompt_template
    assert reloaded.prompt_template == result.model.prompt_template
    assert json.loads((tmp_path / "llm" / "training_config.json").read_text())["learning_rate"] == 1e-3


def test_colbert_new_projection_is_saved_and_reused(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    first = train_reranker(str(tiny_encoder_dir), PAIRS, tmp_path / "c1", kind="colbert", colbert_dim=16, epochs=1, **FAST)
    state = torch.load(tmp_path / "c1" / "colbert_linear.pt", weights_only=True)
    assert state["weight"].shape == (16, 32)
    torch.testing.assert_close(state["weight"], first.model.colbert_linear.weight.detach())
    # A checkpoint that has colbert_linear.pt trains on from it (bge-m3's case).
    second = train_reranker(str(tmp_path / "c1"), PAIRS, tmp_path / "c2", kind="colbert", epochs=1, **FAST)
    assert second.model.colbert_dim == 16
    assert json.loads((tmp_path / "c2" / "training_config.json").read_text())["learning_rate"] == 1e-5


def test_unknown_ranker_kind_is_refused(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind must be one of cross-encoder, colbert, llm"):
        train_reranker(str(tiny_encoder_dir), PAIRS, tmp_path / "x", kind="bi-encoder")  # type: ignore[arg-type]


@pytest.mark.parametrize(("fixture", "lora", "expected"), [("tiny_encoder_dir", False, 1e-4), ("tiny_decoder_dir", True, 2e-3)])
def test_embedder_default_learning_rate_depends_on_lora(
    fixture: str, lora: bool, expected: float, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """LoRA adapters get the larger default step (full fine-tuning at 2e-3 would wreck an encoder)."""
    assert EmbedderTrainingConfig().lr is None
    result = train_embedder(str(request.getfixturevalue(fixture)), PAIRS, tmp_path / "out", max_steps=1, **FAST)
    record = json.loads((tmp_path / "out" / "training_config.json").read_text())
    assert record["lora"] is lora and record["learning_rate"] == expected
    assert result.history[0]["learning_rate"] <= expected
