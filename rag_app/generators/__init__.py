"""Generators: the chat models that write answers, built from ``[generator]`` settings.

Three backends, one module each, each a LangChain ``BaseChatModel`` that streams token by token:

* ``llama-cpp`` (the default, :mod:`~rag_app.generators.llama_cpp`): a GGUF file through llama-cpp-python,
  e.g. the bundled SmolLM2-135M-Instruct (alias ``smollm2``) or any ``.gguf`` path (:func:`llama_cpp_generator`).
* ``transformers`` (:mod:`~rag_app.generators.transformers_chat`): a causal LM by alias, local folder or hub
  id, run in process with the tokenizer's chat template (:class:`TransformersChatModel`,
  :func:`transformers_generator`). GGUF files load too (dequantised).
* ``openai`` (:mod:`~rag_app.generators.openai_endpoint`): any OpenAI-compatible endpoint (vLLM, Ollama,
  llama.cpp's server) by ``base_url`` (:func:`openai_generator`).

This module picks the backend from settings (:func:`build_generator`; callers look it up here at call time,
so a test can replace it), and :func:`token_counter` and :func:`context_window` tell the chain how the chosen
model counts tokens and how many it can attend to, whatever the backend, so callers never reach into a
backend's internals.

What this package does not do: tool calling or structured output for the local backends, and it never
downloads a model when ``HF_HUB_OFFLINE=1`` (the resolver's rule).
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from rag_app.config import GeneratorSettings
from rag_app.generators.llama_cpp import DEFAULT_CONTEXT_WINDOW, llama_cpp_generator
from rag_app.generators.openai_endpoint import LOOPBACK_API_KEY, EndpointUnreachableError, openai_generator
from rag_app.generators.transformers_chat import (
    MAX_TRANSFORMERS_CONTEXT,
    TransformersChatModel,
    transformers_generator,
)

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "LOOPBACK_API_KEY",
    "MAX_TRANSFORMERS_CONTEXT",
    "EndpointUnreachableError",
    "TransformersChatModel",
    "build_generator",
    "context_window",
    "llama_cpp_generator",
    "openai_generator",
    "token_counter",
    "transformers_generator",
]


def build_generator(settings: GeneratorSettings) -> BaseChatModel:
    """The chat model ``settings`` describe."""
    if settings.backend == "llama-cpp":
        return llama_cpp_generator(settings.model, temperature=settings.temperature,
                                   max_new_tokens=settings.max_new_tokens)
    if settings.backend == "transformers":
        return transformers_generator(settings.model, temperature=settings.temperature,
                                      max_new_tokens=settings.max_new_tokens)
    if settings.backend == "openai":
        if not settings.base_url:  # the settings' validator already requires it; this guards hand-built ones
            raise ValueError("generator.base_url is required for backend 'openai' (e.g. http://127.0.0.1:8080/v1).")
        return openai_generator(settings.model, base_url=settings.base_url, api_key_env=settings.api_key_env,
                                temperature=settings.temperature, max_new_tokens=settings.max_new_tokens)
    raise ValueError(f"generator.backend {settings.backend!r} is unknown; use 'llama-cpp', 'transformers' or 'openai'.")


def token_counter(llm: BaseChatModel) -> Callable[[str], int] | None:
    """Counts tokens as ``llm`` does, for the chain's context budget; ``None`` when the model's tokenizer is
    not available locally (an endpoint), so the chain falls back to its estimate."""
    client = getattr(llm, "client", None)
    if client is not None and hasattr(client, "tokenize") and hasattr(client, "n_ctx"):  # llama_cpp.Llama
        return lambda text: len(client.tokenize(text.encode("utf-8"), add_bos=False))
    tokenizer = getattr(llm, "tokenizer", None)
    if tokenizer is not None and callable(getattr(tokenizer, "encode", None)):  # a transformers tokenizer
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return None


def context_window(llm: BaseChatModel, default: int = DEFAULT_CONTEXT_WINDOW) -> int:
    """The number of tokens (prompt + answer) ``llm`` can attend to; ``default`` when it cannot be known
    (an OpenAI-compatible endpoint: pass the server's setting, e.g. vLLM's ``--max-model-len``)."""
    client = getattr(llm, "client", None)
    if client is not None and callable(getattr(client, "n_ctx", None)):  # llama_cpp.Llama
        return int(client.n_ctx())
    if isinstance(llm, TransformersChatModel):
        positions = getattr(llm.model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            return min(positions, MAX_TRANSFORMERS_CONTEXT)
        return min(default, MAX_TRANSFORMERS_CONTEXT)
    return default
