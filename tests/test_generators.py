"""Generators from settings: the transformers chat model on a tiny random Llama (greedy decoding checked
against a hand-written argmax loop), token counting and context windows, and `rag-app ask` end to end on the
bundled SmolLM2 through llama.cpp and transformers."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from rag_app.cli import app
from rag_app.config import GeneratorSettings
from rag_app.generators import (
    DEFAULT_CONTEXT_WINDOW,
    MAX_TRANSFORMERS_CONTEXT,
    TransformersChatModel,
    build_generator,
    context_window,
    llama_cpp_generator,
    token_counter,
    transformers_generator,
)
from rag_app.stop_text import StopText
from retrievers import ModelNotFoundError

SAMPLES = Path(__file__).resolve().parent.parent / "rag_app" / "sample_data"

MESSAGES = [SystemMessage("Answer briefly."), HumanMessage("What is Python?")]
# MESSAGES rendered by hand with tests.tiny_models.CHAT_TEMPLATE (ChatML), generation prompt included.
PROMPT = (
    "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWhat is Python?<|im_end|>\n"
    "<|im_start|>assistant\n"
)
NEW_TOKENS = 12


def greedy_reference(folder: Path, steps: int, eos_id: int | None = None) -> tuple[int, list[int]]:
    """Prompt length and the ids picked by argmax over the full forward pass, one token at a time."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer(PROMPT, add_special_tokens=False, return_tensors="pt").input_ids  # (1, prompt)
    prompt_length, picked = ids.shape[1], []
    with torch.no_grad():
        for _ in range(steps):
            next_id = int(model(ids).logits[0, -1].argmax())  # logits: (1, length, vocab)
            picked.append(next_id)
            if next_id == eos_id:
                break
            ids = torch.cat([ids, torch.tensor([[next_id]])], dim=1)
    return prompt_length, picked


@pytest.fixture(scope="module")
def tiny_chat(tiny_chat_decoder_dir: Path) -> TransformersChatModel:
    return transformers_generator(str(tiny_chat_decoder_dir), temperature=0.0, max_new_tokens=NEW_TOKENS)


@pytest.fixture(scope="module")
def reference(tiny_chat_decoder_dir: Path) -> tuple[int, list[int]]:
    return greedy_reference(tiny_chat_decoder_dir, NEW_TOKENS)


# ------------------------------------------------------------------------------------------- transformers


def test_greedy_answer_matches_a_hand_written_argmax_loop(
    tiny_chat: TransformersChatModel, reference: tuple[int, list[int]]
) -> None:
    prompt_length, picked = reference
    expected = tiny_chat.tokenizer.decode(picked, skip_special_tokens=True)
    answer = tiny_chat.invoke(MESSAGES)
    assert answer.content == expected
    assert answer.usage_metadata["input_tokens"] == prompt_length
    assert answer.usage_metadata["output_tokens"] == NEW_TOKENS
    assert answer.response_metadata["finish_reason"] == "length"


def test_stream_yields_token_pieces_that_add_up_to_invoke(tiny_chat: TransformersChatModel) -> None:
    chunks = list(tiny_chat.stream(MESSAGES))
    pieces = [chunk.content for chunk in chunks if chunk.content]
    assert len(pieces) > 3  # token by token, not one block at the end
    assert "".join(pieces) == tiny_chat.invoke(MESSAGES).content
    total = sum(chunks[1:], chunks[0])
    assert total.usage_metadata["output_tokens"] == NEW_TOKENS
    assert total.response_metadata["finish_reason"] == "length"


def test_generation_stops_at_the_end_of_sequence_token(
    tiny_chat_decoder_dir: Path, reference: tuple[int, list[int]]
) -> None:
    _, picked = reference
    # Declare the 4th (or later, first new) greedy token the model's EOS: generation must stop right there.
    position = next(i for i in range(3, len(picked)) if picked[i] not in picked[:i])
    eos_id = picked[position]
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_decoder_dir).eval()
    model.generation_config.eos_token_id = eos_id
    llm = TransformersChatModel(
        model=model, tokenizer=AutoTokenizer.from_pretrained(tiny_chat_decoder_dir), temperature=0.0,
        max_new_tokens=NEW_TOKENS,
    )
    expected = llm.tokenizer.decode(picked[:position], skip_special_tokens=True)  # EOS itself is not shown
    answer = llm.invoke(MESSAGES)
    assert answer.content == expected
    assert answer.usage_metadata["output_tokens"] == position + 1
    assert answer.response_metadata["finish_reason"] == "stop"
    assert "".join(chunk.content for chunk in llm.stream(MESSAGES)) == expected


