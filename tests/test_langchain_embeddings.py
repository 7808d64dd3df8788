"""LangchainEmbedding: the vectors are the embedder's own, settings reach the model, misuse fails at
construction, and the async methods leave the event loop free. Uses the tiny random encoder (offline, fast)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from retrievers import AutoModelForEmbedding
from retrievers.langchain import LangchainEmbedding

TEXTS = ["Mean pooling averages the token vectors.", "The cat sat on the mat.", "How do I install packages?"]


@pytest.fixture(scope="module")
def reference(tiny_encoder_dir: Path) -> AutoModelForEmbedding:
    """The embedder loaded directly, without the wrapper: the ground truth."""
    return AutoModelForEmbedding.from_pretrained(tiny_encoder_dir)


@pytest.fixture(scope="module")
def embeddings(tiny_encoder_dir: Path) -> LangchainEmbedding:
    return LangchainEmbedding(model_name_or_path=str(tiny_encoder_dir))


def test_embed_documents_returns_the_models_vectors_as_python_floats(
    embeddings: LangchainEmbedding, reference: AutoModelForEmbedding
) -> None:
    vectors = embeddings.embed_documents(TEXTS)
    assert isinstance(vectors, list) and len(vectors) == len(TEXTS)
    assert all(isinstance(v, list) and len(v) == 32 for v in vectors)
    assert all(type(x) is float for v in vectors for x in v)
    np.testing.assert_allclose(np.array(vectors), reference.encode_documents(TEXTS), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)  # the model normalises


def test_embed_query_returns_one_vector(embeddings: LangchainEmbedding, reference: AutoModelForEmbedding) -> None:
    vector = embeddings.embed_query(TEXTS[0])
    assert isinstance(vector, list) and all(type(x) is float for x in vector)
    np.testing.assert_allclose(vector, reference.encode_queries([TEXTS[0]])[0], rtol=1e-5, atol=1e-6)


def test_batching_does_not_change_the_vectors(tiny_encoder_dir: Path, embeddings: LangchainEmbedding) -> None:
    one_at_a_time = LangchainEmbedding(str(tiny_encoder_dir), batch_size=1)
    np.testing.assert_allclose(one_at_a_time.embed_documents(TEXTS), embeddings.embed_documents(TEXTS), atol=1e-5)


def test_instructions_are_put_before_queries_and_documents(
    tiny_encoder_dir: Path, reference: AutoModelForEmbedding
) -> None:
    embeddings = LangchainEmbedding(
        str(tiny_encoder_dir), query_instruction="query: ", document_instruction="passage: {}"
    )
    text = "mean pooling"
    np.testing.assert_allclose(embeddings.embed_query(text), reference.encode(["query: mean pooling"])[0], atol=1e-5)
    np.testing.assert_allclose(
        embeddings.embed_documents([text])[0], reference.encode(["passage: mean pooling"])[0], atol=1e-5
    )
    assert not np.allclose(embeddings.embed_query(text), embeddings.embed_documents([text])[0], atol=1e-3)


def test_saved_instruction_applies_unless_emptied(
    tmp_path: Path, reference: AutoModelForEmbedding, tiny_encoder_dir: Path
) -> None:
    saved = AutoModelForEmbedding.from_pretrained(tiny_encoder_dir, query_instruction="query: ")
    saved.save_pretrained(tmp_path / "with-instruction")
    text = "mean pooling"
    with_saved = LangchainEmbedding(str(tmp_path / "with-instruction"))  # None: the checkpoint's instruction
    np.testing.assert_allclose(with_saved.embed_query(text), reference.encode(["query: mean pooling"])[0], atol=1e-5)
    with pytest.warns(UserWarning, match="query_instruction"):
        without = LangchainEmbedding(str(tmp_path / "with-instruction"), query_instruction="")  # "": none
    np.testing.assert_allclose(without.embed_query(text), reference.encode([text])[0], atol=1e-5)


def test_load_settings_reach_the_model(tiny_encoder_dir: Path) -> None:
    embeddings = LangchainEmbedding(
        str(tiny_encoder_dir), pooling_method="mean", normalize_embeddings=False, max_length=8, device="cpu",
        model_kwargs={"use_fp16": False},
    )
    direct = AutoModelForEmbedding.from_pretrained(
        tiny_encoder_dir, pooling_method="mean", normalize_embeddings=False, max_length=8, device="cpu"
    )
    assert embeddings.embedder.pooling_method == "mean"
    assert embeddings.embedder.max_length == 8
    vectors = np.array(embeddings.embed_documents(TEXTS))
    np.testing.assert_allclose(vectors, direct.encode(TEXTS), atol=1e-5)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_the_model_loads_once(tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = AutoModelForEmbedding.from_pretrained.__func__

    def counting(cls: type, *args: Any, **kwargs: Any) -> AutoModelForEmbedding:
        calls.append(args)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(AutoModelForEmbedding, "from_pretrained", classmethod(counting))
    embeddings = LangchainEmbedding(str(tiny_encoder_dir))
    embeddings.embed_documents(TEXTS)
    embeddings.embed_query("x")
    embeddings.embed_documents(TEXTS[:1])
    assert len(calls) == 1


def test_a_loaded_model_can_be_shared(reference: AutoModelForEmbedding) -> None:
    shared = LangchainEmbedding(model=reference, batch_size=2)
    assert shared.embedder is reference
    np.testing.assert_allclose(shared.embed_documents(TEXTS), reference.encode_documents(TEXTS), atol=1e-6)
    # Encode-time settings still apply to a shared model, without changing it.
    raw = LangchainEmbedding(model=reference, normalize_embeddings=False).embed_documents(TEXTS)
    np.testing.assert_allclose(raw, reference.encode(TEXTS, normalize_embeddings=False), atol=1e-6)
    assert reference.normalize_embeddings is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query_instruction": "q: "},
        {"pooling_method": "mean"},
        {"device": "cpu"},
        {"model_kwargs": {"use_fp16": True}},
        {"model_name_or_path": "minilm"},
    ],
)
def test_load_settings_with_a_loaded_model_are_refused(
    reference: AutoModelForEmbedding, kwargs: dict[str, Any]
) -> None:
    (name,) = kwargs
    with pytest.raises(ValidationError, match=f"{name} only apply when LangchainEmbedding loads the model"):
        LangchainEmbedding(model=reference, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_nme": "minilm"}, "model_nme"),  # misspelt: extra="forbid"
        ({"normalise_embeddings": True}, "normalise_embeddings"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 1}, "max_length"),
        ({"model_kwargs": {"pooling_method": "mean"}}, "model_kwargs must not hold pooling_method"),
        ({"pooling_method": "max"}, "pooling_method must be one of cls, mean, last"),
    ],
)
def test_bad_arguments_fail_at_construction(tiny_encoder_dir: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LangchainEmbedding(model_name_or_path=str(tiny_encoder_dir), **kwargs)


def test_model_name_given_twice_is_refused(tiny_encoder_dir: Path) -> None:
    with pytest.raises(TypeError, match="given twice"):
        LangchainEmbedding(str(tiny_encoder_dir), model_name_or_path=str(tiny_encoder_dir))


def test_empty_and_wrong_inputs(embeddings: LangchainEmbedding) -> None:
    assert embeddings.embed_documents([]) == []
    with pytest.raises(TypeError, match="list of strings, not one string"):
        embeddings.embed_documents("one text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string"):
        embeddings.embed_documents(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="text must be a string"):
        embeddings.embed_query(["a list"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- async


async def _ticks_while(awaitable: Any) -> tuple[Any, int]:
    """Await ``awaitable`` while a ticker counts every 5 ms; a blocked event loop counts (almost) nothing."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    start = ticks
    try:
        result = await awaitable
    finally:
        stop.set()
        await task
    return result, ticks - start


