"""build_pipeline: the index reader, the passage retriever, the generator and the chain built once from settings,
with a passage budget taken from the generator's own context window and tokenizer; the index states and refresh.
Tiny random embedder, fake chat models.

The helpers here (a small ingested collection, a chat model with a llama.cpp-like client) are shared with
the CLI tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from ingest.chroma_store import IndexNotFoundError
from rag_app.budget import MIN_PASSAGE_TOKENS, QUESTION_TOKENS, plan_budget
from rag_app.chain import CONDENSE_PROMPT, NO_ANSWER, SYSTEM_PROMPT, TRUNCATION_MARKER, estimate_tokens
from rag_app.config import Settings, load_settings
from rag_app.pipeline import build_pipeline
from tests.test_chain import ANSWER, Recorder, fake_llm, passages_block

# Written for these tests. Short single-paragraph files, so each is one chunk.
DOCS = {
    "kettle.txt": "The kettle boils one litre of water in three minutes. Descale it every month with vinegar.",
    "toaster.txt": "The toaster has six browning levels. Empty the crumb tray every week.",
    "fridge.txt": "The fridge keeps food at four degrees. Defrost the freezer twice a year.",
}


def make_collection(tmp_path: Path, encoder_dir: Path, docs: dict[str, str] = DOCS, *, min_score: float | None = None,
                    extra: str = "", answer_mode: str = "generate") -> Path:
    """Ingest ``docs`` with the tiny encoder into ``tmp_path/db``; return a rag-app.toml that points at it
    (hybrid retrieval and no reranker, so the scores are the fused BM25 + dense reciprocal-rank scores;
    ``answer_mode`` generate, so a fake model's reply is the answer, unless asked otherwise)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in docs.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    config = tmp_path / "rag-app.toml"
    retrieval = f'embedder = "{encoder_dir}"\nmode = "hybrid"\nreranker = ""\nk = 10\ntop_n = 4\n'
    if min_score is not None:
        retrieval += f"min_score = {min_score}\n"
    config.write_text(f'[index]\ndb = "{tmp_path / "db"}"\ncollection = "appliances"\n[retrieval]\n{retrieval}'
                      f'[ingest]\nchunk_size = 120\nchunk_overlap = 10\n'
                      f'[generator]\nanswer_mode = "{answer_mode}"\n{extra.replace("[generator]", "")}', encoding="utf-8")
    with build_pipeline(load_settings(config), generator=False) as pipeline:
        report = pipeline.ingest([folder])
    assert report.ok and report.files_ingested == len(docs)
    return config


class FakeLlamaClient:
    """What rag_app.generators reads from a llama_cpp.Llama: its window and its tokenizer (one token per
    whitespace-separated word here); records being closed."""

    def __init__(self, n_ctx: int) -> None:
        self._n_ctx = n_ctx
        self.closed = False

    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: bytes, add_bos: bool = False) -> list[int]:
        return list(range(len(text.split())))

    def close(self) -> None:
        self.closed = True


class LlamaLikeChatModel(GenericFakeChatModel):
    """A fake chat model that carries a llama.cpp-like ``client``, as ChatLlamaCpp does."""

    client: Any = None


def split_passages(block: str) -> list[str]:
    """The passages of a ``<passages>`` block (a passage may hold blank lines itself)."""
    return re.split(r"\n\n(?=\[\d+\] \()", block)


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture()
def settings(tmp_path: Path, tiny_bow_encoder_dir: Path) -> Settings:
    return load_settings(make_collection(tmp_path, tiny_bow_encoder_dir))


# --- the budget --------------------------------------------------------------------------------------------


def test_plan_budget_shares_the_window():
    budget = plan_budget(4096, 384, words)
    assert budget.passage_tokens == 4096 - 384 - len(SYSTEM_PROMPT.split()) - QUESTION_TOKENS
    assert budget.history_tokens == 4096 - 384 - len(CONDENSE_PROMPT.split()) - QUESTION_TOKENS
    assert (budget.context_window, budget.answer_tokens, budget.question_tokens) == (4096, 384, QUESTION_TOKENS)