def test_stop_strings_cut_invoke_and_stream_alike(tiny_chat: TransformersChatModel) -> None:
    full = tiny_chat.invoke(MESSAGES).content
    start = next(i for i in range(2, len(full) - 1) if full.find(full[i : i + 2]) == i)
    stop = full[start : start + 2]
    assert tiny_chat.invoke(MESSAGES, stop=[stop]).content == full[:start]
    assert "".join(chunk.content for chunk in tiny_chat.stream(MESSAGES, stop=[stop])) == full[:start]


@pytest.mark.parametrize(
    ("pieces", "stops", "emitted", "stopped", "text"),
    [
        (["Hel", "lo wor", "ld"], ["lo w"], ["He", "l"], True, "Hel"),  # "l" may start "lo w": held back
        (["ab", "c<", "|e", "nd"], ["<|end|>"], ["ab", "c", "", ""], False, "abc<|end"),  # released at the end
        (["x", "y"], [], ["x", "y"], False, "xy"),
    ],
)
def test_stop_text_never_emits_part_of_a_stop_string(
    pieces: list[str], stops: list[str], emitted: list[str], stopped: bool, text: str
) -> None:
    cut = StopText(stops)
    out = []
    for piece in pieces:
        out.append(cut.feed(piece))
        if cut.stopped:
            break
    assert out == emitted
    assert cut.stopped is stopped
    assert "".join(out) + cut.flush() == text


def test_sampling_follows_the_seed_and_differs_from_greedy(tiny_chat: TransformersChatModel) -> None:
    hot = tiny_chat.model_copy(update={"temperature": 1.5})
    samples = []
    for seed in (0, 0, 1, 2, 3):
        torch.manual_seed(seed)
        samples.append(hot.invoke(MESSAGES).content)
    assert samples[0] == samples[1]
    assert len(set(samples)) > 1
    assert any(sample != tiny_chat.invoke(MESSAGES).content for sample in samples)


def test_closing_a_stream_early_stops_the_generation_thread(tiny_chat: TransformersChatModel) -> None:
    long = tiny_chat.model_copy(update={"max_new_tokens": 150})
    stream = long.stream(MESSAGES)
    first = next(chunk for chunk in stream if chunk.content)
    stream.close()
    assert first.content
    assert not [t for t in threading.enumerate() if t.name == "transformers-generate"]


