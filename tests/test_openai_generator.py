"""The ``openai`` backend: API-key rules and errors offline, then a real OpenAI-compatible server
(llama-cpp-python's, serving the bundled SmolLM2 on 127.0.0.1) answering through ``build_generator`` and the
whole question-answering chain."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage
from langchain_core.retrievers import BaseRetriever

from rag_app.chain import build_chain
from rag_app.config import GeneratorSettings
from rag_app.generators import (
    DEFAULT_CONTEXT_WINDOW,
    LOOPBACK_API_KEY,
    EndpointUnreachableError,
    build_generator,
    context_window,
    llama_cpp_generator,
    openai_generator,
    token_counter,
)
from rag_app.net import is_loopback, url_is_loopback
from rag_app.server import security
from retrievers import resolve_model

KEY_ENV = "RAG_APP_TEST_ENDPOINT_KEY"
QUESTION = [HumanMessage("What is the capital of France? Answer in one sentence.")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------- no server


def test_a_remote_endpoint_without_its_key_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = GeneratorSettings(backend="openai", model="m", base_url="https://llm.example.com/v1",
                                 api_key_env=KEY_ENV)
    with pytest.raises(ValueError, match=f"environment variable {KEY_ENV} is not set; export {KEY_ENV}="):
        build_generator(settings)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"])
def test_a_loopback_endpoint_without_a_key_gets_the_placeholder(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    llm = build_generator(GeneratorSettings(backend="openai", model="m", base_url=url, api_key_env=KEY_ENV))
    assert llm.openai_api_key.get_secret_value() == LOOPBACK_API_KEY
    assert llm.openai_api_base == url


# One loopback check for the server's bind address and the endpoint's URL (rag_app.net).
HOSTS = [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    (" LocalHost ", True), ("localhost.", True), ("0.0.0.0", False), ("::", False), ("[::]", False),
    ("192.168.1.20", False), ("[2001:db8::1]", False), ("llm.example.com", False), ("localhost.example.com", False),
    ("", False), ("[::1", False), ("not an address", False), ("127.0.0.1:8080", False),
]


@pytest.mark.parametrize(("host", "loopback"), HOSTS)
def test_a_host_is_loopback_only_when_it_stays_on_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert security.is_loopback is is_loopback  # the server's spelling is the same function


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8080/v1", True), ("https://127.0.0.1/v1", True), ("http://[::1]:8000/v1", True),
    ("http://localhost:11434/v1", True), ("http://LOCALHOST/v1", True), ("http://0.0.0.0:8000/v1", False),
    ("http://[2001:db8::1]:8000/v1", False), ("https://llm.example.com/v1", False),
    ("http://localhost.example.com/v1", False), ("http://[::1/v1", False), ("not a url", False), ("", False),
])
def test_a_url_is_loopback_when_its_host_is(url: str, loopback: bool) -> None:
    assert url_is_loopback(url) is loopback


def test_the_generators_do_not_import_the_server() -> None:
    code = "import sys, rag_app.generators; print(sorted(m for m in sys.modules if m.startswith('rag_app.server')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://localhost.example.com/v1"])
def test_an_endpoint_url_that_is_not_loopback_needs_its_key(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=f"environment variable {KEY_ENV} is not set"):
        openai_generator("m", base_url=url, api_key_env=KEY_ENV)


def test_the_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-from-env")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    llm = build_generator(GeneratorSettings(backend="openai", model="qwen", base_url="https://llm.example.com/v1",
                                            api_key_env=KEY_ENV, temperature=0.0, max_new_tokens=7))
    assert llm.openai_api_key.get_secret_value() == "sk-from-env"
    assert (llm.model_name, llm.temperature, llm.max_tokens) == ("qwen", 0.0, 7)


def test_endpoints_have_no_local_tokenizer_and_the_default_window(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = openai_generator("m", base_url="http://127.0.0.1:9/v1")
    assert token_counter(llm) is None  # the chain then uses its estimate
    assert context_window(llm) == DEFAULT_CONTEXT_WINDOW
    assert context_window(llm, default=32768) == 32768


def test_an_unreachable_endpoint_names_base_url_at_the_first_call() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    llm = openai_generator("m", base_url=url, max_retries=0)
    with pytest.raises(EndpointUnreachableError, match=f"Cannot reach the OpenAI-compatible endpoint at {url}"):
        llm.invoke("hello")
    with pytest.raises(EndpointUnreachableError, match="generator.base_url"):
        list(llm.stream("hello"))
    with pytest.raises(EndpointUnreachableError, match=url):
        asyncio.run(llm.ainvoke("hello"))


# ------------------------------------------------------------------------------------------ a real server


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port, serving SmolLM2 as 'smollm2'."""
    resolved = resolve_model("smollm2")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(resolved.path / resolved.gguf_file),
             "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"llama_cpp.server not ready after 120 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.integration
def test_a_real_server_answers_and_streams_through_build_generator(llama_server: str) -> None:
    llm = build_generator(GeneratorSettings(backend="openai", model="smollm2", base_url=llama_server,
                                            api_key_env=KEY_ENV, temperature=0.0, max_new_tokens=48))
    answer = llm.invoke(QUESTION).content
    assert "Paris" in answer
    pieces = [chunk.content for chunk in llm.stream(QUESTION) if chunk.content]
    assert len(pieces) >= 5  # token by token
    assert "".join(pieces) == answer


@pytest.mark.integration
def test_the_server_honours_max_new_tokens(llama_server: str) -> None:
    # ChatOpenAI would send max_completion_tokens, which this server ignores: the answer would run on.
    llm = openai_generator("smollm2", base_url=llama_server, temperature=0.0, max_new_tokens=6)
    answer = llm.invoke([HumanMessage("Write a long story about a lighthouse keeper and his dog.")])
    assert answer.response_metadata["finish_reason"] == "length"
    count = token_counter(llama_cpp_generator("smollm2", max_new_tokens=1))
    assert count is not None and 1 <= count(answer.content) <= 7  # 6 tokens, give or take a merge on re-tokenizing


class _FixedRetriever(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.documents


@pytest.mark.integration
def test_the_chain_answers_through_the_endpoint(llama_server: str) -> None:
    passages = [
        Document("The Aurora outdoor sensor runs on two AA lithium batteries, which last about a year.",
                 metadata={"source": "aurora-manual.md", "page": 3}),
        Document("The indoor display plugs into a USB-C charger.", metadata={"source": "aurora-manual.md"}),
    ]
    llm = openai_generator("smollm2", base_url=llama_server, temperature=0.0, max_new_tokens=64)
    chain = build_chain(_FixedRetriever(documents=passages), llm, top_n=2, count_tokens=token_counter(llm))
    question = {"question": "Which batteries does the Aurora outdoor sensor need?"}
    result = chain.invoke(question)
    assert [source["id"] for source in result["sources"]] == [1, 2]
    assert result["sources"][0]["source"] == "aurora-manual.md" and result["sources"][0]["page"] == 3
    assert "AA" in result["answer"]
    streamed = [chunk["answer"] for chunk in chain.stream(question) if "answer" in chunk]
    assert len(streamed) > 1
    assert "".join(streamed) == result["answer"]


def test_the_server_module_starts() -> None:
    """The dev extra installs what llama-cpp-python's server imports (its --help loads the app module)."""
    done = subprocess.run([sys.executable, "-m", "llama_cpp.server", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--model" in done.stdout