def test_plan_budget_refuses_a_window_too_small_for_the_settings():
    smallest = 384 + len(SYSTEM_PROMPT.split()) + QUESTION_TOKENS + MIN_PASSAGE_TOKENS
    assert plan_budget(smallest, 384, words).passage_tokens == MIN_PASSAGE_TOKENS
    message = (rf"context window \({smallest - 1} tokens\) leaves {MIN_PASSAGE_TOKENS - 1} tokens for the passages "
               r"after generator.max_new_tokens \(384\).*Lower generator.max_new_tokens")
    with pytest.raises(ValueError, match=message):
        plan_budget(smallest - 1, 384, words)


# --- build_pipeline ---------------------------------------------------------------------------------------------


def test_build_app_uses_the_generator_window_and_tokenizer(settings: Settings):
    client = FakeLlamaClient(n_ctx=1200)
    llm = LlamaLikeChatModel(messages=iter([AIMessage(ANSWER)]), client=client)
    with build_pipeline(settings, llm=llm, require_documents=True) as app:
        assert app.llm is llm and app.reranker is None
        assert app.budget.passage_tokens == 1200 - settings.generator.max_new_tokens - words(SYSTEM_PROMPT) - 256
        assert app.count_tokens("three little words") == 3  # the client's tokenizer, not the estimate
        out = app.chain().invoke({"question": "How often do I descale the kettle?"})
    assert not client.closed  # the caller's model stays the caller's
    assert out["answer"] == ANSWER
    assert {s["source"] for s in out["sources"]} == set(DOCS)  # top_n 4 >= 3 chunks, no threshold
    assert [s["id"] for s in out["sources"]] == [1, 2, 3]


def test_build_app_budget_limits_the_passages(tmp_path: Path, tiny_bow_encoder_dir: Path):
    # Each file: 7 sentences of 6 words (one chunk, every word in the tiny vocabulary); formatted with its
    # "[n] (docN.txt)" label, 44 words. The window leaves exactly MIN_PASSAGE_TOKENS (128) words for the
    # passages: two whole ones (88), then 6 sentences of the third and the marker (2 + 36 + 1), nothing more.
    text = "the cat sat on the mat. " * 7
    config = make_collection(tmp_path, tiny_bow_encoder_dir, {f"doc{i}.txt": text for i in range(4)},
                             extra="[generator]\nmax_new_tokens = 100\n")
    window = 100 + words(SYSTEM_PROMPT) + QUESTION_TOKENS + MIN_PASSAGE_TOKENS
    recorder = Recorder()
    llm = LlamaLikeChatModel(messages=iter([AIMessage(ANSWER)]), client=FakeLlamaClient(window), callbacks=[recorder])
    with build_pipeline(load_settings(config), llm=llm) as app:
        assert app.budget.passage_tokens == MIN_PASSAGE_TOKENS
        out = app.chain().invoke({"question": "cat?"})
    assert words(passages_block(recorder.calls[0])) == 127
    assert [words(s["text"]) for s in out["sources"]] == [42, 42, 37]
    assert out["sources"][2]["text"].endswith("mat." + TRUNCATION_MARKER)