def test_a_failure_while_generating_reaches_the_reader(
    tiny_chat: TransformersChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_generate(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(tiny_chat.model, "generate", broken_generate)
    with pytest.raises(RuntimeError, match="simulated"):
        list(tiny_chat.stream(MESSAGES))


def test_build_generator_makes_the_transformers_backend(tiny_chat_decoder_dir: Path) -> None:
    llm = build_generator(GeneratorSettings(backend="transformers", model=str(tiny_chat_decoder_dir),
                                            temperature=0.0, max_new_tokens=5))
    assert isinstance(llm, TransformersChatModel)
    assert (llm.temperature, llm.max_new_tokens) == (0.0, 5)
    assert llm.invoke(MESSAGES).usage_metadata["output_tokens"] == 5


def test_transformers_needs_a_chat_template(tiny_decoder_dir: Path) -> None:
    llm = transformers_generator(str(tiny_decoder_dir), max_new_tokens=2)
    with pytest.raises(ValueError, match="has no chat template; the transformers backend needs an instruct"):
        llm.invoke(MESSAGES)


def test_transformers_refuses_an_encoder(tiny_encoder_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"is a 'bert' model, not a causal language model"):
        transformers_generator(str(tiny_encoder_dir))


def test_an_unknown_model_path_gets_the_resolver_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        build_generator(GeneratorSettings(backend="transformers", model=str(missing)))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        build_generator(GeneratorSettings(backend="llama-cpp", model=str(missing / "model.gguf")))


def test_tool_messages_are_refused_clearly(tiny_chat: TransformersChatModel) -> None:
    with pytest.raises(ValueError, match="got a 'tool' message"):
        tiny_chat.invoke([HumanMessage("hi"), ToolMessage("42", tool_call_id="1")])


def test_transformers_token_counter_and_window(
    tiny_chat: TransformersChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = token_counter(tiny_chat)
    assert count is not None
    text = "Python is a programming language. It has modules, classes and exceptions."
    assert count(text) == len(tiny_chat.tokenizer(text, add_special_tokens=False).input_ids)
    assert count("") == 0
    assert context_window(tiny_chat) == 256  # the tiny Llama's max_position_embeddings
    monkeypatch.setattr(tiny_chat.model.config, "max_position_embeddings", 131072)
    assert context_window(tiny_chat) == MAX_TRANSFORMERS_CONTEXT


# ---------------------------------------------------------------------------------------------- llama.cpp


def test_llama_cpp_needs_a_gguf_model(tiny_encoder_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"is not a GGUF file; the llama-cpp backend runs \.gguf models"):
        llama_cpp_generator(str(tiny_encoder_dir))


# ------------------------------------------------------------------------------------ bundled SmolLM2 (slow)

QUESTION = [HumanMessage("What is the capital of France? Answer in one sentence.")]


@pytest.fixture(scope="module")
def smollm2_transformers() -> TransformersChatModel:
    return transformers_generator("smollm2", temperature=0.0, max_new_tokens=48)


@pytest.mark.integration
def test_smollm2_through_transformers_streams_the_invoke_answer(smollm2_transformers: TransformersChatModel) -> None:
    answer = smollm2_transformers.invoke(QUESTION)
    assert "Paris" in answer.content
    assert answer.response_metadata["finish_reason"] == "stop"
    pieces = [chunk.content for chunk in smollm2_transformers.stream(QUESTION) if chunk.content]
    assert len(pieces) >= 5
    assert "".join(pieces) == answer.content


@pytest.mark.integration
def test_both_local_backends_count_smollm2_tokens_alike(smollm2_transformers: TransformersChatModel) -> None:
    llama = llama_cpp_generator("smollm2", max_new_tokens=8)
    text = ("Retrieval augmented generation answers questions from retrieved documents, citing [1] and [2]. "
            "Ünïcödé, numbers 12345 and code `pip install rag-app` count too.")
    by_llama, by_transformers = token_counter(llama), token_counter(smollm2_transformers)
    assert by_llama is not None and by_transformers is not None
    assert by_llama(text) == by_transformers(text) > 30
    assert context_window(llama) == DEFAULT_CONTEXT_WINDOW
    assert context_window(smollm2_transformers) == 8192  # SmolLM2's max_position_embeddings


@pytest.mark.integration
def test_ask_answers_from_the_documents_with_sources(tmp_path: Path) -> None:
    runner = CliRunner()
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    db = str(tmp_path / "db")
    assert runner.invoke(app, ["ingest", str(docs), "--db", db, "--json"]).exit_code == 0
    result = runner.invoke(app, ["ask", "Which batteries does the outdoor sensor need?", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["answer"].strip()
    assert [s["id"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    assert any("AA lithium" in s["text"] for s in data["sources"])
    assert set(data["sources"][0]) == {"id", "source", "page", "score", "text"}

    streamed = runner.invoke(app, ["ask", "Which batteries does the outdoor sensor need?", "--db", db],
                             env={"COLUMNS": "200"})
    assert streamed.exit_code == 0, streamed.output
    assert "Sources" in streamed.output and "nimbus-manual.md" in streamed.output


@pytest.mark.integration
def test_the_demo_chain_script_runs_as_documented() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "examples" / "rag_langchain_demo.py"
    out = subprocess.run(
        [sys.executable, str(script), str(SAMPLES), "Which batteries does the outdoor sensor need?"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "ingested 4 files into" in out
    answer = out.split("A: ", 1)[1].split("\n\nSources:", 1)[0]
    assert answer.strip()
    sources = out.split("Sources:", 1)[1]
    assert "[1] nimbus-manual.md" in sources and "AA lithium" in sources