@pytest.fixture
def slow_embeddings(tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch) -> LangchainEmbedding:
    """A wrapper whose model takes 0.3 s per call (time.sleep blocks whichever thread runs it)."""
    embeddings = LangchainEmbedding(str(tiny_encoder_dir))
    model = embeddings.embedder
    real_encode = model.encode

    def slow_encode(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(model, "encode", slow_encode)
    return embeddings


@pytest.mark.asyncio
async def test_aembed_documents_does_not_block_the_event_loop(slow_embeddings: LangchainEmbedding) -> None:
    vectors, ticks = await _ticks_while(slow_embeddings.aembed_documents(TEXTS))
    assert ticks >= 10  # ~60 possible in 0.3 s; a blocked loop gives 0 or 1
    np.testing.assert_allclose(vectors, slow_embeddings.embedder.encode_documents(TEXTS), atol=1e-6)


@pytest.mark.asyncio
async def test_aembed_query_does_not_block_the_event_loop(slow_embeddings: LangchainEmbedding) -> None:
    vector, ticks = await _ticks_while(slow_embeddings.aembed_query("mean pooling"))
    assert ticks >= 10
    assert vector == slow_embeddings.embed_query("mean pooling")


@pytest.mark.asyncio
async def test_the_ticker_does_see_a_blocked_loop(slow_embeddings: LangchainEmbedding) -> None:
    """The check above can fail: calling the sync method inside a coroutine blocks the loop and the ticker."""

    async def blocking() -> list[list[float]]:
        return slow_embeddings.embed_documents(TEXTS)

    _, ticks = await _ticks_while(blocking())
    assert ticks <= 1


@pytest.mark.asyncio
async def test_concurrent_async_calls_give_the_sequential_results(embeddings: LangchainEmbedding) -> None:
    batches = [TEXTS, TEXTS[::-1], TEXTS[:1], ["another text", "and one more"]]
    results = await asyncio.gather(*(embeddings.aembed_documents(b) for b in batches))
    for batch, got in zip(batches, results, strict=True):
        np.testing.assert_allclose(got, embeddings.embed_documents(batch), atol=1e-6)