def test_build_app_builds_the_configured_generator(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    seen = []
    llm, _ = fake_llm(ANSWER)

    def build_generator(generator_settings: Any) -> GenericFakeChatModel:
        seen.append(generator_settings)
        return llm

    monkeypatch.setattr("rag_app.generators.build_generator", build_generator)
    with build_pipeline(settings) as app:
        assert app.llm is llm
        # A fake model has no local tokenizer or window: the chain's estimate and the default 4096.
        assert app.count_tokens is estimate_tokens
        assert app.budget.passage_tokens == 4096 - 384 - estimate_tokens(SYSTEM_PROMPT) - QUESTION_TOKENS
    assert seen == [settings.generator]


def test_close_frees_the_generator_it_built(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    client = FakeLlamaClient(n_ctx=4096)
    built = LlamaLikeChatModel(messages=iter([]), client=client)
    monkeypatch.setattr("rag_app.generators.build_generator", lambda generator_settings: built)
    with build_pipeline(settings) as app:
        assert app.owns_llm and not client.closed
    assert client.closed


def test_require_documents_says_to_ingest_before_loading_a_model(tmp_path: Path, settings: Settings,
                                                                 monkeypatch: pytest.MonkeyPatch):
    def no_model(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was loaded before the index was checked")

    monkeypatch.setattr("retrievers.AutoModelForEmbedding.from_pretrained", no_model)
    missing = load_settings(index={"db": tmp_path / "nowhere", "collection": "appliances"})
    with pytest.raises(IndexNotFoundError, match=rf"no index at {tmp_path / 'nowhere'}: run `rag-app ingest PATH "
                                                  rf"--db {tmp_path / 'nowhere'} --collection appliances` first"):
        build_pipeline(missing, require_documents=True)
    assert not (tmp_path / "nowhere").exists()  # reading creates no index
    other = settings.model_copy(update={"index": settings.index.model_copy(update={"collection": "other"})})
    with pytest.raises(IndexNotFoundError, match=r"no collection 'other' in Chroma db .*--collection other` first"):
        build_pipeline(other, require_documents=True)


def test_an_empty_collection_is_a_state_not_a_crash(tmp_path: Path, tiny_bow_encoder_dir: Path):
    settings = load_settings(index={"db": tmp_path / "db", "collection": "empty"},
                             retrieval={"embedder": str(tiny_bow_encoder_dir), "reranker": ""},
                             ingest={"chunk_size": 120, "chunk_overlap": 10})
    llm, recorder = fake_llm(ANSWER)
    with build_pipeline(settings, llm=llm) as pipeline:
        assert pipeline.state == "missing" and pipeline.chain() is None and pipeline.retrieve("kettle?") == []
        out = pipeline.ask("How often do I descale the kettle?")
        assert out["answer"] == NO_ANSWER and out["sources"] == [] and recorder.calls == []
        assert not (tmp_path / "db").exists()
    with build_pipeline(settings, llm=llm, generator=False) as writer:
        writer.ingestor().store.close()  # the writer creates the collection, with nothing in it
    with build_pipeline(settings, llm=llm) as pipeline:
        assert pipeline.state == "empty" and pipeline.chunk_count == 0
    with pytest.raises(LookupError, match=r"The collection 'empty' in Chroma db .* is empty: run `rag-app ingest PATH` first"):
        build_pipeline(settings, llm=llm, require_documents=True)


def test_ingest_refreshes_the_retriever_without_reloading_models(tmp_path: Path, tiny_bow_encoder_dir: Path):
    settings = load_settings(index={"db": tmp_path / "db", "collection": "grow"},
                             retrieval={"embedder": str(tiny_bow_encoder_dir), "reranker": "", "mode": "hybrid"},
                             ingest={"chunk_size": 120, "chunk_overlap": 10})
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "kettle.txt").write_text(DOCS["kettle.txt"], encoding="utf-8")
    llm, _ = fake_llm(ANSWER, repeat=True)
    with build_pipeline(settings, llm=llm) as pipeline:
        embedder = pipeline.embedder
        assert pipeline.state == "missing"
        pipeline.ingest([folder])
        assert pipeline.state == "ready" and pipeline.chunk_count == 1
        assert [d.metadata["source"] for d in pipeline.retrieve("kettle")] == ["kettle.txt"]
        (folder / "toaster.txt").write_text(DOCS["toaster.txt"], encoding="utf-8")
        pipeline.ingest([folder])
        assert pipeline.chunk_count == 2 and pipeline.embedder is embedder
        assert {d.metadata["source"] for d in pipeline.retrieve("toaster crumb tray")} == {"kettle.txt", "toaster.txt"}
        assert pipeline.remove("kettle.txt") == 1
        assert [d.metadata["source"] for d in pipeline.retrieve("kettle")] == ["toaster.txt"]
        assert pipeline.sources() == [("toaster.txt", 1)]


def test_check_question_refuses_questions_longer_than_their_room(settings: Settings):
    llm, _ = fake_llm(ANSWER)
    with build_pipeline(settings, llm=llm, require_documents=True) as app:
        app.check_question("word " * 100)  # 130 estimated tokens: fine
        with pytest.raises(ValueError, match=rf"is {estimate_tokens('word ' * 300)} tokens long; at most 256"):
            app.check_question("word " * 300)


def test_min_score_from_the_settings_reaches_the_chain(tmp_path: Path, tiny_bow_encoder_dir: Path):
    # Fused scores (BM25 + dense reciprocal ranks) are below 2/60: a threshold of 1.0 drops every passage.
    llm, recorder = fake_llm()
    with build_pipeline(load_settings(make_collection(tmp_path, tiny_bow_encoder_dir, min_score=1.0)), llm=llm) as app:
        assert app.min_score == 1.0
        out = app.chain().invoke({"question": "How often do I descale the kettle?"})
    assert out["answer"] == NO_ANSWER and out["sources"] == [] and recorder.calls == []
